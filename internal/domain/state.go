package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// PortfolioState is the stored form of a Portfolio: one row of the
// portfolio table and the rows of the investment table that belong to it.
type PortfolioState struct {
	ID       uuid.UUID
	Name     string
	Currency string
	Version  int64
	// LastSaleOn is the day of the latest sale, zero if none is known.
	LastSaleOn  time.Time
	Investments []InvestmentState
}

// InvestmentState is the stored form of an Investment, one row of the
// investment table (its portfolio id is the enclosing PortfolioState's).
type InvestmentState struct {
	ID         uuid.UUID
	SecurityID uuid.UUID
	Quantity   decimal.Decimal
	UnitCost   decimal.Decimal
	AcquiredOn time.Time
}

// State returns a snapshot of the portfolio for storage, with its lots in
// FIFO order. It shares no memory with p: changing it does not change the
// portfolio, so a unit of work can keep it to diff against later.
func (p *Portfolio) State() PortfolioState {
	st := PortfolioState{ID: p.id, Name: p.name, Currency: p.currency, Version: p.version, LastSaleOn: p.lastSale}
	if len(p.lots) > 0 {
		st.Investments = make([]InvestmentState, len(p.lots))
		for i, l := range p.lots {
			st.Investments[i] = InvestmentState{
				ID:         l.id,
				SecurityID: l.securityID,
				Quantity:   l.quantity,
				UnitCost:   l.unitCost,
				AcquiredOn: l.acquiredOn,
			}
		}
	}
	return st
}

// RestorePortfolio rebuilds a portfolio loaded from storage. Because rows
// may have been written by hand or by an older folio, everything is
// validated again: the id must be set; name and currency must be valid and
// already in the canonical form ParsePortfolioName and ParseCurrency return
// (a name with an invisible character, which older folios stored, loads, so
// that it can be renamed);
// the version must be 1 or more, since only saved portfolios are restored;
// the day of the latest sale, if not zero, must be valid (it is normalized
// with Day); and every lot must have an id unique in the portfolio, a security id, a
// quantity CheckQuantity accepts, a unit cost CheckPrice accepts and a valid
// day. Lots may come in any order and are sorted FIFO; their days are
// normalized with Day. Errors wrap ErrInvalid, most of them through one of
// its refinements such as ErrInvalidQuantity. st is not retained.
func RestorePortfolio(st PortfolioState) (*Portfolio, error) {
	fail := func(err error) (*Portfolio, error) {
		return nil, fmt.Errorf("restore portfolio %s: %w", st.ID, err)
	}
	if st.ID == uuid.Nil {
		return fail(fmt.Errorf("%w: the id is missing", ErrInvalid))
	}
	if err := canonical(st.Name, storedPortfolioName, ErrInvalidName); err != nil {
		return fail(err)
	}
	if err := canonical(st.Currency, ParseCurrency, ErrInvalidCurrency); err != nil {
		return fail(err)
	}
	if st.Version < 1 {
		return fail(fmt.Errorf("%w: version %d: a stored portfolio has version 1 or more", ErrInvalid, st.Version))
	}
	p := &Portfolio{id: st.ID, name: st.Name, currency: st.Currency, version: st.Version}
	if !st.LastSaleOn.IsZero() {
		if err := CheckDate(st.LastSaleOn); err != nil {
			return fail(fmt.Errorf("latest sale: %w", err))
		}
		p.lastSale = Day(st.LastSaleOn)
	}
	if len(st.Investments) > 0 {
		p.lots = make([]Investment, 0, len(st.Investments))
	}
	for _, in := range st.Investments {
		lot, err := restoreLot(in)
		if err != nil {
			return fail(fmt.Errorf("investment %s: %w", in.ID, err))
		}
		p.lots = append(p.lots, lot)
	}
	slices.SortFunc(p.lots, compareLots)
	if id, dup := duplicateID(p.lots); dup {
		return fail(fmt.Errorf("investment %s: %w: the id appears more than once", id, ErrInvalid))
	}
	return p, nil
}

// Reset puts p back, in place, to st, a stored state of p's (the same id),
// validated as RestorePortfolio validates it: so that every holder of the
// pointer sees the portfolio as it was, when storage undoes changes (a
// unit of work's failed savepoint). A p equal to st is left as it is.
// Otherwise it counts as a change (Changes moves on), and a walk of Lots
// under way panics at its next step if the lots differed, as after a Buy;
// other differences, such as the name, do not disturb it.
func (p *Portfolio) Reset(st PortfolioState) error {
	if st.ID != p.id {
		return fmt.Errorf("reset portfolio %s: %w: the state is portfolio %s's", p.id, ErrInvalid, st.ID)
	}
	fresh, err := RestorePortfolio(st)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	sameLots := slices.EqualFunc(p.lots, fresh.lots, Investment.equal)
	if sameLots && p.name == fresh.name && p.currency == fresh.currency && p.version == fresh.version &&
		p.lastSale.Equal(fresh.lastSale) {
		return nil
	}
	fresh.changes = p.changes + 1
	fresh.lotChanges = p.lotChanges
	if !sameLots {
		fresh.lotChanges++
	}
	*p = *fresh
	return nil
}

// equal reports whether two lots are the same lot with the same values.
func (i Investment) equal(o Investment) bool {
	return i.id == o.id && i.securityID == o.securityID && i.quantity.Equal(o.quantity) &&
		i.unitCost.Equal(o.unitCost) && i.acquiredOn.Equal(o.acquiredOn)
}

func restoreLot(in InvestmentState) (Investment, error) {
	if in.ID == uuid.Nil {
		return Investment{}, fmt.Errorf("%w: the id is missing", ErrInvalid)
	}
	if in.SecurityID == uuid.Nil {
		return Investment{}, fmt.Errorf("%w: the security id is missing", ErrInvalid)
	}
	if err := CheckQuantity(in.Quantity); err != nil {
		return Investment{}, err
	}
	if err := CheckPrice(in.UnitCost); err != nil {
		return Investment{}, fmt.Errorf("unit cost: %w", err)
	}
	if err := CheckDate(in.AcquiredOn); err != nil {
		return Investment{}, err
	}
	return Investment{
		id:         in.ID,
		securityID: in.SecurityID,
		quantity:   in.Quantity,
		unitCost:   in.UnitCost,
		acquiredOn: Day(in.AcquiredOn),
	}, nil
}

// duplicateID reports an id that two lots share. Lots are restored by the
// thousand, so it avoids a map for the usual handful per portfolio.
func duplicateID(lots []Investment) (uuid.UUID, bool) {
	if len(lots) <= 16 {
		for i := range lots {
			for j := i + 1; j < len(lots); j++ {
				if lots[i].id == lots[j].id {
					return lots[i].id, true
				}
			}
		}
		return uuid.Nil, false
	}
	seen := make(map[uuid.UUID]struct{}, len(lots))
	for _, l := range lots {
		if _, ok := seen[l.id]; ok {
			return l.id, true
		}
		seen[l.id] = struct{}{}
	}
	return uuid.Nil, false
}
