package uow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

func names(ps []*domain.Portfolio) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	all := []string{
		"'; DROP TABLE portfolio; --", "100% Equity", "Alpha", "alpha_beta", "ALPHAxBETA",
		"Épargne 日本 📈", "retirement", "Retirement 2", `back\slash`,
		// J with a combining caron: no capital J̌ of one code point exists,
		// and lower-cased it is j and the caron, which NFC makes "ǰ".
		"J\u030cournal",
	}
	secs, ids := seed(t, r, []string{"AAPL"}, all...)
	buy(t, r, ids["Alpha"], secs["AAPL"], "1", "2")
	buy(t, r, ids["J\u030cournal"], secs["AAPL"], "3")
	lots := map[string]int{"Alpha": 2, "J\u030cournal": 1}

	list := func(o uow.ListOptions) []string {
		var got []string
		require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
			ps, err := u.Portfolios().List(ctx, o)
			got = names(ps)
			for _, p := range ps {
				assert.Len(t, p.Investments(), lots[p.Name()], "lots come with the list: %s", p.Name())
			}
			return err
		}))
		return got
	}

	assert.Equal(t, []string{"Retirement 2", "retirement"}, list(uow.ListOptions{NameContains: "RETIRE"}))
	// LIKE wildcards in the filter match themselves.
	assert.Equal(t, []string{"100% Equity"}, list(uow.ListOptions{NameContains: "%"}))
	assert.Equal(t, []string{"alpha_beta"}, list(uow.ListOptions{NameContains: "a_b"}))
	assert.Equal(t, []string{`back\slash`}, list(uow.ListOptions{NameContains: `\`}))
	assert.Equal(t, []string{"'; DROP TABLE portfolio; --"}, list(uow.ListOptions{NameContains: "drop table"}))
	assert.Equal(t, []string{"Épargne 日本 📈"}, list(uow.ListOptions{NameContains: "日本"}))
	assert.Empty(t, list(uow.ListOptions{NameContains: "nothing like it"}))
	// Case is ignored beyond ASCII, also where lower-casing takes a name
	// out of NFC: the name and the text are lower-cased, then normalized.
	assert.Equal(t, []string{"Épargne 日本 📈"}, list(uow.ListOptions{NameContains: "éPARGNE"}))
	assert.Equal(t, []string{"J\u030cournal"}, list(uow.ListOptions{NameContains: "\u01f0our"}))
	assert.Equal(t, []string{"J\u030cournal"}, list(uow.ListOptions{NameContains: "j\u030cOUR"}))
	assert.Equal(t, []string{"J\u030cournal"}, list(uow.ListOptions{NameContains: "J\u030c"}))

	// Keyset pages of 4 cover everything once, in name order.
	var pages []string
	after := ""
	for {
		page := list(uow.ListOptions{After: after, Limit: 4})
		pages = append(pages, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1]
	}
	assert.Len(t, pages, len(all))
	assert.IsIncreasing(t, pages)
	// A cursor is normalized as names are: "E" and a combining acute
	// accent is "É", and the next page starts after that (the last name,
	// in byte order).
	assert.Empty(t, list(uow.ListOptions{After: "E\u0301pargne 日本 📈", Limit: 1}))
	assert.Equal(t, []string{"Épargne 日本 📈"}, list(uow.ListOptions{After: "E\u0301", Limit: 1}))

	err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().List(ctx, uow.ListOptions{Limit: 5000})
		return err
	})
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

// Securities are found by a part of their name or symbol, in any case,
// with LIKE's wildcards taken literally, and page by symbol as without a
// filter.
func TestListSecuritiesFilters(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		for sym, name := range map[string]string{
			"AAPL": "Apple Inc.", "MSFT": "Microsoft Corp.", "BRK.B": "Berkshire Hathaway",
			"GLD": "100% Gold", "EDF": "Électricité de France", "ZZ": "'; DROP TABLE security; --",
		} {
			s, err := domain.NewSecurity(sym, name, "USD")
			require.NoError(t, err)
			u.Securities().Add(s)
		}
		return nil
	}))
	list := func(o uow.ListOptions) []string {
		var got []string
		require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
			secs, err := u.Securities().List(ctx, o)
			for _, s := range secs {
				got = append(got, s.Symbol())
			}
			return err
		}))
		return got
	}
	assert.Equal(t, []string{"AAPL"}, list(uow.ListOptions{NameContains: "APPLE"}))
	assert.Equal(t, []string{"AAPL"}, list(uow.ListOptions{NameContains: "aap"}), "the symbol, in any case")
	assert.Equal(t, []string{"AAPL", "BRK.B", "MSFT"}, list(uow.ListOptions{NameContains: "."}), "a symbol's dot, names' full stops")
	assert.Equal(t, []string{"GLD"}, list(uow.ListOptions{NameContains: "%"}))
	assert.Equal(t, []string{"EDF"}, list(uow.ListOptions{NameContains: "ÉLECTRICITÉ"}))
	assert.Equal(t, []string{"EDF"}, list(uow.ListOptions{NameContains: "e\u0301lec"}), "normalized as names are")
	assert.Equal(t, []string{"ZZ"}, list(uow.ListOptions{NameContains: "drop table"}))
	assert.Empty(t, list(uow.ListOptions{NameContains: "_"}))
	assert.Empty(t, list(uow.ListOptions{NameContains: "nothing like it"}))
	assert.Equal(t, []string{"AAPL", "BRK.B", "EDF", "GLD", "MSFT", "ZZ"}, list(uow.ListOptions{}))
	// Pages of one, filtered: each after the last symbol of the one before.
	assert.Equal(t, []string{"BRK.B"}, list(uow.ListOptions{NameContains: ".", After: "aapl", Limit: 1}))
	assert.Equal(t, []string{"MSFT"}, list(uow.ListOptions{NameContains: ".", After: "BRK.B", Limit: 1}))
	assert.Empty(t, list(uow.ListOptions{NameContains: ".", After: "MSFT", Limit: 1}))
}

func TestGetByNameAndNotFound(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	hostile := "'; DROP TABLE portfolio; --"
	secs, ids := seed(t, r, []string{"AAPL"}, hostile)
	buy(t, r, ids[hostile], secs["AAPL"], "3")

	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().GetByName(ctx, hostile, uow.WithSecurities())
		require.NoError(t, err)
		assert.Equal(t, ids[hostile], p.ID())
		require.Len(t, p.Investments(), 1)
		before := u.Stats()
		s, err := u.Securities().Get(ctx, p.Investments()[0].SecurityID())
		require.NoError(t, err)
		assert.Equal(t, "AAPL", s.Symbol())
		assert.Equal(t, before, u.Stats(), "security came with the portfolio")

		_, err = u.Portfolios().GetByName(ctx, "missing")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		_, err = u.Portfolios().Get(ctx, secs["AAPL"].ID())
		assert.ErrorIs(t, err, domain.ErrNotFound)
		_, err = u.Securities().GetBySymbol(ctx, "NOPE")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, "GetSecuritiesOfPortfolioByName", rep.Statements[3].Name())
}

func TestRemovePortfolioDeletesItsLots(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main", "Keep")
	buy(t, r, ids["Main"], secs["AAPL"], "1", "2")
	buy(t, r, ids["Keep"], secs["AAPL"], "5")

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		require.NoError(t, u.Portfolios().Remove(p))
		_, err = u.Portfolios().Get(ctx, ids["Main"])
		assert.ErrorIs(t, err, domain.ErrNotFound, "removed in this unit")
		return nil
	}, uow.WithReport(&rep)))
	assert.Contains(t, uowtest.Names(rep), "DeletePortfolio")
	assert.Equal(t, 1, count(t, pool, "portfolio"))
	assert.Equal(t, 1, count(t, pool, "investment"))

	// Removing a portfolio someone else changed since is a conflict.
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Keep"])
		require.NoError(t, err)
		changeBehind(t, pool, ids["Keep"])
		return u.Portfolios().Remove(p)
	}, uow.WithAttempts(1), uow.WithIsolation("read committed"))
	assert.ErrorIs(t, err, domain.ErrVersionConflict)
	assert.Equal(t, 1, count(t, pool, "portfolio"))

	// A portfolio added and removed in one unit is never written.
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Fleeting", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		return u.Portfolios().Remove(p)
	}, uow.WithReport(&rep)))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 0, RoundTrips: 0})
}

func TestReadUnitRefusesChanges(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")
	err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		return p.Rename("Sneaky")
	})
	assert.ErrorIs(t, err, uow.ErrReadOnly)
	// An explicit Flush refuses too, and fn may go on.
	var flushErr error
	err = r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		require.NoError(t, p.Rename("Sneaky"))
		flushErr = u.Flush(ctx)
		return nil
	})
	assert.ErrorIs(t, flushErr, uow.ErrReadOnly)
	assert.ErrorIs(t, err, uow.ErrReadOnly)
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select name from portfolio").Scan(&name))
	assert.Equal(t, "Main", name)
}

// Revalue is a write and nothing else: a Read unit refuses it at the call,
// queues nothing, and may go on to end without an error.
func TestReadUnitRefusesRevalueAtOnce(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA", "BBB"})
	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		err = u.Securities().Revalue([]uow.Quote{
			{Symbol: "AAA", Price: dec("11"), Date: day}, // tracked
			{Symbol: "BBB", Price: dec("12"), Date: day}, // not loaded
		})
		require.ErrorIs(t, err, uow.ErrReadOnly)
		price, _, _ := s.LastPrice()
		assert.True(t, price.Equal(dec("10")), "the tracked security is unchanged: %s", price)
		return u.Flush(ctx)
	}, uow.WithReport(&rep)))
	names := uowtest.Names(rep)
	assert.NotContains(t, names, "UpdateSecurityPrices")
	assert.NotContains(t, names, "UpdateSecurityPrice")
	for _, sym := range []string{"AAA", "BBB"} {
		var price string
		require.NoError(t, pool.QueryRow(ctx, "select last_price::text from security where symbol = $1", sym).Scan(&price))
		assert.True(t, dec(price).Equal(dec("10")), "%s: %s", sym, price)
	}
}

// A flush that renames one security and reprices another writes them in
// id order, not renames first: two units that do the same to the same
// pair, crosswise, then lock the rows in one order and cannot deadlock.
func TestSecurityWritesGoInIDOrder(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, _ := seed(t, r, []string{"AAA", "BBB"})
	lo, hi := secs["AAA"].ID(), secs["BBB"].ID()
	if compareUUID(lo, hi) > 0 {
		lo, hi = hi, lo
	}
	for _, tc := range []struct {
		name         string
		rename, move uuid.UUID
		want         []string
	}{
		{"rename the higher id, reprice the lower", hi, lo, []string{"UpdateSecurityPrice", "UpdateSecurityName"}},
		{"rename the lower id, reprice the higher", lo, hi, []string{"UpdateSecurityName", "UpdateSecurityPrice"}},
		{"both to one security", lo, lo, []string{"UpdateSecurityName", "UpdateSecurityPrice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep uow.Report
			require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				ss, err := u.Securities().GetMany(ctx, []uuid.UUID{tc.rename, tc.move})
				require.NoError(t, err)
				require.NoError(t, ss[0].Rename(ss[0].Name()+" x"))
				price, _, _ := ss[1].LastPrice()
				return ss[1].SetPrice(price.Add(dec("1")), day)
			}, uow.WithReport(&rep)))
			var writes []string
			for _, n := range uowtest.Names(rep) {
				if strings.HasPrefix(n, "UpdateSecurity") {
					writes = append(writes, n)
				}
			}
			assert.Equal(t, tc.want, writes)
		})
	}
}

func compareUUID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

func TestRevalueManySecuritiesInOneStatement(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	var symbols []string
	for i := range 50 {
		symbols = append(symbols, fmt.Sprintf("S%03d", i))
	}
	seed(t, r, symbols)
	quotes := make([]uow.Quote, len(symbols))
	for i, s := range symbols {
		quotes[i] = uow.Quote{Symbol: s, Price: dec(fmt.Sprintf("%d.25", i)), Date: day.AddDate(0, 0, 1)}
	}

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		return u.Securities().Revalue(quotes)
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{begin, "UpdateSecurityPrices", "commit"}, uowtest.Names(rep))
	var price string
	require.NoError(t, pool.QueryRow(ctx, "select last_price::text from security where symbol = 'S049'").Scan(&price))
	assert.Equal(t, "49.2500000000", price)

	// One unknown symbol: nothing changes.
	bad := append(quotes[:2:2], uow.Quote{Symbol: "UNKNOWN", Price: dec("1"), Date: day})
	bad[0].Price = dec("999")
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error { return u.Securities().Revalue(bad) })
	assert.ErrorIs(t, err, domain.ErrNotFound)
	require.NoError(t, pool.QueryRow(ctx, "select last_price::text from security where symbol = 'S000'").Scan(&price))
	assert.Equal(t, "0.2500000000", price)

	// Invalid quotes are refused before anything is queued.
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		return u.Securities().Revalue([]uow.Quote{{Symbol: "S000", Price: dec("-1"), Date: day}})
	})
	assert.ErrorIs(t, err, domain.ErrInvalidPrice)
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		return u.Securities().Revalue([]uow.Quote{{Symbol: "S000", Price: dec("1"), Date: day}, {Symbol: "s000", Price: dec("2"), Date: day}})
	})
	assert.ErrorIs(t, err, domain.ErrInvalid)
}

// A Revalue is written by the flush after it, once: later flushes and the
// commit do not send it again (which could overwrite a newer price).
func TestRevalueIsWrittenOnce(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAPL"})
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		require.NoError(t, u.Securities().Revalue([]uow.Quote{{Symbol: "AAPL", Price: dec("11"), Date: day}}))
		require.NoError(t, u.Flush(ctx))
		return u.Flush(ctx)
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{begin, "UpdateSecurityPrices", "commit"}, uowtest.Names(rep))
	var price string
	require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = 'AAPL'").Scan(&price))
	assert.Equal(t, "11", price)
}

func TestTrackedPriceChangeIsAnUpdate(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAPL"})
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := u.Securities().GetBySymbol(ctx, "AAPL")
		require.NoError(t, err)
		return s.SetPrice(dec("123.456"), day.AddDate(0, 0, 3))
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{begin, "GetSecuritiesBySymbols", "UpdateSecurityPrice", "commit"}, uowtest.Names(rep))
	var price string
	var on time.Time
	require.NoError(t, pool.QueryRow(ctx, "select last_price::text, price_date from security").Scan(&price, &on))
	assert.Equal(t, "123.4560000000", price)
	assert.True(t, on.Equal(day.AddDate(0, 0, 3)))

	// The same price on a later day is a change too: of the date.
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := u.Securities().GetBySymbol(ctx, "AAPL")
		require.NoError(t, err)
		return s.SetPrice(dec("123.4560"), day.AddDate(0, 0, 4))
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{begin, "GetSecuritiesBySymbols", "UpdateSecurityPrice", "commit"}, uowtest.Names(rep))
	require.NoError(t, pool.QueryRow(ctx, "select last_price::text, price_date from security").Scan(&price, &on))
	assert.Equal(t, "123.4560000000", price)
	assert.True(t, on.Equal(day.AddDate(0, 0, 4)), "%v", on)
}

func TestClockIsInjectable(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, r := newDB(t, uow.WithClock(func() time.Time { return fixed }))
	require.NoError(t, r.Do(ctx, func(_ context.Context, u *uow.Unit) error {
		assert.Equal(t, fixed, u.Now())
		return nil
	}))
}

func TestNewRunnerWantsAConfiguredPool(t *testing.T) {
	t.Parallel()
	pool := pgtestPool(t)
	_, err := uow.NewRunner(pool)
	assert.ErrorIs(t, err, uow.ErrNotInstrumented)
}

// Removing a portfolio and giving its name to another in one unit works
// whichever of the two has the smaller id: deletes go first.
func TestARemovedPortfoliosNameIsFreeInTheSameUnit(t *testing.T) {
	pool, r := newDB(t)
	for _, removeFirst := range []bool{false, true} {
		prefix := map[bool]string{false: "a-", true: "b-"}[removeFirst]
		_, ids := seed(t, r, nil, prefix+"first", prefix+"second")
		first, second := ids[prefix+"first"], ids[prefix+"second"]
		require.Less(t, first.String(), second.String(), "UUIDv7: made later, sorts later")
		gone, kept, goneName := second, first, prefix+"second"
		if removeFirst {
			gone, kept, goneName = first, second, prefix+"first"
		}
		require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			g, err := u.Portfolios().Get(ctx, gone)
			require.NoError(t, err)
			k, err := u.Portfolios().Get(ctx, kept)
			require.NoError(t, err)
			require.NoError(t, u.Portfolios().Remove(g))
			return k.Rename(goneName)
		}), "remove first: %v", removeFirst)
		var name string
		require.NoError(t, pool.QueryRow(ctx, "select name from portfolio where id = $1", kept).Scan(&name))
		assert.Equal(t, goneName, name)
		var n int
		require.NoError(t, pool.QueryRow(ctx, "select count(*) from portfolio where id = $1", gone).Scan(&n))
		assert.Zero(t, n)
	}

	// A new portfolio may take the name too.
	var newID string
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().GetByName(ctx, "a-second")
		require.NoError(t, err)
		require.NoError(t, u.Portfolios().Remove(p))
		q, err := domain.NewPortfolio("a-second", "EUR")
		require.NoError(t, err)
		u.Portfolios().Add(q)
		newID = q.ID().String()
		return nil
	}))
	var currency string
	require.NoError(t, pool.QueryRow(ctx, "select currency from portfolio where name = 'a-second' and id = $1", newID).Scan(&currency))
	assert.Equal(t, "EUR", currency)
}

// Replacing a security in one unit (a currency is fixed for life, so this
// is also how one changes): the new one takes the symbol the removed one
// frees, even when the unit moves the lots from the old one to the new.
func TestARemovedSecuritysSymbolIsFreeInTheSameUnit(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"XYZ"}, "Main")
	buy(t, r, ids["Main"], secs["XYZ"], "3", "4")

	var newID uuid.UUID
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		old, err := u.Securities().GetBySymbol(ctx, "XYZ")
		require.NoError(t, err)
		_, err = p.Sell(old, dec("7"), day.AddDate(0, 0, 5))
		require.NoError(t, err)
		require.NoError(t, u.Securities().Remove(old))

		s, err := domain.NewSecurity("XYZ", "XYZ Holdings", "USD")
		require.NoError(t, err)
		u.Securities().Add(s)
		got, err := u.Securities().GetBySymbol(ctx, "XYZ")
		require.NoError(t, err)
		assert.Same(t, s, got, "the symbol finds the new security")
		_, err = p.Buy(s, dec("7"), dec("9"), day.AddDate(0, 0, 5))
		require.NoError(t, err)
		newID = s.ID()

		// After the flush that deletes the old one, the symbol still
		// finds the new one, without a query.
		require.NoError(t, u.Flush(ctx))
		stats := u.Stats()
		got, err = u.Securities().GetBySymbol(ctx, "xyz")
		require.NoError(t, err)
		assert.Same(t, s, got)
		assert.Equal(t, stats, u.Stats(), "answered from the identity map")
		return nil
	}))
	var id uuid.UUID
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select id, name from security where symbol = 'XYZ'").Scan(&id, &name))
	assert.Equal(t, newID, id)
	assert.Equal(t, "XYZ Holdings", name)
	var lots int
	var held string
	require.NoError(t, pool.QueryRow(ctx,
		"select count(*), trim_scale(sum(quantity))::text from investment where portfolio_id = $1 and security_id = $2",
		ids["Main"], newID).Scan(&lots, &held))
	assert.Equal(t, 1, lots)
	assert.Equal(t, "7", held)
	assert.Equal(t, 1, count(t, pool, "security"))
}

// TestForgottenNewSecurityGivesBackItsSymbol: a new security added for a
// symbol the database has holds the symbol in the unit, so that a stored
// one loaded meanwhile is not found by it; when the new one is removed
// (forgotten), the stored one is found by its symbol again, and a Revalue
// of the symbol updates it once.
func TestForgottenNewSecurityGivesBackItsSymbol(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAA"}, "Main")
	buy(t, r, ids["Main"], secs["AAA"], "1")
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		dup, err := domain.NewSecurity("AAA", "Another AAA", "USD")
		require.NoError(t, err)
		u.Securities().Add(dup)
		_, err = u.Portfolios().Get(ctx, ids["Main"], uow.WithSecurities())
		require.NoError(t, err)
		loaded, err := u.Securities().Get(ctx, secs["AAA"].ID())
		require.NoError(t, err)
		got, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		require.Same(t, dup, got, "the new one holds the symbol")

		require.NoError(t, u.Securities().Remove(dup))
		got, err = u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		assert.Same(t, loaded, got)
		return u.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("12"), Date: day}})
	})
	require.NoError(t, err)
	var price string
	var n int
	require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text, (select count(*) from security) from security where symbol = 'AAA'").Scan(&price, &n))
	assert.Equal(t, "12", price)
	assert.Equal(t, 1, n)
}

// A row the database accepts but the domain refuses (written by another
// tool into a database that did not hold the rule yet, simulated here by
// dropping the constraint) is corrupt data: ErrCorruptRow, with the row's
// id, and not domain.ErrInvalid, which would blame the caller's input.
func TestCorruptRowIsNotInvalidInput(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, []string{"AAPL"}, "Main")
	_, err := pool.Exec(ctx, `alter table portfolio drop constraint portfolio_name_plain`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `update portfolio set name = 'Main'||chr(9) where id = $1`, ids["Main"])
	require.NoError(t, err)
	err = r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().Get(ctx, ids["Main"])
		return err
	})
	require.ErrorIs(t, err, uow.ErrCorruptRow)
	assert.NotErrorIs(t, err, domain.ErrInvalid)
	assert.ErrorContains(t, err, "uow: load portfolio: a stored row breaks the domain's rules: restore portfolio "+ids["Main"].String())
}

// TestSecurityChangesAreCheckedAtReadCommitted: securities carry no
// version, so the statements that write a tracked security's name or price
// check that the columns are still as read. At READ COMMITTED, where the
// server would let a unit overwrite a change committed after its read,
// the unit conflicts instead and is rerun on the new state: nothing is
// lost. Each statement on its own: the rename, the price per security,
// the prices of many in one statement (bulk 1).
func TestSecurityChangesAreCheckedAtReadCommitted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		bulk            int
		rename, reprice bool
		statement       string
	}{
		{"rename", 8, true, false, "UpdateSecurityName"},
		{"price per security", 8, false, true, "UpdateSecurityPrice"},
		{"prices of many", 1, false, true, "UpdateSecurityPricesByID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithBulkThreshold(tc.bulk))
			seed(t, r, []string{"AAA", "BBB"})

			read := make(chan struct{})
			written := make(chan struct{})
			attempts := 0
			var rep uow.Report
			done := make(chan error, 1)
			go func() {
				done <- r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					attempts++
					a, err := u.Securities().GetBySymbol(ctx, "AAA")
					if err != nil {
						return err
					}
					b, err := u.Securities().GetBySymbol(ctx, "BBB")
					if err != nil {
						return err
					}
					if attempts == 1 {
						close(read)
						<-written // the other unit commits after this one read
					}
					if tc.rename {
						if err := a.Rename(a.Name() + " (B)"); err != nil {
							return err
						}
					}
					if !tc.reprice {
						return nil
					}
					pa, _, _ := a.LastPrice()
					pb, _, _ := b.LastPrice()
					if err := a.SetPrice(pa.Add(dec("1")), day.AddDate(0, 0, 2)); err != nil {
						return err
					}
					return b.SetPrice(pb.Add(dec("1")), day.AddDate(0, 0, 2))
				}, uow.WithReport(&rep))
			}()
			<-read
			// Also when this unit fails the test: the other one waits.
			release := sync.OnceFunc(func() { close(written) })
			defer release()
			require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				a, err := u.Securities().GetBySymbol(ctx, "AAA")
				require.NoError(t, err)
				if tc.rename {
					require.NoError(t, a.Rename("Renamed by A"))
				}
				if !tc.reprice {
					return nil
				}
				require.NoError(t, a.SetPrice(dec("20"), day.AddDate(0, 0, 1)))
				b, err := u.Securities().GetBySymbol(ctx, "BBB")
				require.NoError(t, err)
				return b.SetPrice(dec("30"), day.AddDate(0, 0, 1))
			}))
			release()
			require.NoError(t, <-done)
			t.Log("\n" + uowtest.Describe(rep))
			assert.Equal(t, 2, attempts, "the first attempt conflicted")
			assert.Equal(t, 2, rep.Attempts)
			var names []string
			for _, st := range rep.Statements {
				names = append(names, st.Name())
			}
			assert.Contains(t, names, tc.statement)

			var name, pa, pb string
			require.NoError(t, pool.QueryRow(ctx, "select name, trim_scale(last_price)::text from security where symbol = 'AAA'").Scan(&name, &pa))
			require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = 'BBB'").Scan(&pb))
			if tc.rename {
				assert.Equal(t, "Renamed by A (B)", name, "both renames, in order")
			}
			if tc.reprice {
				assert.Equal(t, "21", pa, "B's change on top of A's")
				assert.Equal(t, "31", pb, "B's change on top of A's")
			}
		})
	}
}

// A unit that removed portfolios or securities pages through the rest
// without losing any: the pages are filled up past the removed ones, so
// "a page shorter than the limit is the last" holds.
func TestListPagesPastRemovedAggregates(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	seed(t, r, []string{"AAA", "BBB", "CCC", "DDD", "EEE"}, "a", "b", "c", "d", "e")
	rollback := errors.New("roll back")
	require.Same(t, rollback, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		b, err := u.Portfolios().GetByName(ctx, "b")
		require.NoError(t, err)
		require.NoError(t, u.Portfolios().Remove(b))
		c, err := u.Portfolios().GetByName(ctx, "c")
		require.NoError(t, err)
		require.NoError(t, u.Portfolios().Remove(c))
		var seen []string
		after := ""
		for {
			page, err := u.Portfolios().List(ctx, uow.ListOptions{After: after, Limit: 2})
			require.NoError(t, err)
			seen = append(seen, names(page)...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].Name()
		}
		assert.Equal(t, []string{"a", "d", "e"}, seen)

		s, err := u.Securities().GetBySymbol(ctx, "BBB")
		require.NoError(t, err)
		require.NoError(t, u.Securities().Remove(s))
		var syms []string
		after = ""
		for {
			page, err := u.Securities().List(ctx, uow.ListOptions{After: after, Limit: 2})
			require.NoError(t, err)
			for _, s := range page {
				syms = append(syms, s.Symbol())
			}
			if len(page) < 2 {
				break
			}
			after = strings.ToLower(page[len(page)-1].Symbol()) // a cursor as a user may type it
		}
		assert.Equal(t, []string{"AAA", "CCC", "DDD", "EEE"}, syms)
		return rollback
	}))
}

// A stored security removed, a new one with its symbol added and then
// removed too: the symbol is the removed stored security's again, so
// Revalue and GetBySymbol say it was removed in this unit, instead of
// queueing a quote for a row the flush deletes (which would be lost
// without a word) or loading that row back.
func TestRevalueRemovedAfterReplacementRemoved(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA"})
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		stored, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		require.NoError(t, u.Securities().Remove(stored))
		repl, err := domain.NewSecurity("AAA", "Replacement", "USD")
		require.NoError(t, err)
		u.Securities().Add(repl)
		require.NoError(t, u.Securities().Remove(repl))

		_, err = u.Securities().GetBySymbol(ctx, "AAA")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		err = u.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("5"), Date: day}})
		assert.ErrorIs(t, err, domain.ErrNotFound)
		assert.ErrorContains(t, err, "AAA: removed in this unit")
		return err
	})
	require.ErrorIs(t, err, domain.ErrNotFound)
	assert.Equal(t, 1, count(t, pool, "security"), "the unit failed: nothing deleted")
}

// A quote queued by Revalue stays queued when Add gives its symbol to a
// new object: undoing that Add with Remove (how an Add of a taken symbol is
// undone) leaves the unit as if Add had never been called. The stored row
// is priced, a symbol no row has still fails the flush, and what came after
// the quote wins over it. An Add that stands is inserted as it is.
func TestRevalueQuoteOutlivesAnAddOfItsSymbolUndone(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA"})
	storedPrice := func(symbol string) string {
		t.Helper()
		var price *string
		require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = $1", symbol).Scan(&price))
		if price == nil {
			return ""
		}
		return *price
	}
	// revalueThenAdd queues a quote for symbol at price, then adds a new
	// security with that symbol, which it returns.
	revalueThenAdd := func(u *uow.Unit, symbol, price string) *domain.Security {
		t.Helper()
		require.NoError(t, u.Securities().Revalue([]uow.Quote{{Symbol: symbol, Price: dec(price), Date: day}}))
		s, err := domain.NewSecurity(symbol, "duplicate", "USD")
		require.NoError(t, err)
		u.Securities().Add(s)
		return s
	}
	for _, tc := range []struct {
		name, symbol string
		// between runs after the Add and before the Remove (nil: the
		// Remove alone).
		between   func(ctx context.Context, u *uow.Unit, added *domain.Security)
		wantPrice string
	}{
		{name: "undone", symbol: "AAA", wantPrice: "42"},
		{name: "stored security loaded after the Add", symbol: "AAA", wantPrice: "42",
			between: func(ctx context.Context, u *uow.Unit, added *domain.Security) {
				all, err := u.Securities().List(ctx, uow.ListOptions{})
				require.NoError(t, err)
				require.Len(t, all, 1)
				require.NotSame(t, added, all[0])
				got, _, ok := all[0].LastPrice()
				require.True(t, ok)
				assert.Equal(t, "42", got.String(), "the quote, taken at the load")
			}},
		{name: "a later Revalue while the new object held the symbol", symbol: "AAA", wantPrice: "43",
			between: func(ctx context.Context, u *uow.Unit, _ *domain.Security) {
				require.NoError(t, u.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("43"), Date: day.AddDate(0, 0, 1)}}))
			}},
		{name: "a price set on the stored security loaded since", symbol: "AAA", wantPrice: "44",
			between: func(ctx context.Context, u *uow.Unit, _ *domain.Security) {
				all, err := u.Securities().List(ctx, uow.ListOptions{})
				require.NoError(t, err)
				require.Len(t, all, 1)
				require.NoError(t, all[0].SetPrice(dec("44"), day.AddDate(0, 0, 2)))
			}},
	} {
		require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			added := revalueThenAdd(u, tc.symbol, "42")
			if tc.between != nil {
				tc.between(ctx, u, added)
			}
			return u.Securities().Remove(added)
		}), tc.name)
		assert.Equal(t, tc.wantPrice, storedPrice(tc.symbol), tc.name)
	}

	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		return u.Securities().Remove(revalueThenAdd(u, "NOPE", "42"))
	})
	require.ErrorIs(t, err, domain.ErrNotFound)
	assert.Equal(t, 1, count(t, pool, "security"))

	// The Add that stands, on a symbol no row has: inserted as it is, the
	// earlier quote left out.
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		revalueThenAdd(u, "BBB", "48")
		return nil
	}))
	assert.Equal(t, "", storedPrice("BBB"))
}

// Revalue refuses a quote for a security removed in the same unit, before
// it changes anything: the quote would price nothing.
func TestRevalueOfARemovedSecurityIsNotFound(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA", "BBB"})
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		require.NoError(t, u.Securities().Remove(s))
		err = u.Securities().Revalue([]uow.Quote{{Symbol: "BBB", Price: dec("5"), Date: day}, {Symbol: "aaa", Price: dec("5"), Date: day}})
		assert.ErrorIs(t, err, domain.ErrNotFound)
		assert.ErrorContains(t, err, "AAA: removed in this unit")
		return err
	})
	require.ErrorIs(t, err, domain.ErrNotFound)
	assert.Equal(t, 2, count(t, pool, "security"))
	var price string
	require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = 'BBB'").Scan(&price))
	assert.Equal(t, "10", price)
}

// The day of a portfolio's latest sale is stored with it, whichever
// statement writes the row: the insert of a new portfolio sold from in the
// unit that made it, a rename, a version bump. Loaded again, the portfolio
// refuses a trade dated before it, and a unit that tries writes nothing.
func TestLatestSaleIsStoredAndKeepsTradesInOrder(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10", "5")
	sec := secs["AAPL"]

	var fresh uuid.UUID
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Fresh", "USD")
		require.NoError(t, err)
		_, err = p.Buy(sec, dec("2"), dec("1"), day)
		require.NoError(t, err)
		_, err = p.Sell(sec, dec("1"), day.AddDate(0, 0, 3))
		require.NoError(t, err)
		u.Portfolios().Add(p)
		fresh = p.ID()

		main, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		require.NoError(t, main.Rename("Renamed"))
		_, err = main.Sell(sec, dec("1"), day.AddDate(0, 0, 7))
		return err
	}))
	assert.Equal(t, day.AddDate(0, 0, 3).Format(time.DateOnly), storedLastSale(t, pool, fresh))
	assert.Equal(t, day.AddDate(0, 0, 7).Format(time.DateOnly), storedLastSale(t, pool, ids["Main"]))

	version, lots := stored(t, pool, ids["Main"])
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		last, ok := p.LastSale()
		require.True(t, ok)
		assert.Equal(t, day.AddDate(0, 0, 7), last)
		_, err = p.Buy(sec, dec("1"), dec("1"), day.AddDate(0, 0, 6))
		return err
	})
	require.ErrorIs(t, err, domain.ErrOutOfOrder)
	assert.Contains(t, err.Error(), "the latest sale from this portfolio is dated "+day.AddDate(0, 0, 7).Format(time.DateOnly))
	v, l := stored(t, pool, ids["Main"])
	assert.Equal(t, version, v)
	assert.Equal(t, lots, l)

	// A sale dated before the latest moves nothing back, and a failed
	// nested unit takes its sale's day back with its lots.
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		nested := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := p.Sell(sec, dec("1"), day.AddDate(0, 0, 20))
			require.NoError(t, err)
			return errors.New("changed my mind")
		})
		require.Error(t, nested)
		last, _ := p.LastSale()
		assert.Equal(t, day.AddDate(0, 0, 7), last, "restored with the nested unit's lots")
		_, err = p.Sell(sec, dec("1"), day.AddDate(0, 0, 8))
		return err
	}))
	assert.Equal(t, day.AddDate(0, 0, 8).Format(time.DateOnly), storedLastSale(t, pool, ids["Main"]))
}

// A unit whose trades leave the lots as they were (bought and sold again)
// still changed the portfolio: its latest sale moved, which is saved with
// a version bump, so that a later trade dated before that sale is refused.
func TestTradesThatLeaveTheLotsAsTheyWereAreSaved(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAA"}, "Main")
	v0, _ := stored(t, pool, ids["Main"])
	sold := day.AddDate(0, 0, 3)
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		_, err = p.Buy(secs["AAA"], dec("2"), dec("10"), day)
		require.NoError(t, err)
		_, err = p.Sell(secs["AAA"], dec("2"), sold)
		require.NoError(t, err)
		assert.Zero(t, p.NumInvestments())
		return nil
	}))
	v1, lots := stored(t, pool, ids["Main"])
	assert.Empty(t, lots)
	assert.Equal(t, v0+1, v1)
	assert.Equal(t, sold.Format(time.DateOnly), storedLastSale(t, pool, ids["Main"]))
}
