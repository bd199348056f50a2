package tracker_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// Trades, each subtest in a portfolio of its own.
func TestTrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	e.security(t, "MSFT", "USD")
	e.security(t, "SAP", "EUR")
	e.security(t, "NONE", "USD") // never bought
	e.security(t, "BIG", "USD")

	t.Run("buy", func(t *testing.T) {
		sec, err := e.svc.Security(ctx, "AAPL")
		require.NoError(t, err)
		p := e.portfolio(t, "Main 🚀")

		v, err := e.svc.Trade(ctx, tracker.ByName("Main 🚀"), tracker.Trade{
			Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("12.5"), Price: dec("150.1234567891"), Date: day("2024-03-01"),
		}, tracker.AtVersion(1))
		require.NoError(t, err)
		assert.Equal(t, "Main 🚀", v.Portfolio)
		assert.Equal(t, tracker.Buy, v.Side)
		assert.Equal(t, "AAPL", v.Symbol)
		requireDec(t, "12.5", v.Quantity)
		requireDec(t, "150.1234567891", v.Price)
		assert.Equal(t, "2024-03-01", v.Date.String())
		assert.Equal(t, int64(2), v.Version)
		assert.Nil(t, v.CostBasis, "a buy has no cost basis of a sale")
		assert.Nil(t, v.RealizedGain)
		require.NotNil(t, v.LotID)

		assert.Equal(t, []storedLot{{*v.LotID, "AAPL", "12.5", "150.1234567891", "2024-03-01"}}, e.storedLots(t, p.ID))
		assert.Equal(t, int64(2), e.storedPortfolio(t, p.ID).Version)

		got, err := e.svc.Portfolio(ctx, tracker.ByID(p.ID))
		require.NoError(t, err)
		require.Len(t, got.Lots, 1)
		assert.Equal(t, sec.ID, got.Lots[0].SecurityID)
		requireDec(t, "1876.54320986375", got.Lots[0].Cost) // 12.5 × 150.1234567891, exactly

		// A trade without a date happens today, by the runner's clock.
		today := e.portfolio(t, "Today")
		v, err = e.svc.Trade(ctx, tracker.ByID(today.ID), tracker.Trade{Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("3"), Price: dec("10")}, nil)
		require.NoError(t, err)
		assert.Equal(t, "2024-06-15", v.Date.String())
		assert.Equal(t, "2024-06-15", e.storedLots(t, today.ID)[0].AcquiredOn)
		v, err = e.svc.Trade(ctx, tracker.ByID(today.ID), tracker.Trade{Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("1"), Price: dec("12")}, nil)
		require.NoError(t, err, "a lot bought today can be sold today")
		assert.Equal(t, "2024-06-15", v.Date.String())
		requireDecPtr(t, "2", v.RealizedGain)
		assert.Equal(t, "2", e.storedLots(t, today.ID)[0].Quantity)
	})

	t.Run("sell", func(t *testing.T) {
		// A sell takes from the lots first in, first out: by the day bought
		// (not the order recorded); a lot used in part keeps its id.
		t.Run("FIFO across lots", func(t *testing.T) {
			p := e.portfolio(t, "FIFO")

			jan1 := e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "100", "2024-01-01")
			feb1 := e.trade(t, p.ID, tracker.Buy, "AAPL", "5", "120", "2024-02-01")
			jan15 := e.trade(t, p.ID, tracker.Buy, "AAPL", "8", "90", "2024-01-15") // back-dated: second in line
			msft := e.trade(t, p.ID, tracker.Buy, "MSFT", "4", "50", "2023-12-01")  // another security: untouched

			v, err := e.svc.Trade(ctx, tracker.ByID(p.ID), tracker.Trade{
				Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("15"), Price: dec("130"), Date: day("2024-03-01"),
			}, tracker.AtVersion(5))
			require.NoError(t, err)
			assert.Equal(t, tracker.Sell, v.Side)
			requireDec(t, "15", v.Quantity)
			requireDec(t, "130", v.Price)
			requireDecPtr(t, "1450", v.CostBasis)   // 10 × 100 + 5 × 90
			requireDecPtr(t, "500", v.RealizedGain) // 15 × 130 − 1450
			assert.Nil(t, v.LotID)
			assert.Equal(t, int64(6), v.Version)

			assert.Equal(t, []storedLot{
				{*msft.LotID, "MSFT", "4", "50", "2023-12-01"},
				{*jan15.LotID, "AAPL", "3", "90", "2024-01-15"},
				{*feb1.LotID, "AAPL", "5", "120", "2024-02-01"},
			}, e.storedLots(t, p.ID), "jan1 closed, jan15 reduced, feb1 untouched")
			assert.NotContains(t, fmt.Sprint(e.storedLots(t, p.ID)), jan1.LotID.String())

			// The rest, at a loss: 3 × 90 + 5 × 120 = 870 for 8 × 80 = 640.
			v, err = e.svc.Trade(ctx, tracker.ByID(p.ID), tracker.Trade{
				Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("8"), Price: dec("80"), Date: day("2024-03-02"),
			}, nil)
			require.NoError(t, err)
			requireDecPtr(t, "870", v.CostBasis)
			requireDecPtr(t, "-230", v.RealizedGain)
			assert.Equal(t, []storedLot{{*msft.LotID, "MSFT", "4", "50", "2023-12-01"}}, e.storedLots(t, p.ID))
		})

		// Lots bought the same day go in the order recorded.
		t.Run("same day in record order", func(t *testing.T) {
			p := e.portfolio(t, "Same day")
			first := e.trade(t, p.ID, tracker.Buy, "AAPL", "1", "300", "2024-05-01")
			second := e.trade(t, p.ID, tracker.Buy, "AAPL", "1", "100", "2024-05-01")

			v := e.trade(t, p.ID, tracker.Sell, "AAPL", "1.5", "200", "2024-05-01")
			requireDecPtr(t, "350", v.CostBasis) // 1 × 300 + 0.5 × 100
			requireDecPtr(t, "-50", v.RealizedGain)
			lots := e.storedLots(t, p.ID)
			assert.Equal(t, []storedLot{{*second.LotID, "AAPL", "0.5", "100", "2024-05-01"}}, lots)
			assert.NotEqual(t, *first.LotID, lots[0].ID)
		})

		// Lots bought after the day of a sale were not held on that day.
		t.Run("later lots untouched", func(t *testing.T) {
			p := e.portfolio(t, "Later lots")
			e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "1", "2024-01-01")
			later := e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "2", "2024-03-01")
			before := e.dump(t)

			_, err := e.svc.Trade(ctx, tracker.ByID(p.ID), tracker.Trade{
				Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("10.0000000001"), Price: dec("5"), Date: day("2024-02-29"),
			}, nil)
			require.ErrorIs(t, err, domain.ErrInsufficientQuantity)
			assert.ErrorContains(t, err, "held 10 on 2024-02-29")
			assert.Equal(t, before, e.dump(t))

			v := e.trade(t, p.ID, tracker.Sell, "AAPL", "10", "5", "2024-02-29")
			requireDecPtr(t, "10", v.CostBasis)
			requireDecPtr(t, "40", v.RealizedGain)
			assert.Equal(t, []storedLot{{*later.LotID, "AAPL", "10", "2", "2024-03-01"}}, e.storedLots(t, p.ID))
		})
	})

	t.Run("refuses", func(t *testing.T) {
		p := e.portfolio(t, "Refused")
		e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "100", "2024-01-01") // version 2
		before := e.dump(t)

		trade := func(side tracker.Side, symbol, qty, price string, on time.Time) tracker.Trade {
			return tracker.Trade{Side: side, Symbol: symbol, Quantity: dec(qty), Price: dec(price), Date: on}
		}
		d := day("2024-02-01")
		for _, tc := range []struct {
			desc   string
			ref    tracker.Ref
			t      tracker.Trade
			expect int64
			want   error
		}{
			{"unknown portfolio id", tracker.ByID(uuid.Must(uuid.NewV7())), trade(tracker.Buy, "AAPL", "1", "1", d), 0, domain.ErrNotFound},
			{"unknown portfolio name", tracker.ByName("refused"), trade(tracker.Buy, "AAPL", "1", "1", d), 0, domain.ErrNotFound},
			{"SQL for a portfolio name", tracker.ByName("'; DROP TABLE portfolio; --"), trade(tracker.Buy, "AAPL", "1", "1", d), 0, domain.ErrNotFound},
			{"unknown symbol", tracker.ByID(p.ID), trade(tracker.Buy, "ORCL", "1", "1", d), 0, domain.ErrNotFound},
			{"unknown symbol, sell", tracker.ByID(p.ID), trade(tracker.Sell, "ORCL", "1", "1", d), 0, domain.ErrNotFound},
			{"zero quantity", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "0", "1", d), 0, domain.ErrInvalidQuantity},
			{"negative quantity", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "-1", "1", d), 0, domain.ErrInvalidQuantity},
			{"quantity with 11 decimals", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "0.00000000001", "1", d), 0, domain.ErrInvalidQuantity},
			{"quantity of 19 digits", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1000000000000000000", "1", d), 0, domain.ErrInvalidQuantity},
			{"quantity of 1e30", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1e30", "1", d), 0, domain.ErrInvalidQuantity},
			{"sell zero", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "0", "1", d), 0, domain.ErrInvalidQuantity},
			{"sell negative", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "-5", "1", d), 0, domain.ErrInvalidQuantity},
			{"negative unit cost", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1", "-0.01", d), 0, domain.ErrInvalidPrice},
			{"unit cost of 19 digits", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1", "1000000000000000000", d), 0, domain.ErrInvalidPrice},
			{"negative sell price", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "1", "-1", d), 0, domain.ErrInvalidPrice},
			{"sell price with 11 decimals", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "1", "0.00000000001", d), 0, domain.ErrInvalidPrice},
			{"year 1899", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1", "1", day("1899-12-31")), 0, domain.ErrInvalidDate},
			{"year 10000", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1", "1", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), 0, domain.ErrInvalidDate},
			{"sell in year 1899", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "1", "1", day("1899-12-31")), 0, domain.ErrInvalidDate},
			{"currency mismatch", tracker.ByID(p.ID), trade(tracker.Buy, "SAP", "1", "1", d), 0, domain.ErrCurrencyMismatch},
			{"sell more than held", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "10.5", "1", d), 0, domain.ErrInsufficientQuantity},
			{"sell what was never bought", tracker.ByID(p.ID), trade(tracker.Sell, "NONE", "1", "1", d), 0, domain.ErrInsufficientQuantity},
			{"sell before the buy", tracker.ByID(p.ID), trade(tracker.Sell, "AAPL", "1", "1", day("2023-12-31")), 0, domain.ErrInsufficientQuantity},
			{"no side", tracker.ByID(p.ID), trade("", "AAPL", "1", "1", d), 0, domain.ErrInvalid},
			{"unknown side", tracker.ByID(p.ID), trade("hold", "AAPL", "1", "1", d), 0, domain.ErrInvalid},
			{"side in upper case, unparsed", tracker.ByID(p.ID), trade("BUY", "AAPL", "1", "1", d), 0, domain.ErrInvalid},
			{"stale version", tracker.ByID(p.ID), trade(tracker.Buy, "AAPL", "1", "1", d), 1, tracker.ErrPreconditionFailed},
			{"future version", tracker.ByName("Refused"), trade(tracker.Sell, "AAPL", "1", "1", d), 3, tracker.ErrPreconditionFailed},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v, err := e.svc.Trade(ctx, tc.ref, tc.t, tracker.AtVersion(tc.expect))
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, v)
			})
		}
		assert.Equal(t, before, e.dump(t), "nothing written")
	})

	// The version a trade returns is the one to send with the next; the one
	// before it is stale.
	t.Run("expected version", func(t *testing.T) {
		p := e.portfolio(t, "Versions")
		buy := tracker.Trade{Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2024-01-01")}

		v, err := e.svc.Trade(ctx, tracker.ByID(p.ID), buy, tracker.AtVersion(p.Version))
		require.NoError(t, err)
		require.Equal(t, p.Version+1, v.Version)
		v2, err := e.svc.Trade(ctx, tracker.ByID(p.ID), buy, tracker.AtVersion(v.Version))
		require.NoError(t, err)
		require.Equal(t, v.Version+1, v2.Version)

		_, err = e.svc.Trade(ctx, tracker.ByID(p.ID), buy, tracker.AtVersion(v.Version))
		require.ErrorIs(t, err, tracker.ErrPreconditionFailed)
		assert.ErrorContains(t, err, fmt.Sprintf("version %d, not %d", v2.Version, v.Version))
		assert.Len(t, e.storedLots(t, p.ID), 2)
		assert.Equal(t, v2.Version, e.storedPortfolio(t, p.ID).Version)
	})

	// The largest quantity and unit cost numeric(28,10) holds go through
	// exactly, and so does their product, which no column holds.
	t.Run("huge numbers", func(t *testing.T) {
		p := e.portfolio(t, "Huge")
		const largest = "999999999999999999.9999999999"
		buy := e.trade(t, p.ID, tracker.Buy, "BIG", largest, largest, "2024-01-01")
		assert.Equal(t, []storedLot{{*buy.LotID, "BIG", largest, largest, "2024-01-01"}}, e.storedLots(t, p.ID))

		v, err := e.svc.Portfolio(ctx, tracker.ByID(p.ID))
		require.NoError(t, err)
		requireDec(t, "999999999999999999999999999800000000.00000000000000000001", v.Lots[0].Cost)

		sell := e.trade(t, p.ID, tracker.Sell, "BIG", "0.0000000001", largest, "2024-01-02")
		requireDecPtr(t, "99999999.99999999999999999999", sell.CostBasis)
		requireDecPtr(t, "0", sell.RealizedGain)
		assert.Equal(t, "999999999999999999.9999999998", e.storedLots(t, p.ID)[0].Quantity)
	})
}

// Buys that race without an expected version all land, and none needs a
// second attempt: a trade locks its portfolio, so the others wait for it
// instead of failing their version checks.
func TestTradeConcurrentBuys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, uow.WithAttempts(1))
	e.security(t, "AAPL", "USD")
	p := e.portfolio(t, "Main")
	const n = 24
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.svc.Trade(ctx, tracker.ByID(p.ID), tracker.Trade{
				Side: tracker.Buy, Symbol: "AAPL", Quantity: dec(fmt.Sprint(i + 1)), Price: dec("1"), Date: day("2024-01-01"),
			}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "buy %d", i)
	}
	lots := e.storedLots(t, p.ID)
	require.Len(t, lots, n)
	var qs []string
	for _, l := range lots {
		qs = append(qs, l.Quantity)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint(i+1))
	}
	assert.ElementsMatch(t, want, qs)
	assert.Equal(t, int64(1+n), e.storedPortfolio(t, p.ID).Version)
}

// Imports, each subtest in a portfolio of its own.
func TestImportTrades(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	e.security(t, "MSFT", "USD")
	e.security(t, "SAP", "EUR")

	t.Run("imports in date order", func(t *testing.T) {
		p := e.portfolio(t, "Import")
		held := e.trade(t, p.ID, tracker.Buy, "MSFT", "2", "300", "2023-12-01") // version 2

		// File order is not date order: the sells on lines 2 and 3 find the
		// lots bought on later lines but earlier days.
		trades := []tracker.Trade{
			{Line: 2, Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("12"), Price: dec("200"), Date: day("2024-03-01")},
			{Line: 3, Side: tracker.Sell, Symbol: "MSFT", Quantity: dec("1"), Price: dec("250"), Date: day("2024-03-01")},
			{Line: 4, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("10"), Price: dec("100"), Date: day("2024-01-01")},
			{Line: 5, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("5"), Price: dec("150"), Date: day("2024-02-01")},
			{Line: 6, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2024-04-01")},
		}
		var calls [][2]int
		res, err := e.svc.ImportTrades(ctx, tracker.ByName("Import"), trades, func(done, total int) { calls = append(calls, [2]int{done, total}) })
		require.NoError(t, err)
		assert.Equal(t, "Import", res.Portfolio)
		assert.Equal(t, 5, res.Trades)
		assert.Equal(t, 3, res.Buys)
		assert.Equal(t, 2, res.Sells)
		// AAPL: 12 × 200 − (10 × 100 + 2 × 150) = 1100; MSFT: 250 − 300 = −50.
		requireDec(t, "1050", res.Realized)
		assert.Equal(t, int64(3), res.Version, "one unit, one version")
		assert.Equal(t, [][2]int{{5, 5}}, calls)

		lots := e.storedLots(t, p.ID)
		require.Len(t, lots, 3)
		assert.Equal(t, storedLot{*held.LotID, "MSFT", "1", "300", "2023-12-01"}, lots[0])
		lots[1].ID, lots[2].ID = uuid.Nil, uuid.Nil
		assert.Equal(t, []storedLot{
			{uuid.Nil, "AAPL", "3", "150", "2024-02-01"},
			{uuid.Nil, "AAPL", "1", "1", "2024-04-01"},
		}, lots[1:])
		assert.Equal(t, int64(3), e.storedPortfolio(t, p.ID).Version)
		for i, tr := range trades {
			assert.Equal(t, i+2, tr.Line, "the caller's slice is not reordered")
		}
	})

	// Within a day, trades apply in file order: a sell before the buy of the
	// same day has nothing to sell.
	t.Run("same day in file order", func(t *testing.T) {
		p := e.portfolio(t, "Same day")
		buy := tracker.Trade{Line: 2, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("5"), Price: dec("10"), Date: day("2024-01-01")}
		sell := tracker.Trade{Line: 3, Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("5"), Price: dec("12"), Date: day("2024-01-01")}

		_, err := e.svc.ImportTrades(ctx, tracker.ByName("Same day"), []tracker.Trade{sell, buy}, nil)
		require.ErrorIs(t, err, domain.ErrInsufficientQuantity)
		var rowErr *tracker.RowError
		require.ErrorAs(t, err, &rowErr)
		assert.Equal(t, 3, rowErr.Line)
		assert.Empty(t, e.storedLots(t, p.ID))

		res, err := e.svc.ImportTrades(ctx, tracker.ByName("Same day"), []tracker.Trade{buy, sell}, nil)
		require.NoError(t, err)
		requireDec(t, "10", res.Realized)
		assert.Equal(t, 2, res.Trades)
		assert.Empty(t, e.storedLots(t, p.ID), "bought and sold")
		// A lot made and used up in one unit never reaches the database,
		// but the sale's day, the portfolio's latest, does: a change.
		assert.Equal(t, int64(2), res.Version)
		stored := e.storedPortfolio(t, p.ID)
		assert.Equal(t, int64(2), stored.Version)
		require.NotNil(t, stored.LastSaleOn)
		assert.Equal(t, day("2024-01-01"), *stored.LastSaleOn)
	})

	t.Run("all or nothing", func(t *testing.T) {
		p := e.portfolio(t, "All or nothing")
		e.trade(t, p.ID, tracker.Buy, "AAPL", "1", "1", "2023-01-01")
		before := e.dump(t)

		// 60 good rows: buys of one share a day from 2024-01-01, then a sell
		// of 20 on 2024-06-01.
		good := func() []tracker.Trade {
			var ts []tracker.Trade
			for i := range 59 {
				ts = append(ts, tracker.Trade{Line: i + 2, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("1"), Price: dec("10"),
					Date: day("2024-01-01").AddDate(0, 0, i)})
			}
			return append(ts, tracker.Trade{Line: 61, Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("20"), Price: dec("11"), Date: day("2024-06-01")})
		}
		bad := func(line int, side tracker.Side, symbol, qty, price, on string) tracker.Trade {
			return tracker.Trade{Line: line, Side: side, Symbol: symbol, Quantity: dec(qty), Price: dec(price), Date: day(on)}
		}
		for _, tc := range []struct {
			desc string
			bad  tracker.Trade
			want error
		}{
			{"unknown symbol", bad(40, tracker.Buy, "NOPE", "1", "1", "2024-02-01"), domain.ErrNotFound},
			{"SQL for a symbol", bad(40, tracker.Buy, "'; DROP TABLE investment; --", "1", "1", "2024-02-01"), domain.ErrNotFound},
			{"zero quantity", bad(40, tracker.Buy, "AAPL", "0", "1", "2024-02-01"), domain.ErrInvalidQuantity},
			{"negative quantity", bad(40, tracker.Sell, "AAPL", "-3", "1", "2024-02-01"), domain.ErrInvalidQuantity},
			{"huge quantity", bad(40, tracker.Buy, "AAPL", "1e18", "1", "2024-02-01"), domain.ErrInvalidQuantity},
			{"negative price", bad(40, tracker.Buy, "AAPL", "1", "-1", "2024-02-01"), domain.ErrInvalidPrice},
			{"negative sell price", bad(40, tracker.Sell, "AAPL", "1", "-1", "2024-02-01"), domain.ErrInvalidPrice},
			{"year 1899", bad(40, tracker.Buy, "AAPL", "1", "1", "1899-01-01"), domain.ErrInvalidDate},
			{"currency mismatch", bad(40, tracker.Buy, "SAP", "1", "1", "2024-02-01"), domain.ErrCurrencyMismatch},
			{"bad side", bad(40, "short", "AAPL", "1", "1", "2024-02-01"), domain.ErrInvalid},
			{"oversell", bad(40, tracker.Sell, "AAPL", "100", "1", "2024-02-01"), domain.ErrInsufficientQuantity},
			// The sell of line 61 is fine alone; an earlier sell of 45 of
			// the 47 shares held on 2024-02-15 leaves it 15 of 20.
			{"a good row made bad by another", bad(40, tracker.Sell, "AAPL", "45", "1", "2024-02-15"), domain.ErrInsufficientQuantity},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				trades := good()
				trades = append(trades[:38], append([]tracker.Trade{tc.bad}, trades[38:]...)...)
				res, err := e.svc.ImportTrades(ctx, tracker.ByID(p.ID), trades, nil)
				require.ErrorIs(t, err, tc.want)
				var rowErr *tracker.RowError
				require.ErrorAs(t, err, &rowErr)
				wantLine := 40
				if tc.desc == "a good row made bad by another" {
					wantLine = 61
				}
				assert.Equal(t, wantLine, rowErr.Line)
				assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", wantLine)), "got %q", err)
				assert.Zero(t, res)
				assert.Equal(t, before, e.dump(t), "nothing written")
			})
		}

		// The good rows alone go in.
		res, err := e.svc.ImportTrades(ctx, tracker.ByID(p.ID), good(), nil)
		require.NoError(t, err)
		assert.Equal(t, 60, res.Trades)
		// FIFO: the share of 2023 at 1, then 19 at 10: cost 191 for 220.
		requireDec(t, "29", res.Realized)
		assert.Len(t, e.storedLots(t, p.ID), 40)
	})

	// An import into a portfolio that does not exist fails as a whole, not
	// at a row; an empty import succeeds.
	t.Run("refuses", func(t *testing.T) {
		e.portfolio(t, "Refused")
		before := e.dump(t)
		trades := []tracker.Trade{{Line: 2, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("1"), Price: dec("1"), Date: day("2024-01-01")}}
		for _, ref := range []tracker.Ref{tracker.ByName("refused"), tracker.ByID(uuid.Must(uuid.NewV7())), tracker.ByName("'; DROP TABLE portfolio; --")} {
			res, err := e.svc.ImportTrades(ctx, ref, trades, nil)
			require.ErrorIs(t, err, domain.ErrNotFound, "ref %v", ref)
			var rowErr *tracker.RowError
			assert.NotErrorAs(t, err, &rowErr, "not the fault of a row")
			assert.Zero(t, res)
		}
		assert.Equal(t, before, e.dump(t))

		// Nothing to import: nothing written, no new version.
		var calls [][2]int
		res, err := e.svc.ImportTrades(ctx, tracker.ByName("Refused"), nil, func(done, total int) { calls = append(calls, [2]int{done, total}) })
		require.NoError(t, err)
		assert.Equal(t, "Refused", res.Portfolio)
		assert.Zero(t, res.Trades)
		requireDec(t, "0", res.Realized)
		assert.Equal(t, int64(1), res.Version)
		assert.Equal(t, [][2]int{{0, 0}}, calls)
		assert.Equal(t, before, e.dump(t))
	})
}

// Progress is reported every thousand trades and at the end.
func TestImportTradesProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	p := e.portfolio(t, "Main")
	const n = 2500
	trades := make([]tracker.Trade, n)
	for i := range trades {
		trades[i] = tracker.Trade{Line: i + 2, Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("0.1"), Price: dec("3"),
			Date: day("2020-01-01").AddDate(0, 0, i%1000)}
	}
	var calls [][2]int
	res, err := e.svc.ImportTrades(ctx, tracker.ByID(p.ID), trades, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	require.NoError(t, err)
	assert.Equal(t, [][2]int{{1000, n}, {2000, n}, {n, n}}, calls)
	assert.Equal(t, n, res.Buys)
	assert.Equal(t, n, e.count(t, "investment"))

	ps, err := e.svc.Portfolios(ctx, uow.ListOptions{})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, n, ps[0].Lots)
	requireDec(t, "750", ps[0].CostBasis) // 2500 × 0.1 × 3
}

// ImportTrades applies trades "in date order (in file order within a day)":
// by the day each date names, a zero date being today, whatever the time of
// day or the zone. In each case the file lists a sell of 4 that only the
// order by day makes possible, and the lot left is dated the day its buy
// names.
func TestImportTradesOrdersByDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	hawaii := time.FixedZone("HST", -10*3600)
	for _, tc := range []struct {
		desc       string
		sellFirst  bool // in the file
		buy, sell  time.Time
		acquiredOn string
	}{
		// Without sorting, the sell would come first.
		{"sell today with no date, listed first", true, day("2024-01-01"), time.Time{}, "2024-01-01"},
		{"sell on a later day, listed first", true, day("2024-03-02"), day("2024-03-03"), "2024-03-02"},
		// By time of day, the sell would come first.
		{"same day, sell earlier in the day, listed second", false,
			time.Date(2024, 3, 1, 15, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC), "2024-03-01"},
		// By the day in UTC, both are on the 2nd, and the file puts the
		// sell first; the buy names the 1st.
		{"buy on the 1st in Hawaii (the 2nd in UTC), sell on the 2nd in UTC, listed first", true,
			time.Date(2024, 3, 1, 20, 0, 0, 0, hawaii), time.Date(2024, 3, 2, 1, 0, 0, 0, time.UTC), "2024-03-01"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := e.portfolio(t, tc.desc)
			buy := tracker.Trade{Side: tracker.Buy, Symbol: "AAPL", Quantity: dec("5"), Price: dec("10"), Date: tc.buy}
			sell := tracker.Trade{Side: tracker.Sell, Symbol: "AAPL", Quantity: dec("4"), Price: dec("12"), Date: tc.sell}
			trades := []tracker.Trade{buy, sell}
			if tc.sellFirst {
				trades = []tracker.Trade{sell, buy}
			}
			trades[0].Line, trades[1].Line = 2, 3
			res, err := e.svc.ImportTrades(ctx, tracker.ByID(p.ID), trades, nil)
			require.NoError(t, err)
			requireDec(t, "8", res.Realized)
			lots := e.storedLots(t, p.ID)
			require.Len(t, lots, 1)
			assert.Equal(t, "1", lots[0].Quantity)
			assert.Equal(t, "10", lots[0].UnitCost)
			assert.Equal(t, tc.acquiredOn, lots[0].AcquiredOn)
		})
	}
}

// TestNoDateIsTodayInUTC: a price or trade given no date, and a report's
// day, are today in UTC whatever the clock's time zone: at 20:00 in
// Hawaii it is already the 16th in UTC.
func TestNoDateIsTodayInUTC(t *testing.T) {
	t.Parallel()
	hawaii := time.FixedZone("HST", -10*3600)
	e := newEnv(t, uow.WithClock(func() time.Time { return time.Date(2024, 6, 15, 20, 0, 0, 0, hawaii) }))
	e.security(t, "AAA", "USD")
	p := e.portfolio(t, "P")
	e.price(t, "AAA", "10", "2024-06-16")

	_, err := e.svc.SetPrice(ctx, "AAA", dec("11"), time.Time{})
	require.NoError(t, err, "today in UTC is the day of the current price, not before it")
	price, on := e.storedPrice(t, "AAA")
	assert.True(t, dec(price).Equal(dec("11")), price)
	assert.Equal(t, "2024-06-16", on)

	v, err := e.svc.Trade(ctx, tracker.ByID(p.ID), tracker.Trade{Side: tracker.Buy, Symbol: "AAA", Quantity: dec("1"), Price: dec("1")}, nil)
	require.NoError(t, err)
	assert.Equal(t, "2024-06-16", v.Date.String(), "a trade without a date")

	r, err := e.svc.Report(ctx, tracker.ByID(p.ID))
	require.NoError(t, err)
	assert.Equal(t, "2024-06-16", r.AsOf.String(), "the report's day")
	// Of a portfolio with nothing dated: today in UTC still.
	empty := e.portfolio(t, "Empty")
	r, err = e.svc.Report(ctx, tracker.ByID(empty.ID))
	require.NoError(t, err)
	assert.Equal(t, "2024-06-16", r.AsOf.String(), "the report's day, with nothing dated")
}
