package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/uow"
)

// Impl is one way of running the scenarios. Each method is one operation of
// a benchmark, complete with its transaction and, where the scenario can
// collide with others, its retries.
type Impl interface {
	// Name is the value of the impl= part of the benchmark names.
	Name() string

	// LoadMany loads the portfolios with these ids, their lots and the
	// securities the lots hold, in one REPEATABLE READ READ ONLY
	// transaction (scenario 1).
	LoadMany(ctx context.Context, ids []uuid.UUID) (Loaded, error)

	// LoadOne loads one portfolio with its lots in one REPEATABLE READ
	// READ ONLY transaction (scenario 2).
	LoadOne(ctx context.Context, id uuid.UUID) (Loaded, error)

	// SaveNew inserts a new portfolio with its lots in one transaction
	// (scenario 3). Ids are made by the implementation (UUIDv7, as the
	// domain makes them).
	SaveNew(ctx context.Context, p *NewPortfolio) error

	// Sell loads a portfolio, sells a quantity of one security from it
	// first in, first out, and saves the change, bumping the portfolio's
	// version (scenario 4: a read-modify-write unit).
	Sell(ctx context.Context, s Sale) error

	// Transfer moves a quantity of one security from one portfolio to
	// another: sold first in, first out from the first, bought as a new
	// lot at the same cost in the second; both versions are bumped
	// (scenario 5). It retries serialization failures, deadlocks and
	// version conflicts and says how many times it did.
	Transfer(ctx context.Context, t Transfer) (retries int, err error)

	// Revalue sets the prices of many securities named by symbol
	// (scenario 6).
	Revalue(ctx context.Context, quotes []Quote) error
}

// Loaded is what a load returns, in whatever shape the implementation
// naturally has it. View turns it into the common shape for comparisons;
// benchmarks never call it, only the cheap Size.
type Loaded interface {
	View() View
	// Size counts the portfolios, lots and securities loaded.
	Size() (portfolios, lots, securities int)
}

// NewPortfolio is the input of scenario 3.
type NewPortfolio struct {
	Name     string
	Currency string
	Lots     []NewLot
}

// NewLot is one lot of a NewPortfolio.
type NewLot struct {
	SecurityID uuid.UUID
	Quantity   decimal.Decimal
	UnitCost   decimal.Decimal
	AcquiredOn time.Time
}

// Sale is the input of scenario 4.
type Sale struct {
	Portfolio uuid.UUID
	Security  uuid.UUID
	Quantity  decimal.Decimal
	On        time.Time
}

// Transfer is the input of scenario 5.
type Transfer struct {
	From, To uuid.UUID
	Security uuid.UUID
	Quantity decimal.Decimal
	On       time.Time
}

// Quote is one price of scenario 6: a symbol, a price and the day it
// applies to. It is folio's own type, a plain struct, so that folio's
// Revalue takes the input as it is rather than paying for a copy the others
// do not make.
type Quote = uow.Quote

// View is the common shape of loaded data: portfolios in id order, each
// with its lots in FIFO order, and securities in id order. Decimals are
// compared by value (String drops trailing zeros).
type View struct {
	Portfolios []PortfolioView
	Securities []SecurityView
}

// PortfolioView is a portfolio in a View.
type PortfolioView struct {
	ID       uuid.UUID
	Name     string
	Currency string
	Version  int64
	Lots     []LotView
}

// LotView is a lot in a View.
type LotView struct {
	ID         uuid.UUID
	SecurityID uuid.UUID
	Quantity   string
	UnitCost   string
	AcquiredOn string
}

// SecurityView is a security in a View.
type SecurityView struct {
	ID        uuid.UUID
	Symbol    string
	Name      string
	Currency  string
	LastPrice string // empty when there is none
	PriceDate string
}

// Sort puts v in its canonical order.
func (v *View) Sort() {
	slices.SortFunc(v.Portfolios, func(a, b PortfolioView) int { return compareUUID(a.ID, b.ID) })
	for _, p := range v.Portfolios {
		slices.SortFunc(p.Lots, func(a, b LotView) int {
			return cmp.Or(cmp.Compare(a.AcquiredOn, b.AcquiredOn), compareUUID(a.ID, b.ID))
		})
	}
	slices.SortFunc(v.Securities, func(a, b SecurityView) int { return compareUUID(a.ID, b.ID) })
}

func compareUUID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

func decString(d decimal.Decimal) string { return d.String() }

func dateString(t time.Time) string { return t.Format(time.DateOnly) }

func priceView(p decimal.NullDecimal, d *time.Time) (string, string) {
	if !p.Valid || d == nil {
		return "", ""
	}
	return p.Decimal.String(), dateString(*d)
}

// fifoLot is what selling first in, first out needs to know of a lot.
type fifoLot interface {
	fifo() (security uuid.UUID, acquiredOn time.Time, quantity, unitCost decimal.Decimal)
}

// fifoSale is the outcome of sellFIFO: the lots (by index) whose quantity
// changes, with the new quantity, the lots used up, and the cost basis of
// what was sold.
type fifoSale struct {
	changed     []int
	newQuantity []decimal.Decimal
	closed      []int
	cost        decimal.Decimal
}

// errInsufficient is returned by sellFIFO when the portfolio holds less
// than the quantity to sell.
var errInsufficient = errors.New("insufficient quantity")

// errOutOfOrder is returned by checkOrder for a trade dated before the
// portfolio's latest sale.
var errOutOfOrder = errors.New("trade out of date order")

// checkOrder is the rule of domain.Portfolio since migration 00012 for the
// implementations that have no domain layer: a buy or sell dated before
// the portfolio's latest sale (portfolio.last_sale_on) is refused, and a
// sale records its day there (see sold).
func checkOrder(lastSale *time.Time, on time.Time) error {
	if lastSale != nil && on.Before(*lastSale) {
		return errOutOfOrder
	}
	return nil
}

// soldBy is the day of sale to record for p in a transfer whose seller is
// from: on for the seller, nil for the buyer.
func soldBy[P any](p, from *P, on time.Time) *time.Time {
	if p == from {
		return &on
	}
	return nil
}

// sellFIFO is the rule of domain.Portfolio.Sell for the implementations that
// have no domain layer: lots must be in FIFO order (acquired on, then id);
// those of the security bought on or before the day are used, oldest first.
func sellFIFO[L fifoLot](lots []L, security uuid.UUID, quantity decimal.Decimal, on time.Time) (fifoSale, error) {
	var s fifoSale
	remaining := quantity
	s.cost = decimal.Zero
	for i, l := range lots {
		if remaining.Sign() == 0 {
			break
		}
		sec, acquired, qty, cost := l.fifo()
		if sec != security || acquired.After(on) {
			continue
		}
		take := decimal.Min(qty, remaining)
		remaining = remaining.Sub(take)
		s.cost = s.cost.Add(take.Mul(cost))
		if take.Equal(qty) {
			s.closed = append(s.closed, i)
		} else {
			s.changed = append(s.changed, i)
			s.newQuantity = append(s.newQuantity, qty.Sub(take))
		}
	}
	if remaining.Sign() > 0 {
		return fifoSale{}, fmt.Errorf("sell %s: %w", security, errInsufficient)
	}
	return s, nil
}

// errConflict is the version conflict of the implementations without a
// domain layer: an UPDATE ... WHERE version = $n found no row.
var errConflict = errors.New("version conflict")

// maxAttempts bounds the retries of every implementation (folio's through
// uow.WithAttempts).
const maxAttempts = 10

// retry runs op until it succeeds, fails for a reason other than a
// serialization failure, a deadlock or a version conflict, or has run
// maxAttempts times. Between attempts it sleeps like uow.Runner does by
// default: a random time up to 2ms, doubling per attempt up to 200ms.
func retry(ctx context.Context, op func() error) (retries int, err error) {
	for attempt := 1; ; attempt++ {
		err = op()
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return attempt - 1, err
		}
		limit := min(2*time.Millisecond<<(attempt-1), 200*time.Millisecond)
		t := time.NewTimer(rand.N(limit) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt - 1, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func retryable(err error) bool {
	if errors.Is(err, errConflict) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}
