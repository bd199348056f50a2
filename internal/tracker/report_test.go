package tracker_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/tracker"
)

// holding is a HoldingView with its figures as strings, "" for nil.
type holding struct {
	Symbol, Name, Quantity, CostBasis, Price, PriceDate, MarketValue, UnrealizedGain, Weight string
}

func holdingOf(h tracker.HoldingView) holding {
	s := func(d interface{ String() string }) string { return d.String() }
	out := holding{Symbol: h.Symbol, Name: h.Name, Quantity: s(h.Quantity), CostBasis: s(h.CostBasis)}
	if h.Price != nil {
		out.Price = s(h.Price)
	}
	if h.PriceDate != nil {
		out.PriceDate = s(h.PriceDate)
	}
	if h.MarketValue != nil {
		out.MarketValue = s(h.MarketValue)
	}
	if h.UnrealizedGain != nil {
		out.UnrealizedGain = s(h.UnrealizedGain)
	}
	if h.Weight != nil {
		out.Weight = s(h.Weight)
	}
	return out
}

func holdingsOf(r tracker.ReportView) []holding {
	out := []holding{}
	for _, h := range r.Holdings {
		out = append(out, holdingOf(h))
	}
	return out
}

func TestReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, s := range []string{"MSFT", "AAPL", "NOPR"} {
		e.security(t, s, "USD")
	}
	e.price(t, "AAPL", "180", "2024-06-14")
	e.price(t, "MSFT", "250", "2024-06-10")
	p := e.portfolio(t, "Épargne 'retraite'")
	e.trade(t, p.ID, tracker.Buy, "MSFT", "4", "300", "2024-01-10")
	e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "150", "2024-01-02")
	e.trade(t, p.ID, tracker.Buy, "NOPR", "7", "2", "2024-01-03")
	e.trade(t, p.ID, tracker.Buy, "AAPL", "8", "170", "2024-02-01")
	e.trade(t, p.ID, tracker.Sell, "AAPL", "3", "175", "2024-03-01") // 3 of the lot at 150

	r, err := e.svc.Report(ctx, tracker.ByName("Épargne 'retraite'"))
	require.NoError(t, err)
	assert.Equal(t, p.ID, r.ID)
	assert.Equal(t, "Épargne 'retraite'", r.Portfolio)
	assert.Equal(t, "USD", r.Currency)
	assert.Equal(t, int64(6), r.Version)
	assert.Equal(t, "2024-06-15", r.AsOf.String(), "today, by the runner's clock")
	// AAPL: 7 × 150 + 8 × 170 = 2410 cost, 15 × 180 = 2700 value.
	// MSFT: 4 × 300 = 1200 cost, 4 × 250 = 1000 value.
	// NOPR: 7 × 2 = 14 cost, no price.
	// Weights of 3700: 2700/3700 = 0.729729729729…, 1000/3700 = 0.270270270270….
	assert.Equal(t, []holding{
		{"AAPL", "AAPL Corp.", "15", "2410", "180", "2024-06-14", "2700", "290", "0.7297297297"},
		{"MSFT", "MSFT Corp.", "4", "1200", "250", "2024-06-10", "1000", "-200", "0.2702702703"},
		{"NOPR", "NOPR Corp.", "7", "14", "", "", "", "", ""},
	}, holdingsOf(r))
	requireDec(t, "3624", r.CostBasis, "cost basis counts unpriced holdings")
	requireDec(t, "3700", r.MarketValue)
	requireDec(t, "90", r.UnrealizedGain, "priced holdings only")
	assert.Equal(t, 1, r.Unpriced)

	byID, err := e.svc.Report(ctx, tracker.ByID(p.ID))
	require.NoError(t, err)
	assert.Equal(t, r, byID)
}

// Edge cases of a valuation, each in a portfolio of its own.
func TestReportEdgeCases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	report := func(t *testing.T, id uuid.UUID) tracker.ReportView {
		t.Helper()
		r, err := e.svc.Report(ctx, tracker.ByID(id))
		require.NoError(t, err)
		return r
	}

	t.Run("empty portfolio", func(t *testing.T) {
		p := e.portfolio(t, "Empty")
		r := report(t, p.ID)
		assert.Equal(t, "Empty", r.Portfolio)
		assert.NotNil(t, r.Holdings, "an empty list, not null, in JSON")
		assert.Empty(t, r.Holdings)
		requireDec(t, "0", r.CostBasis)
		requireDec(t, "0", r.MarketValue)
		requireDec(t, "0", r.UnrealizedGain)
		assert.Zero(t, r.Unpriced)
		assert.Equal(t, int64(1), r.Version)
	})

	// Securities priced at zero are worth nothing: their weights are zero,
	// not missing, and nothing is divided by zero.
	t.Run("worthless", func(t *testing.T) {
		e.security(t, "DEAD", "USD")
		e.security(t, "GONE", "USD")
		e.price(t, "DEAD", "0", "2024-06-01")
		e.price(t, "GONE", "0", "2024-06-02")
		p := e.portfolio(t, "Losses")
		e.trade(t, p.ID, tracker.Buy, "DEAD", "100", "1.5", "2024-01-01")
		e.trade(t, p.ID, tracker.Buy, "GONE", "1", "0", "2024-01-01") // a gift

		r := report(t, p.ID)
		assert.Equal(t, []holding{
			{"DEAD", "DEAD Corp.", "100", "150", "0", "2024-06-01", "0", "-150", "0"},
			{"GONE", "GONE Corp.", "1", "0", "0", "2024-06-02", "0", "0", "0"},
		}, holdingsOf(r))
		requireDec(t, "150", r.CostBasis)
		requireDec(t, "0", r.MarketValue)
		requireDec(t, "-150", r.UnrealizedGain)
		assert.Zero(t, r.Unpriced)
	})

	// A holding that is the whole priced value weighs exactly 1; huge
	// figures stay exact.
	t.Run("huge numbers", func(t *testing.T) {
		const largest = "999999999999999999.9999999999"
		e.security(t, "BIG", "USD")
		e.price(t, "BIG", largest, "2024-06-01")
		p := e.portfolio(t, "Big")
		e.trade(t, p.ID, tracker.Buy, "BIG", largest, "0.0000000001", "2024-01-01")
		e.trade(t, p.ID, tracker.Buy, "BIG", largest, "0", "2024-01-02")

		r := report(t, p.ID)
		require.Len(t, r.Holdings, 1)
		h := holdingOf(r.Holdings[0])
		assert.Equal(t, "1999999999999999999.9999999998", h.Quantity)
		assert.Equal(t, "99999999.99999999999999999999", h.CostBasis)
		assert.Equal(t, "1999999999999999999999999999600000000.00000000000000000002", h.MarketValue)
		assert.Equal(t, "1999999999999999999999999999500000000.00000000000000000003", h.UnrealizedGain)
		assert.Equal(t, "1", h.Weight)
		requireDec(t, h.MarketValue, r.MarketValue)
	})

	// Selling everything of a security leaves no holding of it.
	t.Run("sold out", func(t *testing.T) {
		e.security(t, "AAPL", "USD")
		e.security(t, "MSFT", "USD")
		e.price(t, "MSFT", "10", "2024-06-01")
		p := e.portfolio(t, "Sold out")
		e.trade(t, p.ID, tracker.Buy, "AAPL", "2", "5", "2024-01-01")
		e.trade(t, p.ID, tracker.Buy, "MSFT", "3", "4", "2024-01-01")
		e.trade(t, p.ID, tracker.Sell, "AAPL", "2", "6", "2024-02-01")

		r := report(t, p.ID)
		assert.Equal(t, []holding{{"MSFT", "MSFT Corp.", "3", "12", "10", "2024-06-01", "30", "18", "1"}}, holdingsOf(r))
		assert.Zero(t, r.Unpriced, "AAPL, unpriced, is no longer held")
	})
}

func TestPing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.svc.Ping(ctx))

	e.pool.Close()
	assert.Error(t, e.svc.Ping(ctx), "no database, no pong")
}

// TestReportAsOfCoversWhatItCounts: at 21:30 UTC it is already tomorrow
// east of UTC+3, so a lot or a price may be dated tomorrow; the report is
// then as of that day, never dated before what it includes.
func TestReportAsOfCoversWhatItCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	e.security(t, "MSFT", "USD")
	p := e.portfolio(t, "Main")
	e.trade(t, p.ID, tracker.Buy, "AAPL", "1", "10", "2024-06-01")
	e.price(t, "AAPL", "12", "2024-06-14")
	asOf := func() string {
		r, err := e.svc.Report(ctx, tracker.ByID(p.ID))
		require.NoError(t, err)
		return r.AsOf.String()
	}
	assert.Equal(t, "2024-06-15", asOf(), "today")
	e.price(t, "AAPL", "13", "2024-06-16")
	assert.Equal(t, "2024-06-16", asOf(), "a price of tomorrow")

	q := e.portfolio(t, "Other")
	e.trade(t, q.ID, tracker.Buy, "MSFT", "1", "10", "2024-06-16")
	r, err := e.svc.Report(ctx, tracker.ByID(q.ID))
	require.NoError(t, err)
	assert.Equal(t, "2024-06-16", r.AsOf.String(), "a lot of tomorrow, without a price")
}
