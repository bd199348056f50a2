package tracker_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// A price or a trade dated in the future is refused and writes nothing: the
// clock's 2024-06-15 21:30 UTC is already 2024-06-16 in UTC+14, so the 17th
// is the first day refused. A future price would otherwise
// keep every real one out for good, as an older quote never replaces it.
func TestDatesAfterTodayAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	p := e.portfolio(t, "Main")
	e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "100", "2024-06-01")
	before := e.dump(t)

	const want = `invalid date 2024-06-17: it is in the future`
	_, err := e.svc.SetPrice(ctx, "AAPL", dec("1"), day("2024-06-17"))
	require.ErrorIs(t, err, domain.ErrInvalidDate)
	assert.EqualError(t, err, "set price of AAPL: "+want)

	_, err = e.svc.ImportPrices(ctx, []tracker.PriceRow{
		{Line: 2, Symbol: "AAPL", Price: dec("2"), Date: day("2024-06-14")},
		{Line: 3, Symbol: "AAPL", Price: dec("3"), Date: day("9999-12-31")},
	})
	require.ErrorIs(t, err, domain.ErrInvalidDate)
	assert.EqualError(t, err, "line 3: set price of AAPL: invalid date 9999-12-31: it is in the future")

	for _, side := range []tracker.Side{tracker.Buy, tracker.Sell} {
		_, err = e.svc.Trade(ctx, tracker.ByID(p.ID), tracker.Trade{
			Side: side, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2024-06-17"),
		}, nil)
		require.ErrorIs(t, err, domain.ErrInvalidDate, side)
		assert.EqualError(t, err, string(side)+" AAPL: "+want)
	}

	_, err = e.svc.ImportTrades(ctx, tracker.ByID(p.ID), []tracker.Trade{
		{Line: 2, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2024-06-15")},
		{Line: 3, Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2025-01-01")},
	}, nil)
	var rowErr *tracker.RowError
	require.ErrorAs(t, err, &rowErr)
	assert.Equal(t, 3, rowErr.Line)
	require.ErrorIs(t, err, domain.ErrInvalidDate)

	assert.Equal(t, before, e.dump(t), "nothing written")

	// Today is not the future, nor is the 16th, which has begun in UTC+14.
	_, err = e.svc.SetPrice(ctx, "AAPL", dec("190"), day("2024-06-15"))
	require.NoError(t, err)
	e.trade(t, p.ID, tracker.Sell, "AAPL", "1", "190", "2024-06-16")
}

// Names are stored and looked up in Unicode normalization form C: a name
// written with a combining accent is the same name as one written with
// the precomposed letter, as it looks the same.
func TestNamesAreNormalized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const (
		composed   = "Caf\u00e9"  // é as one code point
		decomposed = "Cafe\u0301" // e and a combining acute accent
	)
	created, err := e.svc.CreatePortfolio(ctx, decomposed, "EUR")
	require.NoError(t, err)
	assert.Equal(t, composed, created.Name)
	assert.Equal(t, composed, e.storedPortfolio(t, created.ID).Name)

	_, err = e.svc.CreatePortfolio(ctx, composed, "EUR")
	require.ErrorIs(t, err, domain.ErrAlreadyExists)

	got, err := e.svc.Portfolio(ctx, tracker.ByName(decomposed))
	require.NoError(t, err)
	assert.Equal(t, created.ID, got.ID)

	list, err := e.svc.Portfolios(ctx, uow.ListOptions{NameContains: "e\u0301"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, composed, list[0].Name)

	renamed, err := e.svc.RenamePortfolio(ctx, tracker.ByID(created.ID), "Ne\u0301e", nil)
	require.NoError(t, err)
	assert.Equal(t, "N\u00e9e", renamed.Name)

	sec, err := e.svc.AddSecurity(ctx, "CAFE", "Cafe\u0301 Holdings", "EUR")
	require.NoError(t, err)
	assert.Equal(t, "Caf\u00e9 Holdings", sec.Name)
}

// A trade is a read-modify-write unit of 2 round trips, even for a
// security the portfolio does not hold yet: the security comes with the
// portfolio and its row lock. The units' debug log says so.
func TestTradeRoundTrips(t *testing.T) {
	t.Parallel()
	units := &unitLog{}
	e := newEnv(t, uow.WithLogger(slog.New(units)))
	e.security(t, "AAPL", "USD")
	e.security(t, "MSFT", "USD")
	p := e.portfolio(t, "Main")
	e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "100", "2024-06-01")

	for _, c := range []struct {
		ref  tracker.Ref
		side tracker.Side
		sym  string
	}{
		{tracker.ByID(p.ID), tracker.Buy, "MSFT"},
		{tracker.ByName("Main"), tracker.Buy, "MSFT"},
		{tracker.ByName("Main"), tracker.Sell, "AAPL"},
	} {
		_, err := e.svc.Trade(ctx, c.ref, tracker.Trade{
			Side: c.side, Symbol: c.sym, Quantity: dec("1"), Price: dec("1"), Date: day("2024-06-02"),
		}, nil)
		require.NoError(t, err)
		assert.Equal(t, unitStats{roundTrips: 2, attempts: 1}, units.last(), "%s %s by %v", c.side, c.sym, c.ref)
	}

	_, err := e.svc.ImportTrades(ctx, tracker.ByName("Main"), []tracker.Trade{
		{Line: 2, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2024-06-03")},
		{Line: 3, Side: tracker.Buy, Symbol: "MSFT", Quantity: dec("1"), Price: dec("1"), Date: day("2024-06-03")},
		{Line: 4, Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("2"), Price: dec("1"), Date: day("2024-06-04")},
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, unitStats{roundTrips: 2, attempts: 1}, units.last(), "import")
}

type unitStats struct{ roundTrips, attempts int64 }

// unitLog is a slog.Handler that keeps the round trips and attempts of
// the "unit" records the runner logs at debug level.
type unitLog struct {
	mu    sync.Mutex
	stats []unitStats
}

func (*unitLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *unitLog) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *unitLog) WithGroup(string) slog.Handler          { return h }

func (h *unitLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "unit" {
		return nil
	}
	var s unitStats
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "round_trips":
			s.roundTrips = a.Value.Int64()
		case "attempts":
			s.attempts = a.Value.Int64()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats = append(h.stats, s)
	return nil
}

func (h *unitLog) last() unitStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.stats) == 0 {
		return unitStats{}
	}
	return h.stats[len(h.stats)-1]
}

// The future begins when the next day has begun nowhere yet: with the
// clock at 09:59 UTC it is the 15th in UTC+14, at 10:00 the 16th there.
func TestTheFutureBeginsAfterTodayEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "SONY", "JPY")
	pool := e.pool
	for _, c := range []struct {
		clock  time.Time
		latest string // the last day accepted
	}{
		{time.Date(2024, 6, 15, 9, 59, 0, 0, time.UTC), "2024-06-15"},
		{time.Date(2024, 6, 15, 10, 0, 0, 0, time.UTC), "2024-06-16"},
		{time.Date(2024, 6, 16, 9, 0, 0, 0, time.FixedZone("JST", 9*60*60)), "2024-06-16"}, // 00:00 UTC
	} {
		r, err := uow.NewRunner(pool, uow.WithClock(func() time.Time { return c.clock }))
		require.NoError(t, err)
		svc := tracker.New(r)
		latest := day(c.latest)
		_, err = svc.SetPrice(ctx, "SONY", dec("1"), latest.AddDate(0, 0, 1))
		require.ErrorIs(t, err, domain.ErrInvalidDate, "clock %v", c.clock)
		_, err = svc.SetPrice(ctx, "SONY", dec("1"), latest)
		require.NoError(t, err, "clock %v", c.clock)
	}
}

// A trade's two not-founds are told apart: the security's carries
// ErrUnknownSecurity, the portfolio's does not.
func TestTradeNotFoundSaysWhich(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	p := e.portfolio(t, "Main")
	trade := func(ref tracker.Ref, symbol string) error {
		_, err := e.svc.Trade(ctx, ref, tracker.Trade{
			Side: tracker.Buy, Symbol: symbol, Quantity: dec("1"), Price: dec("1"), Date: day("2024-06-01"),
		}, nil)
		return err
	}
	err := trade(tracker.ByID(p.ID), "NOPE")
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.ErrorIs(t, err, tracker.ErrUnknownSecurity)
	assert.EqualError(t, err, "security NOPE: not found")

	const nobody = `portfolio "Nobody": not found`
	err = trade(tracker.ByName("Nobody"), "AAPL")
	require.ErrorIs(t, err, domain.ErrNotFound)
	assert.NotErrorIs(t, err, tracker.ErrUnknownSecurity)
	assert.EqualError(t, err, nobody)
	err = trade(tracker.ByName("Nobody"), "NOPE") // the portfolio is looked for first
	require.ErrorIs(t, err, domain.ErrNotFound)
	assert.NotErrorIs(t, err, tracker.ErrUnknownSecurity)
	assert.EqualError(t, err, nobody)
	assert.Zero(t, e.count(t, "investment"))
}
