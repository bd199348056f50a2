package tracker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func TestAddSecurity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("canonical values stored", func(t *testing.T) {
		v, err := e.svc.AddSecurity(ctx, " brk.b ", "  Berkshire Hathaway 'B'; --  ", "usd")
		require.NoError(t, err)
		assert.Equal(t, "BRK.B", v.Symbol)
		assert.Equal(t, "Berkshire Hathaway 'B'; --", v.Name)
		assert.Equal(t, "USD", v.Currency)
		assert.Nil(t, v.LastPrice, "a new security has no price")
		assert.Nil(t, v.PriceDate)
		require.NotZero(t, v.ID)

		var sym, name, cur string
		require.NoError(t, e.pool.QueryRow(ctx, "select symbol, name, currency from security where id = $1", v.ID).Scan(&sym, &name, &cur))
		assert.Equal(t, []string{"BRK.B", "Berkshire Hathaway 'B'; --", "USD"}, []string{sym, name, cur})

		got, err := e.svc.Security(ctx, "BRK.B")
		require.NoError(t, err)
		assert.Equal(t, v, got)

		// The longest name, in runes: 200 characters, 600 bytes.
		long := strings.Repeat("日", domain.MaxSecurityNameLength)
		jp, err := e.svc.AddSecurity(ctx, "JP", long, "JPY")
		require.NoError(t, err)
		got, err = e.svc.Security(ctx, "JP")
		require.NoError(t, err)
		assert.Equal(t, long, got.Name)
		assert.Equal(t, jp.ID, got.ID)
		assert.Equal(t, 2, e.count(t, "security"))
	})

	t.Run("refuses", func(t *testing.T) {
		e.security(t, "AAPL", "USD")
		before := e.dump(t)

		for _, tc := range []struct {
			desc, symbol, name, currency string
			want                         error
		}{
			{"empty symbol", "", "x", "USD", domain.ErrInvalidSymbol},
			{"blank symbol", "   ", "x", "USD", domain.ErrInvalidSymbol},
			{"symbol too long", "ABCDEFGHIJKLM", "x", "USD", domain.ErrInvalidSymbol},
			{"SQL in the symbol", "A';DROP", "x", "USD", domain.ErrInvalidSymbol},
			{"non-ASCII symbol", "ſPY", "x", "USD", domain.ErrInvalidSymbol},
			{"empty name", "MSFT", "", "USD", domain.ErrInvalidName},
			{"blank name", "MSFT", " \t ", "USD", domain.ErrInvalidName},
			{"name with a line break", "MSFT", "Micro\nsoft", "USD", domain.ErrInvalidName},
			{"name too long", "MSFT", strings.Repeat("é", domain.MaxSecurityNameLength+1), "USD", domain.ErrInvalidName},
			{"invalid UTF-8 name", "MSFT", "Micro\xffsoft", "USD", domain.ErrInvalidName},
			{"empty currency", "MSFT", "Microsoft", "", domain.ErrInvalidCurrency},
			{"currency of digits", "MSFT", "Microsoft", "123", domain.ErrInvalidCurrency},
			{"currency too long", "MSFT", "Microsoft", "USDX", domain.ErrInvalidCurrency},
			{"symbol taken", "AAPL", "Apple again", "USD", domain.ErrAlreadyExists},
			{"symbol taken in lower case", " aapl", "Apple again", "EUR", domain.ErrAlreadyExists},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v, err := e.svc.AddSecurity(ctx, tc.symbol, tc.name, tc.currency)
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, v)
			})
		}
		// An existing symbol is a conflict (HTTP 409), the others are invalid (400).
		_, err := e.svc.AddSecurity(ctx, "AAPL", "x", "USD")
		require.ErrorIs(t, err, domain.ErrConflict)
		require.NotErrorIs(t, err, domain.ErrInvalid)
		assert.Equal(t, before, e.dump(t), "nothing written")

		// Security reads a symbol as ParseSymbol does.
		for _, sym := range []string{"aapl", " AAPL", "Aapl"} {
			v, err := e.svc.Security(ctx, sym)
			require.NoError(t, err, "symbol %q", sym)
			assert.Equal(t, "AAPL", v.Symbol, "symbol %q", sym)
		}
		for _, sym := range []string{"MSFT", "", "'; DROP TABLE security; --"} {
			v, err := e.svc.Security(ctx, sym)
			require.ErrorIs(t, err, domain.ErrNotFound, "symbol %q", sym)
			assert.Zero(t, v)
		}
	})
}

func TestSecurities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	none, err := e.svc.Securities(ctx, uow.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, none)

	for _, sym := range []string{"MSFT", "AAPL", "BRK.B", "A", "ZZ-1"} {
		e.security(t, sym, "USD")
	}
	e.price(t, "AAPL", "189.5", "2024-06-14")

	all, err := e.svc.Securities(ctx, uow.ListOptions{})
	require.NoError(t, err)
	var syms []string
	for _, s := range all {
		syms = append(syms, s.Symbol)
	}
	assert.Equal(t, []string{"A", "AAPL", "BRK.B", "MSFT", "ZZ-1"}, syms)
	requireDecPtr(t, "189.5", all[1].LastPrice)
	require.NotNil(t, all[1].PriceDate)
	assert.Equal(t, "2024-06-14", all[1].PriceDate.String())
	assert.Nil(t, all[0].LastPrice)

	page, err := e.svc.Securities(ctx, uow.ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, "AAPL", page[1].Symbol)
	page, err = e.svc.Securities(ctx, uow.ListOptions{After: page[1].Symbol, Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []string{"BRK.B", "MSFT"}, []string{page[0].Symbol, page[1].Symbol})
	page, err = e.svc.Securities(ctx, uow.ListOptions{After: "ZZ-1"})
	require.NoError(t, err)
	assert.Empty(t, page)

	for _, limit := range []int{-1, 1001} {
		_, err := e.svc.Securities(ctx, uow.ListOptions{Limit: limit})
		require.ErrorIs(t, err, domain.ErrInvalid, "limit %d", limit)
	}
}

func TestSetPrice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("sets and replaces", func(t *testing.T) {
		e.security(t, "AAPL", "USD")

		v, err := e.svc.SetPrice(ctx, "AAPL", dec("187.1234567891"), day("2024-06-10"))
		require.NoError(t, err)
		requireDecPtr(t, "187.1234567891", v.LastPrice)
		assert.Equal(t, "2024-06-10", v.PriceDate.String())
		p, on := e.storedPrice(t, "AAPL")
		assert.Equal(t, []string{"187.1234567891", "2024-06-10"}, []string{p, on})

		// Same day: replaces.
		_, err = e.svc.SetPrice(ctx, "AAPL", dec("188"), day("2024-06-10"))
		require.NoError(t, err)
		p, on = e.storedPrice(t, "AAPL")
		assert.Equal(t, []string{"188", "2024-06-10"}, []string{p, on})

		// A time of day and a zone: the day is the one in that zone.
		tokyo := time.FixedZone("JST", 9*3600)
		v, err = e.svc.SetPrice(ctx, "AAPL", dec("189"), time.Date(2024, 6, 12, 1, 0, 0, 0, tokyo))
		require.NoError(t, err)
		assert.Equal(t, "2024-06-12", v.PriceDate.String())

		// Zero: today, by the runner's clock.
		v, err = e.svc.SetPrice(ctx, "AAPL", dec("0"), time.Time{})
		require.NoError(t, err)
		requireDecPtr(t, "0", v.LastPrice, "a price of zero is allowed")
		assert.Equal(t, "2024-06-15", v.PriceDate.String())
		p, on = e.storedPrice(t, "AAPL")
		assert.Equal(t, []string{"0", "2024-06-15"}, []string{p, on})

		got, err := e.svc.Security(ctx, "AAPL")
		require.NoError(t, err)
		assert.Equal(t, v, got)

		// The largest price numeric(28,10) holds.
		e.security(t, "BIG", "USD")
		const largest = "999999999999999999.9999999999"
		v, err = e.svc.SetPrice(ctx, "BIG", dec(largest), day("2024-06-01"))
		require.NoError(t, err)
		requireDecPtr(t, largest, v.LastPrice)
		p, _ = e.storedPrice(t, "BIG")
		assert.Equal(t, largest, p)
	})

	t.Run("refuses", func(t *testing.T) {
		e.security(t, "PRICED", "USD")
		e.security(t, "NEW", "USD") // no price yet
		e.price(t, "PRICED", "100", "2024-06-10")
		before := e.dump(t)

		for _, tc := range []struct {
			desc, symbol, price string
			on                  time.Time
			want                error
		}{
			{"unknown symbol", "MSFT", "1", day("2024-06-11"), domain.ErrNotFound},
			{"negative price", "PRICED", "-0.01", day("2024-06-11"), domain.ErrInvalidPrice},
			{"eleven decimals", "PRICED", "1.00000000001", day("2024-06-11"), domain.ErrInvalidPrice},
			{"nineteen integer digits", "PRICED", "1000000000000000000", day("2024-06-11"), domain.ErrInvalidPrice},
			{"year 10000", "PRICED", "1", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), domain.ErrInvalidDate},
			{"year 1899, no price yet", "NEW", "1", day("1899-12-31"), domain.ErrInvalidDate},
			{"older than the last price", "PRICED", "1", day("2024-06-09"), tracker.ErrOlderPrice},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v, err := e.svc.SetPrice(ctx, tc.symbol, dec(tc.price), tc.on)
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, v)
			})
		}
		// An older price is an invalid price to whoever maps families of errors.
		_, err := e.svc.SetPrice(ctx, "PRICED", dec("1"), day("2024-01-01"))
		require.ErrorIs(t, err, domain.ErrInvalidPrice)
		assert.Contains(t, err.Error(), "2024-06-10", "names the current price's day")
		assert.Equal(t, before, e.dump(t), "nothing written")
	})
}

func TestImportPrices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("imports and skips", func(t *testing.T) {
		for _, s := range []string{"AAPL", "MSFT", "OLD"} {
			e.security(t, s, "USD")
		}
		e.price(t, "OLD", "50", "2024-06-01")

		res, err := e.svc.ImportPrices(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, tracker.PriceImport{}, res)

		res, err = e.svc.ImportPrices(ctx, []tracker.PriceRow{
			{Line: 2, Symbol: "AAPL", Price: dec("180"), Date: day("2024-06-03")},
			{Line: 3, Symbol: "MSFT", Price: dec("410.25"), Date: day("2024-06-03")},
			{Line: 4, Symbol: "aapl", Price: dec("181"), Date: day("2024-06-04")},    // the same security
			{Line: 5, Symbol: "AAPL", Price: dec("179"), Date: day("2024-06-02")},    // older than line 4: skipped
			{Line: 6, Symbol: "MSFT", Price: dec("411"), Date: day("2024-06-03")},    // same day as line 3: wins
			{Line: 7, Symbol: "OLD", Price: dec("49"), Date: day("2024-05-31")},      // older than stored: skipped
			{Line: 8, Symbol: "OLD", Price: dec("51.5"), Date: day("2024-06-01")},    // same day as stored: replaces
			{Line: 9, Symbol: "MSFT", Price: dec("0.0001"), Date: day("2024-06-02")}, // older: skipped
		})
		require.NoError(t, err)
		assert.Equal(t, tracker.PriceImport{Imported: 5, Securities: 3, Skipped: 3}, res)

		for sym, want := range map[string][2]string{
			"AAPL": {"181", "2024-06-04"},
			"MSFT": {"411", "2024-06-03"},
			"OLD":  {"51.5", "2024-06-01"},
		} {
			p, on := e.storedPrice(t, sym)
			assert.Equal(t, want, [2]string{p, on}, sym)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		for _, s := range []string{"IBM", "ORCL", "NEW"} {
			e.security(t, s, "USD")
		}
		e.price(t, "IBM", "100", "2024-06-01")
		before := e.dump(t)

		good := func(line int) tracker.PriceRow {
			return tracker.PriceRow{Line: line, Symbol: []string{"IBM", "ORCL"}[line%2], Price: dec("200"), Date: day("2024-06-05")}
		}
		for _, tc := range []struct {
			desc string
			bad  tracker.PriceRow
			want error
		}{
			{"unknown symbol", tracker.PriceRow{Symbol: "NOPE", Price: dec("1"), Date: day("2024-06-05")}, domain.ErrNotFound},
			{"SQL for a symbol", tracker.PriceRow{Symbol: "'; DROP TABLE security; --", Price: dec("1"), Date: day("2024-06-05")}, domain.ErrNotFound},
			{"negative price", tracker.PriceRow{Symbol: "ORCL", Price: dec("-1"), Date: day("2024-06-05")}, domain.ErrInvalidPrice},
			{"price too precise", tracker.PriceRow{Symbol: "ORCL", Price: dec("0.00000000001"), Date: day("2024-06-05")}, domain.ErrInvalidPrice},
			{"price too large", tracker.PriceRow{Symbol: "IBM", Price: dec("1e18"), Date: day("2024-06-05")}, domain.ErrInvalidPrice},
			{"no date, no price yet", tracker.PriceRow{Symbol: "NEW", Price: dec("1")}, domain.ErrInvalidDate},
			{"year 10000", tracker.PriceRow{Symbol: "IBM", Price: dec("1"), Date: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, domain.ErrInvalidDate},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				var rows []tracker.PriceRow
				for line := 2; line < 52; line++ {
					rows = append(rows, good(line))
				}
				tc.bad.Line = 37
				rows[35] = tc.bad
				res, err := e.svc.ImportPrices(ctx, rows)
				require.ErrorIs(t, err, tc.want)
				var rowErr *tracker.RowError
				require.ErrorAs(t, err, &rowErr)
				assert.Equal(t, 37, rowErr.Line)
				assert.True(t, strings.HasPrefix(err.Error(), "line 37: "), "got %q", err)
				assert.Zero(t, res)
				assert.Equal(t, before, e.dump(t), "nothing written")
			})
		}

		// A missing symbol is reported at its first row, whichever rows come
		// after.
		_, err := e.svc.ImportPrices(ctx, []tracker.PriceRow{
			{Line: 10, Symbol: "ORCL", Price: dec("1"), Date: day("2024-06-01")},
			{Line: 11, Symbol: "GONE", Price: dec("1"), Date: day("2024-06-01")},
			{Line: 12, Symbol: "LOST", Price: dec("1"), Date: day("2024-06-01")},
			{Line: 13, Symbol: "GONE", Price: dec("1"), Date: day("2024-06-02")},
		})
		var rowErr *tracker.RowError
		require.ErrorAs(t, err, &rowErr)
		assert.Equal(t, 11, rowErr.Line)
		require.ErrorIs(t, err, domain.ErrNotFound)
		assert.Contains(t, err.Error(), "GONE")
		assert.Equal(t, before, e.dump(t), "nothing written")
	})
}

// ImportPrices promises that any invalid row fails the import with a
// *RowError, also one for a security whose price is of a later day, which
// would otherwise be skipped as an older price.
func TestImportPricesInvalidRowBehindNewerPrice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	e.price(t, "AAPL", "100", "2024-06-01")
	for _, tc := range []struct {
		desc string
		row  tracker.PriceRow
		want error
	}{
		{"no date", tracker.PriceRow{Line: 2, Symbol: "AAPL", Price: dec("1")}, domain.ErrInvalidDate},
		{"year 1800", tracker.PriceRow{Line: 2, Symbol: "AAPL", Price: dec("1"), Date: day("1800-01-01")}, domain.ErrInvalidDate},
		{"negative price", tracker.PriceRow{Line: 2, Symbol: "AAPL", Price: dec("-5"), Date: day("2024-05-01")}, domain.ErrInvalidPrice},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			res, err := e.svc.ImportPrices(ctx, []tracker.PriceRow{tc.row})
			require.ErrorIs(t, err, tc.want, "got result %+v", res)
			require.NotErrorIs(t, err, tracker.ErrOlderPrice, "an ErrInvalidPrice too")
			var rowErr *tracker.RowError
			require.ErrorAs(t, err, &rowErr)
			assert.Equal(t, 2, rowErr.Line)
		})
	}
}

func TestRowError(t *testing.T) {
	t.Parallel()
	err := error(&tracker.RowError{Line: 7, Err: domain.ErrInvalidQuantity})
	assert.Equal(t, "line 7: invalid quantity", err.Error())
	assert.ErrorIs(t, err, domain.ErrInvalidQuantity)
	assert.ErrorIs(t, err, domain.ErrInvalid)
	var rowErr *tracker.RowError
	require.ErrorAs(t, fmt.Errorf("prices.csv: %w", err), &rowErr)
	assert.Equal(t, 7, rowErr.Line)
}

// SetPrice documents domain.ErrInvalidDate for a day out of range, also for
// a security that has a price, where the day would otherwise be refused as
// an older price (an ErrInvalidPrice).
func TestSetPriceInvalidDateBehindNewerPrice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	e.price(t, "AAPL", "100", "2024-06-01")
	_, err := e.svc.SetPrice(ctx, "AAPL", dec("1"), day("1800-01-01"))
	require.ErrorIs(t, err, domain.ErrInvalidDate)
	require.NotErrorIs(t, err, tracker.ErrOlderPrice)
}
