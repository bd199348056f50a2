package tracker_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func TestCreatePortfolio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("creates", func(t *testing.T) {
		for _, tc := range []struct {
			desc, name, want string
		}{
			{"plain", "Retirement", "Retirement"},
			{"trimmed", "  \t Savings \n", "Savings"},
			{"SQL stored verbatim", "'; DROP TABLE portfolio; --", "'; DROP TABLE portfolio; --"},
			{"quotes and backslashes", `Bob's "fund" \N \x00`, `Bob's "fund" \N \x00`},
			{"LIKE wildcards", "100% _growth_", "100% _growth_"},
			{"unicode", "Épargne 日本 🚀 ﷽", "Épargne 日本 🚀 ﷽"},
			{"longest, in runes", strings.Repeat("€", domain.MaxNameLength), strings.Repeat("€", domain.MaxNameLength)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v, err := e.svc.CreatePortfolio(ctx, tc.name, " eur ")
				require.NoError(t, err)
				assert.Equal(t, tc.want, v.Name)
				assert.Equal(t, "EUR", v.Currency)
				assert.NotNil(t, v.Lots, "an empty list, not null, in JSON")
				assert.Empty(t, v.Lots)

				stored := e.storedPortfolio(t, v.ID)
				assert.Equal(t, storedPortfolio{Name: tc.want, Currency: "EUR", Version: 1}, stored)
				assert.Equal(t, stored.Version, v.Version, "the view carries the stored version")

				got, err := e.svc.Portfolio(ctx, tracker.ByName(tc.want))
				require.NoError(t, err)
				assert.Equal(t, v, got)
			})
		}
		assert.Equal(t, 7, e.count(t, "portfolio"))

		// Names differing only in case are different portfolios.
		a := e.portfolio(t, "Growth")
		b := e.portfolio(t, "GROWTH")
		assert.NotEqual(t, a.ID, b.ID)
		got, err := e.svc.Portfolio(ctx, tracker.ByName("GROWTH"))
		require.NoError(t, err)
		assert.Equal(t, b.ID, got.ID)
	})

	t.Run("refuses", func(t *testing.T) {
		e.portfolio(t, "Taken")
		before := e.dump(t)
		for _, tc := range []struct {
			desc, name, currency string
			want                 error
		}{
			{"empty name", "", "USD", domain.ErrInvalidName},
			{"blank name", " \t\n ", "USD", domain.ErrInvalidName},
			{"tab inside", "a\tb", "USD", domain.ErrInvalidName},
			{"NUL inside", "a\x00b", "USD", domain.ErrInvalidName},
			{"invalid UTF-8", "caf\xe9", "USD", domain.ErrInvalidName},
			{"101 runes", strings.Repeat("€", domain.MaxNameLength+1), "USD", domain.ErrInvalidName},
			{"no currency", "Fine", "", domain.ErrInvalidCurrency},
			{"currency not letters", "Fine", "U$D", domain.ErrInvalidCurrency},
			{"name taken", "Taken", "USD", domain.ErrAlreadyExists},
			{"name taken once trimmed", " Taken ", "EUR", domain.ErrAlreadyExists},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v, err := e.svc.CreatePortfolio(ctx, tc.name, tc.currency)
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, v)
			})
		}
		_, err := e.svc.CreatePortfolio(ctx, "Taken", "USD")
		require.ErrorIs(t, err, domain.ErrConflict)
		assert.Equal(t, before, e.dump(t), "nothing written")
	})
}

func TestPortfolio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Portfolio and Report find nothing for an unknown id or a name that is
	// not exactly a portfolio's.
	t.Run("not found", func(t *testing.T) {
		p := e.portfolio(t, "Real")
		for _, ref := range []tracker.Ref{
			tracker.ByID(uuid.Must(uuid.NewV7())),
			tracker.ByID(uuid.Nil),
			{},
			tracker.ByName("real"),
			tracker.ByName("Real "),
			tracker.ByName("' OR '1'='1"),
			tracker.ByName("%"),
		} {
			v, err := e.svc.Portfolio(ctx, ref)
			require.ErrorIs(t, err, domain.ErrNotFound, "ref %v", ref)
			assert.Zero(t, v)
			r, err := e.svc.Report(ctx, ref)
			require.ErrorIs(t, err, domain.ErrNotFound, "report, ref %v", ref)
			assert.Zero(t, r)
		}
		assert.Equal(t, 1, e.count(t, "portfolio"))
		got, err := e.svc.Portfolio(ctx, tracker.ByID(p.ID))
		require.NoError(t, err)
		assert.Equal(t, "Real", got.Name)
	})

	t.Run("lots in FIFO order", func(t *testing.T) {
		e.security(t, "AAPL", "USD")
		e.security(t, "MSFT", "USD")
		p := e.portfolio(t, "Main")
		b1 := e.trade(t, p.ID, tracker.Buy, "MSFT", "2", "400.5", "2024-02-01")
		b2 := e.trade(t, p.ID, tracker.Buy, "AAPL", "10", "150", "2024-01-15")
		b3 := e.trade(t, p.ID, tracker.Buy, "AAPL", "0.0000000001", "0", "2024-02-01")

		v, err := e.svc.Portfolio(ctx, tracker.ByID(p.ID))
		require.NoError(t, err)
		assert.Equal(t, int64(4), v.Version, "created at 1, bumped by each of 3 buys")
		require.Len(t, v.Lots, 3)
		type lot struct {
			id                          uuid.UUID
			symbol, qty, unit, cost, on string
		}
		var got []lot
		for _, l := range v.Lots {
			got = append(got, lot{l.ID, l.Symbol, l.Quantity.String(), l.UnitCost.String(), l.Cost.String(), l.AcquiredOn.String()})
		}
		assert.Equal(t, []lot{
			{*b2.LotID, "AAPL", "10", "150", "1500", "2024-01-15"},
			{*b1.LotID, "MSFT", "2", "400.5", "801", "2024-02-01"},
			{*b3.LotID, "AAPL", "0.0000000001", "0", "0", "2024-02-01"},
		}, got)

		var secIDs []uuid.UUID
		for _, l := range v.Lots {
			secIDs = append(secIDs, l.SecurityID)
		}
		aapl, err := e.svc.Security(ctx, "AAPL")
		require.NoError(t, err)
		assert.Equal(t, aapl.ID, secIDs[0])
		assert.Equal(t, aapl.ID, secIDs[2])

		byName, err := e.svc.Portfolio(ctx, tracker.ByName("Main"))
		require.NoError(t, err)
		assert.Equal(t, v, byName)
	})
}

func TestPortfolios(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	names := []string{"b-Beta", "a_Alpha", "100% Cash", "Épargne", "'; DROP TABLE portfolio; --", "Gamma"}
	ids := map[string]uuid.UUID{}
	for _, n := range names {
		ids[n] = e.portfolio(t, n).ID
	}
	e.trade(t, ids["Gamma"], tracker.Buy, "AAPL", "3", "10.5", "2024-01-01")
	e.trade(t, ids["Gamma"], tracker.Buy, "AAPL", "1", "0.25", "2024-01-02")

	list := func(opts uow.ListOptions) []string {
		t.Helper()
		ps, err := e.svc.Portfolios(ctx, opts)
		require.NoError(t, err)
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	// Name order is the database's collation; compare as a set, then check
	// that paging walks that order.
	all := list(uow.ListOptions{})
	assert.ElementsMatch(t, names, all)
	var paged []string
	after := ""
	for {
		page := list(uow.ListOptions{After: after, Limit: 4})
		require.LessOrEqual(t, len(page), 4)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	assert.Equal(t, all, paged)

	assert.Equal(t, []string{"100% Cash"}, list(uow.ListOptions{NameContains: "%"}), "wildcards match themselves")
	assert.Equal(t, []string{"a_Alpha"}, list(uow.ListOptions{NameContains: "_"}))
	assert.Equal(t, []string{"Épargne"}, list(uow.ListOptions{NameContains: "ÉPAR"}))
	assert.Equal(t, []string{"'; DROP TABLE portfolio; --"}, list(uow.ListOptions{NameContains: "'; drop"}))
	assert.Empty(t, list(uow.ListOptions{NameContains: "zzz"}))

	ps, err := e.svc.Portfolios(ctx, uow.ListOptions{NameContains: "gam"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, ids["Gamma"], ps[0].ID)
	assert.Equal(t, "USD", ps[0].Currency)
	assert.Equal(t, int64(3), ps[0].Version)
	assert.Equal(t, 2, ps[0].Lots)
	requireDec(t, "31.75", ps[0].CostBasis) // 3 × 10.5 + 1 × 0.25

	ps, err = e.svc.Portfolios(ctx, uow.ListOptions{NameContains: "Beta"})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, 0, ps[0].Lots)
	requireDec(t, "0", ps[0].CostBasis)

	for _, limit := range []int{-5, 1001} {
		_, err := e.svc.Portfolios(ctx, uow.ListOptions{Limit: limit})
		require.ErrorIs(t, err, domain.ErrInvalid, "limit %d", limit)
	}
}

func TestRenamePortfolio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("renames", func(t *testing.T) {
		e.security(t, "AAPL", "USD")
		p := e.portfolio(t, "Old")
		buy := e.trade(t, p.ID, tracker.Buy, "AAPL", "5", "100", "2024-01-01")
		require.Equal(t, int64(2), buy.Version)

		v, err := e.svc.RenamePortfolio(ctx, tracker.ByName("Old"), "  Nouveau 'nom'; --  ", tracker.AtVersion(2))
		require.NoError(t, err)
		assert.Equal(t, "Nouveau 'nom'; --", v.Name)
		assert.Equal(t, int64(3), v.Version)
		require.Len(t, v.Lots, 1)
		assert.Equal(t, "AAPL", v.Lots[0].Symbol, "the view names the securities")
		assert.Equal(t, storedPortfolio{Name: "Nouveau 'nom'; --", Currency: "USD", Version: 3}, e.storedPortfolio(t, p.ID))
		assert.Len(t, e.storedLots(t, p.ID), 1, "lots untouched")

		_, err = e.svc.Portfolio(ctx, tracker.ByName("Old"))
		require.ErrorIs(t, err, domain.ErrNotFound)

		// By id, any version.
		v, err = e.svc.RenamePortfolio(ctx, tracker.ByID(p.ID), "日本株", nil)
		require.NoError(t, err)
		assert.Equal(t, "日本株", v.Name)
		assert.Equal(t, int64(4), v.Version)
		assert.Equal(t, storedPortfolio{Name: "日本株", Currency: "USD", Version: 4}, e.storedPortfolio(t, p.ID))

		// Renaming to the name it has changes nothing, not even the version.
		before := e.dump(t)
		v, err = e.svc.RenamePortfolio(ctx, tracker.ByID(p.ID), " 日本株 ", tracker.AtVersion(4))
		require.NoError(t, err)
		assert.Equal(t, "日本株", v.Name)
		assert.Equal(t, int64(4), v.Version)
		assert.Equal(t, before, e.dump(t))
	})

	t.Run("refuses", func(t *testing.T) {
		p := e.portfolio(t, "Mine")
		e.portfolio(t, "Theirs")
		_, err := e.svc.RenamePortfolio(ctx, tracker.ByID(p.ID), "Mine2", nil) // version 2
		require.NoError(t, err)
		before := e.dump(t)

		for _, tc := range []struct {
			desc   string
			ref    tracker.Ref
			name   string
			expect int64
			want   error
		}{
			{"unknown id", tracker.ByID(uuid.Must(uuid.NewV7())), "X", 0, domain.ErrNotFound},
			{"unknown name", tracker.ByName("Mine"), "X", 0, domain.ErrNotFound},
			{"empty name", tracker.ByID(p.ID), "", 0, domain.ErrInvalidName},
			{"blank name", tracker.ByID(p.ID), "   ", 2, domain.ErrInvalidName},
			{"control character", tracker.ByID(p.ID), "new\rname", 0, domain.ErrInvalidName},
			{"too long", tracker.ByID(p.ID), strings.Repeat("x", 101), 0, domain.ErrInvalidName},
			{"name taken", tracker.ByID(p.ID), "Theirs", 0, domain.ErrAlreadyExists},
			{"name taken, right version", tracker.ByName("Mine2"), " Theirs", 2, domain.ErrAlreadyExists},
			{"stale version", tracker.ByID(p.ID), "Fresh", 1, tracker.ErrPreconditionFailed},
			{"future version", tracker.ByName("Mine2"), "Fresh", 3, tracker.ErrPreconditionFailed},
			{"negative version", tracker.ByID(p.ID), "Fresh", -2, tracker.ErrPreconditionFailed},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v, err := e.svc.RenamePortfolio(ctx, tc.ref, tc.name, tracker.AtVersion(tc.expect))
				require.ErrorIs(t, err, tc.want)
				assert.Zero(t, v)
			})
		}
		_, err = e.svc.RenamePortfolio(ctx, tracker.ByID(p.ID), "Fresh", tracker.AtVersion(1))
		assert.ErrorContains(t, err, "version 2, not 1")
		assert.Equal(t, before, e.dump(t), "nothing written")
	})
}

func TestDeletePortfolio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("deletes with its lots", func(t *testing.T) {
		e.security(t, "AAPL", "USD")
		keep := e.portfolio(t, "Keep")
		gone := e.portfolio(t, "Gone")
		e.trade(t, keep.ID, tracker.Buy, "AAPL", "1", "1", "2024-01-01")
		e.trade(t, gone.ID, tracker.Buy, "AAPL", "2", "1", "2024-01-01")
		e.trade(t, gone.ID, tracker.Buy, "AAPL", "3", "1", "2024-01-02")
		require.Equal(t, 3, e.count(t, "investment"))

		require.NoError(t, e.svc.DeletePortfolio(ctx, tracker.ByID(gone.ID), tracker.AtVersion(3)))
		_, err := e.svc.Portfolio(ctx, tracker.ByID(gone.ID))
		require.ErrorIs(t, err, domain.ErrNotFound)
		assert.Equal(t, 1, e.count(t, "portfolio"))
		assert.Equal(t, 1, e.count(t, "investment"), "its lots went with it, the other's stayed")
		assert.Len(t, e.storedLots(t, keep.ID), 1)
		assert.Equal(t, 1, e.count(t, "security"), "securities are not part of the portfolio")

		require.NoError(t, e.svc.DeletePortfolio(ctx, tracker.ByName("Keep"), nil))
		assert.Equal(t, 0, e.count(t, "portfolio"))
		assert.Equal(t, 0, e.count(t, "investment"))

		// A name is free again once its portfolio is deleted.
		again := e.portfolio(t, "Gone")
		assert.NotEqual(t, gone.ID, again.ID)
		assert.Equal(t, int64(1), again.Version)
	})

	t.Run("refuses", func(t *testing.T) {
		e.security(t, "DEL", "USD")
		p := e.portfolio(t, "Mine")
		e.trade(t, p.ID, tracker.Buy, "DEL", "1", "1", "2024-01-01") // version 2
		before := e.dump(t)
		for _, tc := range []struct {
			desc   string
			ref    tracker.Ref
			expect int64
			want   error
		}{
			{"unknown id", tracker.ByID(uuid.Must(uuid.NewV7())), 0, domain.ErrNotFound},
			{"unknown name", tracker.ByName("mine"), 0, domain.ErrNotFound},
			{"SQL for a name", tracker.ByName("' OR 1=1; --"), 0, domain.ErrNotFound},
			{"stale version", tracker.ByID(p.ID), 1, tracker.ErrPreconditionFailed},
			{"stale version by name", tracker.ByName("Mine"), 1, tracker.ErrPreconditionFailed},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				require.ErrorIs(t, e.svc.DeletePortfolio(ctx, tc.ref, tracker.AtVersion(tc.expect)), tc.want)
			})
		}
		assert.Equal(t, before, e.dump(t), "nothing deleted")

		// Deleting twice: the second finds nothing.
		require.NoError(t, e.svc.DeletePortfolio(ctx, tracker.ByID(p.ID), tracker.AtVersion(2)))
		require.ErrorIs(t, e.svc.DeletePortfolio(ctx, tracker.ByID(p.ID), nil), domain.ErrNotFound)
	})
}

// Of many renames racing with the same expected version, exactly one wins;
// the others are told the portfolio changed.
func TestRenamePortfolioRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.portfolio(t, "Start")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.svc.RenamePortfolio(ctx, tracker.ByID(p.ID), "Winner "+string(rune('A'+i)), tracker.AtVersion(1))
		})
	}
	wg.Wait()
	var winners []string
	for i, err := range errs {
		if err == nil {
			winners = append(winners, "Winner "+string(rune('A'+i)))
			continue
		}
		require.ErrorIs(t, err, tracker.ErrPreconditionFailed)
	}
	require.Len(t, winners, 1)
	assert.Equal(t, storedPortfolio{Name: winners[0], Currency: "USD", Version: 2}, e.storedPortfolio(t, p.ID))
}
