package uow_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

func storedNames(t *testing.T, pool *pgxpool.Pool, ids ...uuid.UUID) []string {
	t.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = storedName(t, pool, id)
	}
	return out
}

func storedVersions(t *testing.T, pool *pgxpool.Pool, ids ...uuid.UUID) []int64 {
	t.Helper()
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i], _ = stored(t, pool, id)
	}
	return out
}

// renameAll renames, in one unit, the portfolio of each id to the name
// given for it, in the order given.
func renameAll(r *uow.Runner, ids []uuid.UUID, to []string, opts ...uow.Option) error {
	return r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, ids)
		if err != nil {
			return err
		}
		for i, p := range ps {
			if err := p.Rename(to[i]); err != nil {
				return err
			}
		}
		return nil
	}, opts...)
}

// Names pass between the portfolios of one flush, whatever the ids' order:
// a swap, a rotation, a rename onto a name another rename gives up.
func TestRenamesPassNamesWithinAFlush(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	early, err := domain.NewPortfolio("Early", "USD") // its id sorts first
	require.NoError(t, err)
	_, ids := seed(t, r, nil, "A", "B", "C")
	a, b, c := ids["A"], ids["B"], ids["C"]
	require.Less(t, a.String(), b.String(), "UUIDv7: made later, sorts later")
	require.Less(t, b.String(), c.String())

	var rep uow.Report
	require.NoError(t, renameAll(r, []uuid.UUID{a, b}, []string{"B", "A"}, uow.WithReport(&rep)), "swap")
	assert.Equal(t, []string{"B", "A", "C"}, storedNames(t, pool, a, b, c))
	assert.Equal(t, []int64{2, 2, 1}, storedVersions(t, pool, a, b, c), "a rename is a change of the aggregate")
	got := uowtest.Names(rep)
	require.GreaterOrEqual(t, len(got), 5, uowtest.Describe(rep))
	assert.Equal(t, []string{"DeferPortfolioNameCheck", "UpdatePortfolioName", "UpdatePortfolioName", "CheckPortfolioNames", "commit"},
		got[len(got)-5:], uowtest.Describe(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: uowtest.Any, RoundTrips: 2})

	// The smaller id takes the name the larger gives up, and the other way.
	require.NoError(t, renameAll(r, []uuid.UUID{a, c}, []string{"C", "D"}))
	assert.Equal(t, []string{"C", "A", "D"}, storedNames(t, pool, a, b, c))
	require.NoError(t, renameAll(r, []uuid.UUID{c, b}, []string{"E", "D"}))
	assert.Equal(t, []string{"C", "D", "E"}, storedNames(t, pool, a, b, c))

	// A rotation of three.
	require.NoError(t, renameAll(r, []uuid.UUID{a, b, c}, []string{"D", "E", "C"}))
	assert.Equal(t, []string{"D", "E", "C"}, storedNames(t, pool, a, b, c))

	// A new portfolio takes a renamed one's old name, its id the smaller.
	require.Less(t, early.ID().String(), c.String())
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, c)
		if err != nil {
			return err
		}
		require.NoError(t, early.Rename("C"))
		u.Portfolios().Add(early)
		return p.Rename("F")
	}))
	assert.Equal(t, []string{"D", "E", "F", "C"}, storedNames(t, pool, a, b, c, early.ID()))
	assert.Equal(t, []int64{4, 4, 5, 1}, storedVersions(t, pool, a, b, c, early.ID()), "one version per unit that renamed")

	// A rename without a name passing sends no SET CONSTRAINTS.
	require.NoError(t, renameAll(r, []uuid.UUID{a}, []string{"G"}, uow.WithReport(&rep)))
	assert.NotContains(t, uowtest.Names(rep), "DeferPortfolioNameCheck")
}

// The names are still unique once the flush is done: a swap that also
// takes the name of a portfolio outside the unit fails whole.
func TestPassedNamesMustEndUnique(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "A", "B", "Outside")
	a, b, out := ids["A"], ids["B"], ids["Outside"]
	err := renameAll(r, []uuid.UUID{a, b}, []string{"Outside", "A"})
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.Contains(t, err.Error(), "save portfolio names")
	assert.Equal(t, []string{"A", "B", "Outside"}, storedNames(t, pool, a, b, out))

	// Two of the flush taking one name.
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{a, b})
		if err != nil {
			return err
		}
		require.NoError(t, ps[0].Rename("B"))
		require.NoError(t, ps[1].Rename("X"))
		q, err := domain.NewPortfolio("X", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(q)
		return nil
	})
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.Equal(t, []string{"A", "B", "Outside"}, storedNames(t, pool, a, b, out))
	assert.Equal(t, 3, count(t, pool, "portfolio"))

	// After a flush that passed names, the check is back to every
	// statement: a later duplicate in the same unit fails at its own.
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{a, b, out})
		if err != nil {
			return err
		}
		require.NoError(t, ps[0].Rename("B"))
		require.NoError(t, ps[1].Rename("A"))
		if err := u.Flush(ctx); err != nil {
			return err
		}
		require.NoError(t, ps[2].Rename("A"))
		return nil
	})
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.Contains(t, err.Error(), `rename portfolio "Outside" to "A"`)
	assert.Equal(t, []string{"A", "B", "Outside"}, storedNames(t, pool, a, b, out))
}

// SET CONSTRAINTS ALL defers every deferrable constraint: the name key
// must stay the only one.
func TestOnlyTheNameKeyIsDeferrable(t *testing.T) {
	t.Parallel()
	pool, _ := newDB(t)
	var deferrable []string
	require.NoError(t, pool.QueryRow(ctx, `select coalesce(array_agg(conname::text order by conname), '{}')
		from pg_constraint where condeferrable and connamespace = 'public'::regnamespace`).Scan(&deferrable))
	assert.Equal(t, []string{"portfolio_name_key"}, deferrable)
}
