package uowtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

func TestRunnerRollsBackWithTheTest(t *testing.T) {
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	var id [2]string

	t.Run("writes", func(t *testing.T) {
		r := uowtest.NewRunner(t, pool)
		require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := domain.NewPortfolio("Temporary", "USD")
			require.NoError(t, err)
			u.Portfolios().Add(p)
			id[0] = p.ID().String()
			return nil
		}))
		// The next unit of the same test sees it...
		require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Portfolios().GetByName(ctx, "Temporary")
			return err
		}))
		// ...other connections do not.
		var n int
		require.NoError(t, pool.QueryRow(ctx, "select count(*) from portfolio").Scan(&n))
		assert.Zero(t, n)

		// A failing unit undoes only itself; the test goes on.
		boom := errors.New("boom")
		err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().GetByName(ctx, "Temporary")
			require.NoError(t, err)
			require.NoError(t, p.Rename("Renamed"))
			require.NoError(t, u.Flush(ctx))
			return boom
		})
		require.Same(t, boom, err)
		// So does one the database refused.
		err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := domain.NewPortfolio("Temporary", "USD")
			require.NoError(t, err)
			u.Portfolios().Add(p)
			return nil
		})
		require.ErrorIs(t, err, domain.ErrAlreadyExists)
		require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().GetByName(ctx, "Temporary")
			if err == nil {
				id[1] = p.ID().String()
			}
			return err
		}))
	})
	assert.Equal(t, id[0], id[1])

	var n int
	require.NoError(t, pool.QueryRow(ctx, "select count(*) from portfolio").Scan(&n))
	assert.Zero(t, n, "rolled back when the subtest ended")
}

func TestCostAssertions(t *testing.T) {
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r := uowtest.NewRunner(t, pool)
	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().List(ctx, uow.ListOptions{})
		return err
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"savepoint folio_unit", "ListPortfolios", "ListInvestmentsForPortfolioList", "release savepoint folio_unit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 4, RoundTrips: 1})
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: uowtest.Any, RoundTrips: 1})
	uowtest.RequireAtMost(t, rep, uowtest.Cost{Statements: 10, RoundTrips: 1})

	assert.ErrorContains(t, uowtest.CheckCost(rep, uowtest.Cost{Statements: 4, RoundTrips: 2}),
		"got 4 statements in 1 round trips, want 4 statements in 2 round trips")
	assert.ErrorContains(t, uowtest.CheckAtMost(rep, uowtest.Cost{Statements: 3, RoundTrips: uowtest.Any}),
		"round trip 1: ListPortfolios")
	assert.NoError(t, uowtest.CheckAtMost(rep, uowtest.Cost{Statements: 4, RoundTrips: 1}))
}
