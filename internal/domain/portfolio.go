package domain

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Investment is one lot: a quantity of one security bought on one day at
// one unit cost. It is a value owned by its Portfolio; the only ways to
// change a lot are the Portfolio's methods, so an Investment handed out is a
// copy that can be kept or compared freely.
type Investment struct {
	id         uuid.UUID
	securityID uuid.UUID
	quantity   decimal.Decimal
	unitCost   decimal.Decimal
	acquiredOn time.Time
}

// ID returns the lot's id.
func (i Investment) ID() uuid.UUID { return i.id }

// SecurityID returns the id of the security the lot is in.
func (i Investment) SecurityID() uuid.UUID { return i.securityID }

// Quantity returns the number of shares still held in the lot, which is
// always greater than zero: a lot sold entirely is removed.
func (i Investment) Quantity() decimal.Decimal { return i.quantity }

// UnitCost returns the price paid per share, in the portfolio's currency.
func (i Investment) UnitCost() decimal.Decimal { return i.unitCost }

// AcquiredOn returns the day the lot was bought, as midnight UTC.
func (i Investment) AcquiredOn() time.Time { return i.acquiredOn }

// Cost returns the lot's cost basis, quantity × unit cost, exactly.
func (i Investment) Cost() decimal.Decimal { return i.quantity.Mul(i.unitCost) }

// compareLots orders lots first in, first out: by the day they were bought,
// then by id. Ids are UUIDv7, whose bytes begin with the creation time, so
// lots bought on the same day sort in the order they were recorded.
func compareLots(a, b Investment) int {
	if c := a.acquiredOn.Compare(b.acquiredOn); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// Portfolio is the aggregate root: a named collection of lots in one
// currency. Every change to its lots goes through its methods, which refuse
// a bad change with an error and leave the portfolio as it was.
//
// The version is the optimistic concurrency token of storage; the domain
// only carries it.
type Portfolio struct {
	id       uuid.UUID
	name     string
	currency string
	version  int64
	lots     []Investment // FIFO order, see compareLots
	lastSale time.Time    // the day of the latest sale, zero if none is known
	changes  uint64       // see Changes
	// lotChanges counts the changes to lots only, for Lots to notice.
	lotChanges uint64
}

// NewPortfolio returns an empty portfolio with a fresh UUIDv7 id and
// version 0, which marks it as not yet saved: storage assigns version 1 when
// it inserts the portfolio and increments the version on each update. name
// and currency are validated and canonicalized by ParsePortfolioName and
// ParseCurrency; an error wraps ErrInvalidName or ErrInvalidCurrency.
// Whether the name is already taken is for storage to find out
// (ErrAlreadyExists).
func NewPortfolio(name, currency string) (*Portfolio, error) {
	nm, err := ParsePortfolioName(name)
	if err != nil {
		return nil, fmt.Errorf("create portfolio: %w", err)
	}
	cur, err := ParseCurrency(currency)
	if err != nil {
		return nil, fmt.Errorf("create portfolio %q: %w", nm, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create portfolio %q: new id: %w", nm, err)
	}
	return &Portfolio{id: id, name: nm, currency: cur}, nil
}

// ID returns the portfolio's id.
func (p *Portfolio) ID() uuid.UUID { return p.id }

// Name returns the portfolio's name.
func (p *Portfolio) Name() string { return p.name }

// Currency returns the ISO 4217 code of the portfolio's currency, which is
// the currency of every security it holds.
func (p *Portfolio) Currency() string { return p.currency }

// Version returns the version the portfolio had when it was loaded or last
// saved, or 0 if it was never saved.
func (p *Portfolio) Version() int64 { return p.version }

// SetVersion records the version storage gave the portfolio when it saved
// it; only storage calls it. It changes nothing else and does not count as
// a change.
func (p *Portfolio) SetVersion(v int64) { p.version = v }

// Changes counts the changes made to the portfolio through its methods
// since it was created or restored. Storage compares it with the count it
// saw when it took its snapshot, to skip comparing unchanged portfolios
// with their snapshots.
func (p *Portfolio) Changes() uint64 { return p.changes }

// Clone returns a copy of p that shares no memory with it: changing one
// does not change the other. The copy has p's id, version and change
// count; it is the same portfolio, to be held instead of p, not a new one
// to save beside it.
func (p *Portfolio) Clone() *Portfolio {
	c := *p
	c.lots = slices.Clone(p.lots)
	return &c
}

// LastSale returns the day of the portfolio's latest sale, and false if it
// has none (or none recorded since storage began to keep the day). Buy and
// Sell refuse a trade dated before it (ErrOutOfOrder).
func (p *Portfolio) LastSale() (time.Time, bool) { return p.lastSale, !p.lastSale.IsZero() }

// checkOrder refuses a trade dated before the latest sale.
func (p *Portfolio) checkOrder(side string, day time.Time) error {
	if !day.Before(p.lastSale) {
		return nil
	}
	why := "would have changed what that sale took first in, first out"
	if side == "sale" {
		why = "would need shares that sale may have taken first in, first out"
	}
	return fmt.Errorf("%w: the latest sale from this portfolio is dated %s, and a %s dated %s, before it, "+
		"%s; record trades in date order "+
		"(folio keeps the lots held, not the history of trades, so it cannot redo that sale)",
		ErrOutOfOrder, p.lastSale.Format(time.DateOnly), side, day.Format(time.DateOnly), why)
}

// Investments returns a copy of the portfolio's lots in FIFO order: by day
// bought, then by creation.
func (p *Portfolio) Investments() []Investment { return slices.Clone(p.lots) }

// Lots yields the portfolio's lots in FIFO order, like Investments but
// without copying them all first: the way to walk the lots of many
// portfolios. Changing the portfolio during the walk (a Buy, Sell or
// RemoveInvestment, which change the lots in place) is a mistake, and the
// walk panics at its next step rather than yield a lot twice, skip one or
// yield one the portfolio never held; to change the lots while walking
// them, walk Investments.
func (p *Portfolio) Lots() iter.Seq[Investment] {
	return func(yield func(Investment) bool) {
		changes := p.lotChanges
		for i := 0; i < len(p.lots); i++ {
			if p.lotChanges != changes {
				panic("domain: portfolio " + strconv.Quote(p.name) + " changed while its Lots were walked; walk Investments to change it")
			}
			if !yield(p.lots[i]) {
				return
			}
		}
	}
}

// NumInvestments returns how many lots the portfolio has.
func (p *Portfolio) NumInvestments() int { return len(p.lots) }

// Investment returns the lot with the given id, and false if the portfolio
// has none.
func (p *Portfolio) Investment(id uuid.UUID) (Investment, bool) {
	if i := p.lotIndex(id); i >= 0 {
		return p.lots[i], true
	}
	return Investment{}, false
}

func (p *Portfolio) lotIndex(id uuid.UUID) int {
	return slices.IndexFunc(p.lots, func(l Investment) bool { return l.id == id })
}

// Rename changes the portfolio's name, validated and trimmed by
// ParsePortfolioName; an error wraps ErrInvalidName and leaves the portfolio
// unchanged. Renaming to the current name is not an error.
func (p *Portfolio) Rename(name string) error {
	nm, err := ParsePortfolioName(name)
	if err != nil {
		return fmt.Errorf("rename portfolio %q: %w", p.name, err)
	}
	if nm != p.name {
		p.name = nm
		p.changes++
	}
	return nil
}

// MaxLots is the most lots Buy lets a portfolio hold. Every load and save
// of a portfolio carries all its lots, and a bound on them is a bound on
// the memory and time of each (a portfolio of 10,000 lots is about 2 MB of
// JSON). Lots restored from storage are not counted against it.
const MaxLots = 10_000

// Buy records the purchase of quantity shares of sec at unitCost each on
// the day of on, as a new lot with a fresh UUIDv7 id, and returns the lot.
// The day may be in the past, to record earlier trades, but not before the
// portfolio's latest sale (see LastSale).
//
// It returns an error wrapping ErrInvalid if sec is nil or has no id,
// ErrInvalidQuantity or ErrInvalidPrice if CheckQuantity or CheckPrice
// refuse quantity or unitCost (a unit cost of zero is allowed, for gifts and
// spin-offs), ErrInvalidDate if on is zero or out of range,
// ErrCurrencyMismatch if sec is not priced in the portfolio's currency,
// ErrOutOfOrder if on is before the latest sale, and ErrInvalid if the
// portfolio holds MaxLots lots already. On error the portfolio is
// unchanged.
func (p *Portfolio) Buy(sec *Security, quantity, unitCost decimal.Decimal, on time.Time) (Investment, error) {
	if sec == nil || sec.id == uuid.Nil {
		return Investment{}, fmt.Errorf("buy in %q: %w security: none given", p.name, ErrInvalid)
	}
	fail := func(err error) (Investment, error) {
		return Investment{}, fmt.Errorf("buy %s in %q: %w", sec.symbol, p.name, err)
	}
	if len(p.lots) >= MaxLots {
		return fail(fmt.Errorf("%w buy: the portfolio holds %d lots, the most one may; a sale of whole lots makes room", ErrInvalid, len(p.lots)))
	}
	if err := CheckQuantity(quantity); err != nil {
		return fail(err)
	}
	if err := CheckPrice(unitCost); err != nil {
		return fail(fmt.Errorf("unit cost: %w", err))
	}
	if err := CheckDate(on); err != nil {
		return fail(err)
	}
	if sec.currency != p.currency {
		return fail(fmt.Errorf("%w: %s is priced in %s but the portfolio is in %s, and folio does not convert currencies",
			ErrCurrencyMismatch, sec.symbol, sec.currency, p.currency))
	}
	if err := p.checkOrder("buy", Day(on)); err != nil {
		return fail(err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fail(fmt.Errorf("new id: %w", err))
	}
	lot := Investment{id: id, securityID: sec.id, quantity: quantity, unitCost: unitCost, acquiredOn: Day(on)}
	// A new id is usually the greatest, but a back-dated buy or ids made on
	// another machine with a faster clock put the lot elsewhere.
	at, _ := slices.BinarySearchFunc(p.lots, lot, compareLots)
	p.lots = slices.Insert(p.lots, at, lot)
	p.changes++
	p.lotChanges++
	return lot, nil
}

// Sale describes what a call to Portfolio.Sell took out of the portfolio.
type Sale struct {
	// Quantity is the number of shares sold.
	Quantity decimal.Decimal
	// Cost is the FIFO cost basis of the shares sold: the sum over the
	// consumed lots of quantity taken × unit cost, exactly.
	Cost decimal.Decimal
	// Consumed lists the lots the shares came from, oldest first.
	Consumed []LotSale
}

// LotSale is the part of a Sale that came from one lot.
type LotSale struct {
	// InvestmentID is the id of the lot.
	InvestmentID uuid.UUID
	// Quantity is the number of shares taken from the lot.
	Quantity decimal.Decimal
	// UnitCost is the lot's unit cost.
	UnitCost decimal.Decimal
	// Closed is true if the lot was used up and removed from the
	// portfolio, false if it keeps its id with a reduced quantity.
	Closed bool
}

// RealizedGain returns the gain of the sale at the given price per share:
// quantity × price − cost, exactly. It is negative for a loss.
func (s Sale) RealizedGain(price decimal.Decimal) decimal.Decimal {
	return s.Quantity.Mul(price).Sub(s.Cost)
}

// Sell records the sale of quantity shares of sec on the day of on, first
// in, first out: the shares come from the lots of sec bought on or before
// that day, oldest first (lots bought the same day in the order they were
// recorded). A lot used up is removed; a lot used in part keeps its id and
// the remaining quantity, the sold part leaving the portfolio. Lots bought
// after the day of the sale are left alone: they were not held yet. The day
// becomes the portfolio's LastSale if it is later.
//
// It returns an error wrapping ErrInvalid if sec is nil, ErrInvalidQuantity
// if CheckQuantity refuses quantity, ErrInvalidDate if on is zero or out of
// range, ErrOutOfOrder if on is before the latest sale, and
// ErrInsufficientQuantity if the portfolio held fewer shares of sec on that
// day than quantity. On error the portfolio is unchanged.
func (p *Portfolio) Sell(sec *Security, quantity decimal.Decimal, on time.Time) (Sale, error) {
	if sec == nil {
		return Sale{}, fmt.Errorf("sell from %q: %w security: none given", p.name, ErrInvalid)
	}
	fail := func(err error) (Sale, error) {
		return Sale{}, fmt.Errorf("sell %s from %q: %w", sec.symbol, p.name, err)
	}
	if err := CheckQuantity(quantity); err != nil {
		return fail(err)
	}
	if err := CheckDate(on); err != nil {
		return fail(err)
	}
	day := Day(on)
	if err := p.checkOrder("sale", day); err != nil {
		return fail(err)
	}
	sellable := func(l Investment) bool { return l.securityID == sec.id && !l.acquiredOn.After(day) }

	held := decimal.Zero
	for _, l := range p.lots {
		if sellable(l) {
			held = held.Add(l.quantity)
		}
	}
	if held.Cmp(quantity) < 0 {
		return fail(fmt.Errorf("%w: held %s on %s, asked to sell %s",
			ErrInsufficientQuantity, held, day.Format(time.DateOnly), quantity))
	}

	// In place: nothing below can fail (enough is held), and the lots a
	// sale closes, the first ones it takes, go at the end in one pass. A
	// closed lot's quantity is set to zero, which no lot has otherwise.
	sale := Sale{Quantity: quantity, Cost: decimal.Zero}
	remaining := quantity
	closedAny := false
	for i := range p.lots {
		if remaining.Sign() == 0 {
			break
		}
		l := &p.lots[i]
		if !sellable(*l) {
			continue
		}
		take := decimal.Min(l.quantity, remaining)
		remaining = remaining.Sub(take)
		closed := take.Equal(l.quantity)
		sale.Cost = sale.Cost.Add(take.Mul(l.unitCost))
		sale.Consumed = append(sale.Consumed, LotSale{InvestmentID: l.id, Quantity: take, UnitCost: l.unitCost, Closed: closed})
		if closed {
			l.quantity, closedAny = decimal.Zero, true
		} else {
			l.quantity = l.quantity.Sub(take)
		}
	}
	if closedAny {
		p.lots = slices.DeleteFunc(p.lots, func(l Investment) bool { return l.quantity.Sign() == 0 })
	}
	if day.After(p.lastSale) {
		p.lastSale = day
	}
	p.changes++
	p.lotChanges++
	return sale, nil
}

// RemoveInvestment removes the lot with the given id without selling it,
// to correct a lot recorded by mistake. It returns an error wrapping
// ErrNotFound if the portfolio has no such lot.
func (p *Portfolio) RemoveInvestment(id uuid.UUID) error {
	i := p.lotIndex(id)
	if i < 0 {
		return fmt.Errorf("remove investment %s from %q: %w", id, p.name, ErrNotFound)
	}
	p.lots = slices.Delete(p.lots, i, i+1)
	p.changes++
	p.lotChanges++
	return nil
}
