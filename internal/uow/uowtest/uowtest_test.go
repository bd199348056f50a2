package uowtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

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

// A failed unit of a transactional test is undone with two statements in
// one round trip: both count.
func TestCostOfAFailedUnit(t *testing.T) {
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r := uowtest.NewRunner(t, pool)
	var rep uow.Report
	failed := errors.New("fn failed")
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().List(ctx, uow.ListOptions{})
		require.NoError(t, err)
		return failed
	}, uow.WithReport(&rep))
	require.Same(t, failed, err)
	assert.Equal(t, []string{
		"savepoint folio_unit", "ListPortfolios", "ListInvestmentsForPortfolioList",
		"rollback to savepoint folio_unit", "release savepoint folio_unit",
	}, uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 5, RoundTrips: 2})
}

// Nested units in a transactional test are savepoints inside the unit's
// own savepoint: a failing one undoes only its work, in the database and
// in memory, and a failure the enclosing unit swallows still fails it.
func TestNestedUnitsInATransactionalTest(t *testing.T) {
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r := uowtest.NewRunner(t, pool)
	inner := errors.New("inner")
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Outer", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		err = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			require.NoError(t, p.Rename("Inner"))
			q, err := domain.NewPortfolio("Inner only", "USD")
			require.NoError(t, err)
			u.Portfolios().Add(q)
			require.NoError(t, u.Flush(ctx))
			return inner
		})
		require.Same(t, inner, err)
		assert.Equal(t, "Outer", p.Name())
		return nil
	}))
	var names []string
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().List(ctx, uow.ListOptions{})
		for _, p := range ps {
			names = append(names, p.Name())
		}
		return err
	}))
	assert.Equal(t, []string{"Outer"}, names)

	// A database error swallowed by fn fails the unit all the same, and the
	// test's transaction goes on.
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Lost", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		require.NoError(t, u.Flush(ctx))
		dup, err := domain.NewPortfolio("Outer", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(dup)
		require.ErrorIs(t, u.Flush(ctx), domain.ErrAlreadyExists) // 23505 on the server
		return nil
	})
	require.ErrorContains(t, err, "aborted by an earlier error")
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().GetByName(ctx, "Lost")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		_, err = u.Portfolios().GetByName(ctx, "Outer")
		return err
	}))
}

// The runner has one connection: a unit that starts another with the
// runner, rather than nesting it with u.Do, gets ErrSameConn instead of
// waiting for itself forever, and its own work goes on. Units from other
// goroutines take turns, and one waiting gives up with its context.
func TestUnitStartedInsideAnotherOnTheSameRunner(t *testing.T) {
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r := uowtest.NewRunner(t, pool)
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Outer", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		require.NoError(t, u.Flush(ctx))
		for _, run := range []func(context.Context, func(context.Context, *uow.Unit) error, ...uow.Option) error{r.Do, r.Read} {
			err := run(ctx, func(ctx context.Context, u *uow.Unit) error {
				_, err := u.Portfolios().GetByName(ctx, "Outer")
				return err
			})
			require.ErrorIs(t, err, uow.ErrSameConn)
		}
		return nil
	}))
	var n int
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().List(ctx, uow.ListOptions{})
		n = len(ps)
		return err
	}))
	assert.Equal(t, 1, n, "the outer unit committed")

	// Another goroutine's unit waits its turn, and gives up with its ctx.
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Portfolios().GetByName(ctx, "Outer") // takes the connection
			close(held)
			<-release
			return err
		})
	}()
	<-held
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := r.Read(wctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().GetByName(ctx, "Outer")
		return err
	})
	close(release)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, <-done)
}
