package uow_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// The statements a unit sends are read back from the tracer (uow.Report),
// by the sqlc name at the head of each; these tests pin what the unit of
// work promises to send.

const begin = "begin isolation level repeatable read"

func TestUnchangedAggregateWritesNothing(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10", "5")
	v0, _ := stored(t, pool, ids["Main"])

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		require.NoError(t, p.Rename(p.Name())) // a no-op change is no change
		return nil
	}, uow.WithReport(&rep)))

	assert.Equal(t, []string{begin, "GetPortfolio", "ListInvestmentsByPortfolio", "commit"}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 4, RoundTrips: 2})
	v1, _ := stored(t, pool, ids["Main"])
	assert.Equal(t, v0, v1, "version must not move without a change")
}

// Changes that cancel out (a rename and back, a lot bought and removed)
// leave the aggregate as loaded: nothing is written, the version stays.
func TestNetZeroChangeWritesNothing(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	v0, lots0 := stored(t, pool, ids["Main"])

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		before := p.Changes()
		require.NoError(t, p.Rename("Other"))
		require.NoError(t, p.Rename("Main"))
		lot, err := p.Buy(secs["AAPL"], dec("1"), dec("1"), day)
		require.NoError(t, err)
		require.NoError(t, p.RemoveInvestment(lot.ID()))
		require.NotEqual(t, before, p.Changes(), "the object did change on the way")
		return nil
	}, uow.WithReport(&rep)))

	assert.Equal(t, []string{begin, "GetPortfolio", "ListInvestmentsByPortfolio", "commit"}, uowtest.Names(rep))
	v1, lots1 := stored(t, pool, ids["Main"])
	assert.Equal(t, v0, v1, "version must not move without a net change")
	assert.Equal(t, lots0, lots1)
}

func TestChangedQuantityUpdatesThatColumnAndVersionInTwoRoundTrips(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10", "5")
	v0, lots0 := stored(t, pool, ids["Main"])

	sell := func(qty string) func(context.Context, *uow.Unit) error {
		return func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().Get(ctx, ids["Main"])
			if err != nil {
				return err
			}
			_, err = p.Sell(secs["AAPL"], dec(qty), day.AddDate(0, 0, 5))
			return err
		}
	}

	var rep uow.Report
	require.NoError(t, r.Do(ctx, sell("3"), uow.WithReport(&rep)))

	// Read: BEGIN rides with the two loads. Write: the version check and
	// the one changed column ride with COMMIT.
	assert.Equal(t, []string{
		begin, "GetPortfolio", "ListInvestmentsByPortfolio",
		"BumpPortfolioVersion", "UpdateInvestmentQuantity", "commit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 6, RoundTrips: 2})
	update := rep.Statements[4].SQL
	assert.Contains(t, update, "SET quantity = $1, updated_at = now()")
	for _, col := range []string{"unit_cost", "acquired_on", "security_id", "portfolio_id"} {
		assert.NotContains(t, update, col)
	}

	v1, lots1 := stored(t, pool, ids["Main"])
	assert.Equal(t, v0+1, v1)
	require.Len(t, lots1, 2)
	changed := 0
	for id, q := range lots1 {
		if q != lots0[id] {
			changed++
			assert.Equal(t, "7.0000000000", q)
		}
	}
	assert.Equal(t, 1, changed)
}

func TestRemovedLotIsOneDelete(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10", "5", "1")
	_, lots0 := stored(t, pool, ids["Main"])

	var gone uuid.UUID
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		gone = p.Investments()[1].ID()
		return p.RemoveInvestment(gone)
	}, uow.WithReport(&rep)))

	assert.Equal(t, []string{
		begin, "GetPortfolio", "ListInvestmentsByPortfolio",
		"BumpPortfolioVersion", "DeleteInvestments", "commit",
	}, uowtest.Names(rep))
	_, lots1 := stored(t, pool, ids["Main"])
	assert.Len(t, lots1, len(lots0)-1)
	assert.NotContains(t, lots1, gone)
}

func TestSellingWholeLotsDeletesThemInOneStatement(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "1", "2", "3", "4")

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		_, err = p.Sell(secs["AAPL"], dec("7"), day.AddDate(0, 1, 0)) // lots 1, 2, 3 whole, 1 of 4
		return err
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		begin, "GetPortfolio", "ListInvestmentsByPortfolio",
		"BumpPortfolioVersion", "DeleteInvestments", "UpdateInvestmentQuantity", "commit",
	}, uowtest.Names(rep))
	_, lots := stored(t, pool, ids["Main"])
	require.Len(t, lots, 1)
	for _, q := range lots {
		assert.Equal(t, "3.0000000000", q)
	}
}

func TestLoadingManyPortfoliosIsTwoStatementsInOneRoundTrip(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, _ := seed(t, r, []string{"AAPL", "MSFT"})
	var ids []uuid.UUID
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		for i := range 100 {
			p, err := domain.NewPortfolio("P"+strings.Repeat("x", i%7)+uuid.NewString()[:8], "USD")
			require.NoError(t, err)
			for j := range 3 {
				sec := secs["AAPL"]
				if j == 2 {
					sec = secs["MSFT"]
				}
				_, err := p.Buy(sec, dec("1.5"), dec("2"), day.AddDate(0, 0, j))
				require.NoError(t, err)
			}
			u.Portfolios().Add(p)
			ids = append(ids, p.ID())
		}
		return nil
	}))

	// A Read unit: BEGIN READ ONLY, the two loads and COMMIT in one round
	// trip, whatever the number of portfolios.
	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, ids)
		require.NoError(t, err)
		require.Len(t, ps, 100)
		for i, p := range ps {
			require.Equal(t, ids[i], p.ID(), "GetMany keeps the order asked for")
			require.Len(t, p.Investments(), 3)
		}
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"begin isolation level repeatable read read only",
		"GetPortfoliosByIDs", "ListInvestmentsByPortfolioIDs", "commit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 4, RoundTrips: 1})

	// With their securities: a third statement, still one round trip; and
	// then the securities are in the identity map.
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().GetMany(ctx, ids, uow.WithSecurities())
		require.NoError(t, err)
		before := u.Stats()
		_, err = u.Securities().GetBySymbol(ctx, "MSFT")
		require.NoError(t, err)
		assert.Equal(t, before, u.Stats(), "securities came along")
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"begin isolation level repeatable read read only",
		"GetPortfoliosByIDs", "ListInvestmentsByPortfolioIDs", "GetSecuritiesOfPortfolios", "commit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 5, RoundTrips: 1})

	// Portfolios already loaded are not loaded again: asked for their
	// securities, the unit sends only that statement.
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().GetMany(ctx, ids)
		require.NoError(t, err)
		_, err = u.Portfolios().GetMany(ctx, ids, uow.WithSecurities())
		return err
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"begin isolation level repeatable read read only", "GetPortfoliosByIDs", "ListInvestmentsByPortfolioIDs", "commit",
		"begin isolation level repeatable read read only", "GetSecuritiesOfPortfolios", "commit",
	}, uowtest.Names(rep))

	// In a Do unit, or a Read unit WithSnapshot, the transaction stays
	// open: a load is exactly its two statements in one round trip.
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Securities().GetBySymbol(ctx, "AAPL")
		require.NoError(t, err)
		before := u.Stats()
		_, err = u.Portfolios().GetMany(ctx, ids)
		require.NoError(t, err)
		after := u.Stats()
		assert.Equal(t, uow.Stats{Statements: 2, RoundTrips: 1},
			uow.Stats{Statements: after.Statements - before.Statements, RoundTrips: after.RoundTrips - before.RoundTrips})
		return nil
	}, uow.WithSnapshot(), uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"begin isolation level repeatable read read only", "GetSecuritiesBySymbols",
		"GetPortfoliosByIDs", "ListInvestmentsByPortfolioIDs", "commit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 5, RoundTrips: 3})
}

func TestIdentityMapReturnsSamePointerWithoutQuery(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")

	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		a, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		before := u.Stats()
		b, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		assert.Same(t, a, b)
		assert.Equal(t, before, u.Stats(), "second Get must not query")

		many, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["Main"]})
		require.NoError(t, err)
		assert.Same(t, a, many[0])
		assert.Equal(t, before, u.Stats())

		// By name the unit must ask (names change), but hands back the
		// object it has.
		c, err := u.Portfolios().GetByName(ctx, "Main")
		require.NoError(t, err)
		assert.Same(t, a, c)

		s1, err := u.Securities().GetBySymbol(ctx, "AAPL")
		require.NoError(t, err)
		before = u.Stats()
		s2, err := u.Securities().Get(ctx, s1.ID())
		require.NoError(t, err)
		assert.Same(t, s1, s2)
		assert.Equal(t, before, u.Stats())

		// Asking for its securities too sends nothing when the unit has
		// them all, and loads them when it does not.
		d, err := u.Portfolios().Get(ctx, ids["Main"], uow.WithSecurities())
		require.NoError(t, err)
		assert.Same(t, a, d)
		assert.Equal(t, before, u.Stats(), "the unit has the portfolio and its securities")
		return nil
	}))
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		before := u.Stats()
		q, err := u.Portfolios().Get(ctx, ids["Main"], uow.WithSecurities())
		require.NoError(t, err)
		assert.Same(t, p, q)
		assert.Equal(t, before.RoundTrips+1, u.Stats().RoundTrips, "the securities are loaded")
		m, err := u.Securities().Map(ctx, []uuid.UUID{secs["AAPL"].ID()})
		require.NoError(t, err)
		assert.Equal(t, before.RoundTrips+1, u.Stats().RoundTrips, "and tracked")
		_, err = p.Value(m)
		return err
	}))
}

func TestNewPortfolioWithManyLotsIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, _ := seed(t, r, []string{"AAPL"})
	var rep uow.Report
	var id uuid.UUID
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Big", "USD")
		require.NoError(t, err)
		for i := range 1000 {
			_, err := p.Buy(secs["AAPL"], dec("1"), dec("1"), day.AddDate(0, 0, i%300))
			require.NoError(t, err)
		}
		u.Portfolios().Add(p)
		id = p.ID()
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{begin, "InsertPortfolio", "InsertInvestments", "commit"}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 4, RoundTrips: 1})
	v, lots := stored(t, pool, id)
	assert.Equal(t, int64(1), v)
	assert.Len(t, lots, 1000)
}

func TestFewNewLotsAreSeparateInserts(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithBulkThreshold(2))
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		for i := range 2 {
			_, err := p.Buy(secs["AAPL"], dec(fmt.Sprint(i+1)), dec("1"), day)
			require.NoError(t, err)
		}
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		begin, "GetPortfolio", "ListInvestmentsByPortfolio",
		"BumpPortfolioVersion", "InsertInvestment", "InsertInvestment", "commit",
	}, uowtest.Names(rep))
	v, lots := stored(t, pool, ids["Main"])
	assert.Equal(t, int64(2), v)
	assert.ElementsMatch(t, []string{"1.0000000000", "2.0000000000"}, slices.Collect(maps.Values(lots)))
}

func TestUnitThatTouchesNothingSendsNothing(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(context.Context, *uow.Unit) error { return nil }, uow.WithReport(&rep)))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 0, RoundTrips: 0})
	assert.Zero(t, pool.Stat().AcquireCount(), "no connection taken")
}

// A unit that changes the lots of several portfolios bumps their versions
// with one statement each (which PostgreSQL plans once), or, above the bulk
// threshold, all in one statement.
func TestChangedPortfoliosVersionBumps(t *testing.T) {
	t.Parallel()
	t.Run("few", func(t *testing.T) {
		t.Parallel()
		testVersionBumps(t, nil, "BumpPortfolioVersion", "BumpPortfolioVersion")
	})
	t.Run("above the threshold", func(t *testing.T) {
		t.Parallel()
		testVersionBumps(t, []uow.Option{uow.WithBulkThreshold(1)}, "BumpPortfolioVersions")
	})
}

func testVersionBumps(t *testing.T, opts []uow.Option, bumps ...string) {
	pool, r := newDB(t, opts...)
	secs, ids := seed(t, r, []string{"AAPL"}, "A", "B", "C")
	for _, n := range []string{"A", "B", "C"} {
		buy(t, r, ids[n], secs["AAPL"], "10")
	}
	va, _ := stored(t, pool, ids["A"])
	vb, _ := stored(t, pool, ids["B"])
	vc, _ := stored(t, pool, ids["C"])

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["A"], ids["B"], ids["C"]})
		require.NoError(t, err)
		if _, err := ps[0].Sell(secs["AAPL"], dec("1"), day.AddDate(0, 0, 1)); err != nil {
			return err
		}
		_, err = ps[1].Buy(secs["AAPL"], dec("1"), dec("7"), day.AddDate(0, 0, 1))
		return err // C is loaded and left alone
	}, uow.WithReport(&rep)))

	load := []string{"GetPortfolio", "ListInvestmentsByPortfolio"} // a few: one id each
	want := slices.Concat([]string{begin}, load, load, load, bumps)
	want = append(want, "UpdateInvestmentQuantity", "InsertInvestment", "commit")
	assert.Equal(t, want, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: len(want), RoundTrips: 2})

	a, lotsA := stored(t, pool, ids["A"])
	b, lotsB := stored(t, pool, ids["B"])
	c, _ := stored(t, pool, ids["C"])
	assert.Equal(t, []int64{va + 1, vb + 1, vc}, []int64{a, b, c})
	assert.Len(t, lotsA, 1)
	assert.Len(t, lotsB, 2)
	// The bump of the portfolio sold from carries the day of its sale.
	sold := day.AddDate(0, 0, 1).Format(time.DateOnly)
	assert.Equal(t, []string{sold, "", ""},
		[]string{storedLastSale(t, pool, ids["A"]), storedLastSale(t, pool, ids["B"]), storedLastSale(t, pool, ids["C"])})

	// The objects carry the new versions: a second change in another unit
	// is checked against them.
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["A"], ids["B"]})
		require.NoError(t, err)
		assert.Equal(t, []int64{va + 1, vb + 1}, []int64{ps[0].Version(), ps[1].Version()})
		for _, p := range ps {
			if _, err := p.Sell(secs["AAPL"], dec("1"), day.AddDate(0, 0, 2)); err != nil {
				return err
			}
		}
		return nil
	}))
	a, _ = stored(t, pool, ids["A"])
	b, _ = stored(t, pool, ids["B"])
	assert.Equal(t, []int64{va + 2, vb + 2}, []int64{a, b})
	sold = day.AddDate(0, 0, 2).Format(time.DateOnly)
	assert.Equal(t, []string{sold, sold}, []string{storedLastSale(t, pool, ids["A"]), storedLastSale(t, pool, ids["B"])})
}

// A rename or a delete locks its row with a statement of its own; the
// bumps beside it then keep theirs too, even above the bulk threshold, so
// that every row lock is still taken in id order.
func TestRenameOrDeleteBesideBumpsKeepsOneStatementPerPortfolio(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		change func(*uow.Unit, *domain.Portfolio) error
		stmt   string
	}{
		{"rename", func(_ *uow.Unit, p *domain.Portfolio) error { return p.Rename("Renamed") }, "UpdatePortfolioName"},
		{"delete", func(u *uow.Unit, p *domain.Portfolio) error { return u.Portfolios().Remove(p) }, "DeletePortfolio"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pool, r := newDB(t, uow.WithBulkThreshold(1))
			secs, ids := seed(t, r, []string{"AAPL"}, "A", "B", "C")
			for _, n := range []string{"A", "B", "C"} {
				buy(t, r, ids[n], secs["AAPL"], "10")
			}
			order := []uuid.UUID{ids["A"], ids["B"], ids["C"]}
			slices.SortFunc(order, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })

			var rep uow.Report
			require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				ps, err := u.Portfolios().GetMany(ctx, order)
				require.NoError(t, err)
				require.NoError(t, c.change(u, ps[1]))
				for _, i := range []int{0, 2} {
					if _, err := ps[i].Sell(secs["AAPL"], dec("1"), day.AddDate(0, 0, 1)); err != nil {
						return err
					}
				}
				return nil
			}, uow.WithReport(&rep)))

			// ps[1] has the middle id: its statement comes between the two bumps.
			load := []string{"GetPortfolio", "ListInvestmentsByPortfolio"}
			assert.Equal(t, slices.Concat([]string{begin}, load, load, load, []string{
				"BumpPortfolioVersion", c.stmt, "BumpPortfolioVersion", "UpdateInvestmentQuantities", "commit",
			}), uowtest.Names(rep))
			for _, i := range []int{0, 2} {
				v, lots := stored(t, pool, order[i])
				assert.Equal(t, int64(3), v, "portfolio %d: created, bought, changed", i)
				assert.Len(t, lots, 1)
			}
		})
	}
}

// A few portfolios load with statements of their own per id, which
// PostgreSQL plans once, still in one round trip; duplicates are loaded
// once, a missing one is not found, and WithSecurities brings the
// securities along.
func TestGetManyFewIsOneStatementPairPerID(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL", "MSFT"}, "A", "B")
	buy(t, r, ids["A"], secs["AAPL"], "1", "2")
	buy(t, r, ids["B"], secs["MSFT"], "3")

	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["B"], ids["A"], ids["B"]}, uow.WithSecurities())
		require.NoError(t, err)
		require.Len(t, ps, 3)
		assert.Same(t, ps[0], ps[2])
		assert.Equal(t, []string{"B", "A"}, []string{ps[0].Name(), ps[1].Name()})
		assert.Equal(t, 2, ps[1].NumInvestments())
		assert.Equal(t, 1, ps[0].NumInvestments())
		before := u.Stats()
		for _, sym := range []string{"AAPL", "MSFT"} {
			_, err := u.Securities().GetBySymbol(ctx, sym)
			require.NoError(t, err)
		}
		assert.Equal(t, before, u.Stats(), "the securities came with the portfolios")

		_, err = u.Portfolios().GetMany(ctx, []uuid.UUID{ids["A"], uuid.New(), uuid.New()})
		assert.ErrorIs(t, err, domain.ErrNotFound)
		return nil
	}, uow.WithReport(&rep)))

	each := []string{"GetPortfolio", "ListInvestmentsByPortfolio", "GetSecuritiesOfPortfolio"}
	missing := []string{"GetPortfolio", "ListInvestmentsByPortfolio"}
	assert.Equal(t, slices.Concat(
		[]string{"begin isolation level repeatable read read only"}, each, each, []string{"commit"},
		[]string{"begin isolation level repeatable read read only"}, missing, missing, []string{"commit"},
	), uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 14, RoundTrips: 2})
}

// Only what reaches the server counts: a round trip refused before it is
// sent (its context already done, which fn shrugs off) is no round trip.
func TestARoundTripNeverSentIsNotCounted(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	_, ids := seed(t, r, nil, "Main", "Other")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		before := u.Stats()
		done, cancel := context.WithCancel(ctx)
		cancel()
		_, err = u.Portfolios().Get(done, ids["Other"])
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, before, u.Stats())
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"begin isolation level repeatable read", "GetPortfolio", "ListInvestmentsByPortfolio", "commit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 4, RoundTrips: 2})
}

// At READ COMMITTED each statement reads the latest commits, so the lots
// of a page cannot be loaded by the page's bounds beside the page: a
// portfolio that came or went between the two statements would shift the
// second one, and leave a listed portfolio without its lots. There, List
// loads the lots by the ids it found, in a second round trip; at the
// default level the two statements see one snapshot and share one.
func TestListAtReadCommittedLoadsTheLotsOfThePortfoliosListed(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "A", "B", "C")
	buy(t, r, ids["A"], secs["AAPL"], "1", "2")
	buy(t, r, ids["C"], secs["AAPL"], "3")
	for _, tc := range []struct {
		name  string
		opts  []uow.Option
		names []string
		cost  uowtest.Cost
	}{
		{"repeatable read", nil, []string{
			"begin isolation level repeatable read", "ListPortfolios", "ListInvestmentsForPortfolioList", "commit",
		}, uowtest.Cost{Statements: 8, RoundTrips: 4}},
		// The third List finds only portfolios the unit has: no lots
		// round trip.
		{"read committed", []uow.Option{uow.WithIsolation(pgx.ReadCommitted)}, []string{
			"begin isolation level read committed", "ListPortfolios", "ListInvestmentsByPortfolioIDs", "commit",
		}, uowtest.Cost{Statements: 7, RoundTrips: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep uow.Report
			require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				ps, err := u.Portfolios().List(ctx, uow.ListOptions{Limit: 2})
				require.NoError(t, err)
				require.Len(t, ps, 2)
				assert.Equal(t, []string{"A", "B"}, []string{ps[0].Name(), ps[1].Name()})
				assert.Equal(t, 2, ps[0].NumInvestments())
				assert.Zero(t, ps[1].NumInvestments())
				ps, err = u.Portfolios().List(ctx, uow.ListOptions{After: "B"})
				require.NoError(t, err)
				require.Len(t, ps, 1)
				assert.Equal(t, 1, ps[0].NumInvestments())
				again, err := u.Portfolios().List(ctx, uow.ListOptions{Limit: 2})
				require.NoError(t, err)
				assert.Equal(t, []string{"A", "B"}, []string{again[0].Name(), again[1].Name()})
				return nil
			}, append(tc.opts, uow.WithReport(&rep))...))
			names := uowtest.Names(rep)
			assert.Equal(t, tc.names, slices.Delete(slices.Clone(names), 3, len(names)-1), "the first List")
			uowtest.RequireCost(t, rep, tc.cost)
		})
	}
}

// GetByName at READ COMMITTED, for the reason List loads a page's lots by
// id there: lots loaded by the name beside the portfolio row could be
// another portfolio's, were the name passed from one to the other between
// the two statements. There the lots (and securities) come by the id
// found, in a second round trip; at the default level, or with ForUpdate,
// whose lock holds the name and lots still, one round trip does.
func TestGetByNameAtReadCommittedLoadsTheLotsOfThePortfolioFound(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL", "MSFT"}, "A", "B")
	buy(t, r, ids["A"], secs["AAPL"], "1", "2")
	buy(t, r, ids["B"], secs["MSFT"], "3")
	for _, tc := range []struct {
		name  string
		opts  []uow.Option
		names []string
		cost  uowtest.Cost
	}{
		{"repeatable read", nil, []string{
			"begin isolation level repeatable read",
			"GetPortfolioByNameForUpdate", "ListInvestmentsByPortfolioName", "GetSecuritiesOfPortfolioByName",
			"GetPortfolioByName", "ListInvestmentsByPortfolioName",
			"GetPortfolioByName", "ListInvestmentsByPortfolioName",
			"GetPortfolioByName", "ListInvestmentsByPortfolioName", "GetSecuritiesOfPortfolioByName",
			"commit",
		}, uowtest.Cost{Statements: 12, RoundTrips: 5}},
		{"read committed", []uow.Option{uow.WithIsolation(pgx.ReadCommitted)}, []string{
			"begin isolation level read committed",
			"GetPortfolioByNameForUpdate", "ListInvestmentsByPortfolioName", "GetSecuritiesOfPortfolioByName",
			"GetPortfolioByName",
			"GetPortfolioByName",
			"GetPortfolioByName", "GetPortfolio", "ListInvestmentsByPortfolio", "GetSecuritiesOfPortfolio",
			"commit",
		}, uowtest.Cost{Statements: 11, RoundTrips: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep uow.Report
			require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				a, err := u.Portfolios().GetByName(ctx, "A", uow.ForUpdate(), uow.WithSecurities())
				require.NoError(t, err)
				assert.Equal(t, ids["A"], a.ID())
				assert.Equal(t, 2, a.NumInvestments())
				before := u.Stats()
				s, err := u.Securities().Get(ctx, secs["AAPL"].ID())
				require.NoError(t, err)
				assert.Equal(t, "AAPL", s.Symbol())
				assert.Equal(t, before, u.Stats(), "the securities came with the portfolio")

				// The unit's own object needs no lots.
				again, err := u.Portfolios().GetByName(ctx, "A")
				require.NoError(t, err)
				assert.Same(t, a, again)

				_, err = u.Portfolios().GetByName(ctx, "Nowhere")
				require.ErrorIs(t, err, domain.ErrNotFound)

				b, err := u.Portfolios().GetByName(ctx, "B", uow.WithSecurities())
				require.NoError(t, err)
				assert.Equal(t, ids["B"], b.ID())
				require.Equal(t, 1, b.NumInvestments())
				for l := range b.Lots() {
					assert.Equal(t, secs["MSFT"].ID(), l.SecurityID())
					assert.Equal(t, "3", l.Quantity().String())
				}
				return nil
			}, append(tc.opts, uow.WithReport(&rep))...))
			assert.Equal(t, tc.names, uowtest.Names(rep))
			uowtest.RequireCost(t, rep, tc.cost)
		})
	}
}
