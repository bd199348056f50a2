package tracker_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// now is the clock of every service the tests make: "today" is 2024-06-15,
// late in the evening so that a day computed in UTC by mistake would show.
var now = time.Date(2024, 6, 15, 21, 30, 0, 0, time.UTC)

// env is a Service on a database of the test's own, and a pool on the same
// database to look behind the service's back.
type env struct {
	svc  *tracker.Service
	pool *pgxpool.Pool
}

func newEnv(t testing.TB, opts ...uow.Option) *env {
	t.Helper()
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r, err := uow.NewRunner(pool, append([]uow.Option{
		uow.WithBackoff(time.Millisecond, 20*time.Millisecond),
		uow.WithClock(func() time.Time { return now }),
	}, opts...)...)
	require.NoError(t, err)
	return &env{svc: tracker.New(r), pool: pool}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// day parses YYYY-MM-DD as midnight UTC.
func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// requireDec compares decimals by value, so that 1.50 equals 1.5, and
// shows both when they differ.
func requireDec(t testing.TB, want string, got decimal.Decimal, msgAndArgs ...any) {
	t.Helper()
	require.Truef(t, dec(want).Equal(got), "got %s, want %s %v", got, want, msgAndArgs)
}

// requireDecPtr is requireDec for an optional figure; want "" means nil.
func requireDecPtr(t testing.TB, want string, got *decimal.Decimal, msgAndArgs ...any) {
	t.Helper()
	if want == "" {
		require.Nilf(t, got, "want nil %v", msgAndArgs)
		return
	}
	require.NotNilf(t, got, "got nil, want %s %v", want, msgAndArgs)
	requireDec(t, want, *got, msgAndArgs...)
}

// Fixtures made through the service.

func (e *env) security(t testing.TB, symbol, currency string) tracker.SecurityView {
	t.Helper()
	v, err := e.svc.AddSecurity(ctx, symbol, symbol+" Corp.", currency)
	require.NoError(t, err)
	return v
}

func (e *env) price(t testing.TB, symbol, price, on string) {
	t.Helper()
	_, err := e.svc.SetPrice(ctx, symbol, dec(price), day(on))
	require.NoError(t, err)
}

func (e *env) portfolio(t testing.TB, name string) tracker.PortfolioView {
	t.Helper()
	v, err := e.svc.CreatePortfolio(ctx, name, "USD")
	require.NoError(t, err)
	return v
}

func (e *env) trade(t testing.TB, id uuid.UUID, side tracker.Side, symbol, quantity, price, on string) tracker.TradeView {
	t.Helper()
	v, err := e.svc.Trade(ctx, tracker.ByID(id), tracker.Trade{
		Side: side, Symbol: symbol, Quantity: dec(quantity), Price: dec(price), Date: day(on),
	}, nil)
	require.NoError(t, err)
	return v
}

// Reading the database directly, bypassing the service and the unit of
// work.

// dump is every row of every table, to show that a call wrote nothing.
func (e *env) dump(t testing.TB) string {
	t.Helper()
	var s string
	require.NoError(t, e.pool.QueryRow(ctx, `select concat_ws(e'\n',
		(select coalesce(json_agg(s order by s.id), '[]')::text from security s),
		(select coalesce(json_agg(p order by p.id), '[]')::text from portfolio p),
		(select coalesce(json_agg(i order by i.id), '[]')::text from investment i))`).Scan(&s))
	return s
}

func (e *env) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, "select count(*) from "+table).Scan(&n))
	return n
}

// storedPortfolio is a portfolio row.
type storedPortfolio struct {
	Name, Currency string
	Version        int64
	LastSaleOn     *time.Time
}

func (e *env) storedPortfolio(t testing.TB, id uuid.UUID) storedPortfolio {
	t.Helper()
	var p storedPortfolio
	require.NoError(t, e.pool.QueryRow(ctx, "select name, currency, version, last_sale_on from portfolio where id = $1", id).
		Scan(&p.Name, &p.Currency, &p.Version, &p.LastSaleOn))
	return p
}

// storedLot is an investment row, its numbers as PostgreSQL prints them.
type storedLot struct {
	ID         uuid.UUID
	Symbol     string
	Quantity   string
	UnitCost   string
	AcquiredOn string
}

// storedLots returns a portfolio's lots in FIFO order.
func (e *env) storedLots(t testing.TB, id uuid.UUID) []storedLot {
	t.Helper()
	rows, err := e.pool.Query(ctx, `select i.id, s.symbol, trim_scale(i.quantity)::text, trim_scale(i.unit_cost)::text, i.acquired_on::text
		from investment i join security s on s.id = i.security_id
		where i.portfolio_id = $1 order by i.acquired_on, i.id`, id)
	require.NoError(t, err)
	defer rows.Close()
	var out []storedLot
	for rows.Next() {
		var l storedLot
		require.NoError(t, rows.Scan(&l.ID, &l.Symbol, &l.Quantity, &l.UnitCost, &l.AcquiredOn))
		out = append(out, l)
	}
	require.NoError(t, rows.Err())
	return out
}

// storedPrice returns a security's price and its day, "" for none.
func (e *env) storedPrice(t testing.TB, symbol string) (price, on string) {
	t.Helper()
	var p, d *string
	require.NoError(t, e.pool.QueryRow(ctx, "select trim_scale(last_price)::text, price_date::text from security where symbol = $1", symbol).
		Scan(&p, &d))
	if p != nil {
		price = *p
	}
	if d != nil {
		on = *d
	}
	return price, on
}
