package uow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
)

// requireHealthy checks that no connection is still out and that the pool
// serves a query on a connection in a clean state.
func requireHealthy(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	// The pool destroys a broken connection in the background.
	assert.Eventually(t, func() bool { return pool.Stat().AcquiredConns() == 0 },
		2*time.Second, 5*time.Millisecond, "connection leaked")
	c, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer c.Release()
	assert.Equal(t, byte('I'), c.Conn().PgConn().TxStatus(), "connection returned inside a transaction")
	var one int
	require.NoError(t, c.QueryRow(ctx, "select 1").Scan(&one))
}

func TestErrorFromFnRollsBackAndPassesThrough(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	v0, lots0 := stored(t, pool, ids["Main"])
	before := pool.Stat().TotalConns()

	boom := errors.New("boom")
	for _, flushFirst := range []bool{false, true} {
		err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().Get(ctx, ids["Main"])
			require.NoError(t, err)
			_, err = p.Buy(secs["AAPL"], dec("5"), dec("1"), day)
			require.NoError(t, err)
			require.NoError(t, p.Rename("Changed"))
			extra, err := domain.NewPortfolio("Extra", "USD")
			require.NoError(t, err)
			u.Portfolios().Add(extra)
			if flushFirst {
				// Written, but still inside the transaction.
				require.NoError(t, u.Flush(ctx))
			}
			return boom
		})
		assert.Same(t, boom, err, "the error itself, unwrapped and not retried")
	}

	v1, lots1 := stored(t, pool, ids["Main"])
	assert.Equal(t, v0, v1)
	assert.Equal(t, lots0, lots1)
	assert.Equal(t, 1, count(t, pool, "portfolio"))
	requireHealthy(t, pool)
	assert.Equal(t, before, pool.Stat().TotalConns(), "the connection was reused, not replaced")
}

func TestPanicInFnRollsBackAndPanicsOn(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")

	assert.PanicsWithValue(t, "kaboom", func() {
		_ = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().Get(ctx, ids["Main"])
			require.NoError(t, err)
			_, err = p.Buy(secs["AAPL"], dec("5"), dec("1"), day)
			require.NoError(t, err)
			require.NoError(t, u.Flush(ctx))
			panic("kaboom")
		})
	})
	assert.Zero(t, count(t, pool, "investment"))
	requireHealthy(t, pool)
}

func TestDuplicateNameIsAlreadyExistsAndWritesNothing(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main", "Other")

	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Other"])
		require.NoError(t, err)
		_, err = p.Buy(secs["AAPL"], dec("5"), dec("1"), day)
		require.NoError(t, err)
		return p.Rename("Main")
	}, uow.WithReport(&rep))
	require.Error(t, err)
	assert.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.Equal(t, 1, rep.Attempts, "a duplicate is not retried")
	assert.Equal(t, `rename portfolio "Other" to "Main": already exists`, err.Error())
	var uerr *uow.Error
	require.ErrorAs(t, err, &uerr)
	assert.Zero(t, count(t, pool, "investment"), "the buy went down with the rename")

	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Main", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		return nil
	})
	assert.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.Equal(t, 2, count(t, pool, "portfolio"))
	requireHealthy(t, pool)
}

func TestDeletingHeldSecurityIsInUse(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL", "MSFT"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "1")

	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := u.Securities().GetBySymbol(ctx, "AAPL")
		require.NoError(t, err)
		return u.Securities().Remove(s)
	})
	assert.ErrorIs(t, err, domain.ErrInUse)
	assert.Equal(t, 2, count(t, pool, "security"))

	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := u.Securities().GetBySymbol(ctx, "MSFT")
		require.NoError(t, err)
		return u.Securities().Remove(s)
	}))
	assert.Equal(t, 1, count(t, pool, "security"))
}

func TestBuyingUnsavedSecurityIsNotFound(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")
	ghost, err := domain.NewSecurity("GHOST", "Never saved", "USD")
	require.NoError(t, err)
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		_, err = p.Buy(ghost, dec("1"), dec("1"), day)
		return err
	})
	assert.ErrorIs(t, err, domain.ErrNotFound)
	assert.Zero(t, count(t, pool, "investment"))
	v, _ := stored(t, pool, ids["Main"])
	assert.Equal(t, int64(1), v, "the version bump went down with the insert")
}
