package uow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

// lockedElsewhere reports whether another connection finds the portfolio's
// row locked.
func lockedElsewhere(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) bool {
	t.Helper()
	_, err := pool.Exec(ctx, "select 1 from portfolio where id = $1 for update nowait", id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return true
	}
	// assert, not require: this runs inside Eventually's goroutine.
	assert.NoError(t, err)
	return false
}

func reversed(ids []uuid.UUID) []uuid.UUID {
	r := slices.Clone(ids)
	slices.Reverse(r)
	return r
}

// waitsForLock reports whether a backend of the pool's database waits for
// a row lock.
func waitsForLock(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	var n int
	err := pool.QueryRow(ctx, `select count(*) from pg_stat_activity
		where datname = current_database() and wait_event_type = 'Lock'`).Scan(&n)
	assert.NoError(t, err)
	return n > 0
}

func TestForUpdateLocksInTheLoadRoundTrip(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	names := []string{"A", "B", "C", "D", "E", "F", "G", "H"}
	secs, ids := seed(t, r, []string{"AAPL"}, names...)
	for _, n := range []string{"A", "B", "D"} {
		buy(t, r, ids[n], secs["AAPL"], "10")
	}
	many := []uuid.UUID{ids["H"], ids["D"], ids["E"], ids["F"], ids["G"]} // more than a few: "= ANY"

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["B"], ids["A"]}, uow.ForUpdate())
		require.NoError(t, err)
		assert.Equal(t, []string{"B", "A"}, []string{ps[0].Name(), ps[1].Name()})
		assert.Len(t, ps[0].Investments(), 1)
		one, err := u.Portfolios().Get(ctx, ids["C"], uow.ForUpdate())
		require.NoError(t, err)
		byName, err := u.Portfolios().GetByName(ctx, "A", uow.ForUpdate())
		require.NoError(t, err)
		assert.Same(t, ps[1], byName)
		more, err := u.Portfolios().GetMany(ctx, many, uow.ForUpdate())
		require.NoError(t, err)
		assert.Equal(t, "D", more[1].Name())
		assert.Len(t, more[1].Investments(), 1)

		for _, n := range names {
			assert.True(t, lockedElsewhere(t, pool, ids[n]), "%s locked during the unit", n)
		}
		_, err = one.Buy(secs["AAPL"], dec("1"), dec("1"), day)
		return err
	}, uow.WithReport(&rep)))

	few := []string{"GetPortfolioForUpdate", "ListInvestmentsByPortfolio"}
	assert.Equal(t, slices.Concat([]string{begin}, few, few, few,
		[]string{"GetPortfolioByNameForUpdate", "ListInvestmentsByPortfolioName"},
		[]string{"GetPortfoliosByIDsForUpdate", "ListInvestmentsByPortfolioIDs"},
		[]string{"BumpPortfolioVersion", "InsertInvestment", "commit"},
	), uowtest.Names(rep))
	uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 14, RoundTrips: 5})
	for _, n := range names {
		assert.False(t, lockedElsewhere(t, pool, ids[n]), "%s unlocked after the unit", n)
	}
	_, lots := stored(t, pool, ids["C"])
	assert.Len(t, lots, 1)
}

// At READ COMMITTED, units that lock the portfolios they change wait for
// each other and never conflict: no retries, nothing lost.
func TestForUpdateAtReadCommittedNeverRetries(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithAttempts(1))
	secs, ids := seed(t, r, []string{"AAPL"}, "A", "B")
	buy(t, r, ids["A"], secs["AAPL"], "1000")
	buy(t, r, ids["B"], secs["AAPL"], "1000")
	va, _ := stored(t, pool, ids["A"])

	const each = 25
	var retries atomic.Int64
	var wg sync.WaitGroup
	for _, dir := range [][2]string{{"A", "B"}, {"B", "A"}} {
		wg.Go(func() {
			for range each {
				var rep uow.Report
				err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids[dir[0]], ids[dir[1]]}, uow.ForUpdate())
					if err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // let the other unit queue up behind the lock
					if _, err := ps[0].Sell(secs["AAPL"], dec("1"), day); err != nil {
						return err
					}
					_, err = ps[1].Buy(secs["AAPL"], dec("1"), dec("2"), day)
					return err
				}, uow.WithReport(&rep))
				assert.NoError(t, err) // one attempt only: a conflict would fail the unit
				retries.Add(int64(len(rep.Retries)))
			}
		})
	}
	wg.Wait()
	assert.Zero(t, retries.Load())
	var total string
	require.NoError(t, pool.QueryRow(ctx, "select sum(quantity)::text from investment").Scan(&total))
	assert.Equal(t, "2000.0000000000", total, "transfers conserve the quantity")
	v, _ := stored(t, pool, ids["A"])
	assert.Equal(t, va+2*each, v, "one version per committed unit")
}

// Locking a portfolio the unit already has sends only the lock, and finds a
// copy that went stale in the meantime.
func TestForUpdateOfALoadedPortfolio(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithAttempts(1))
	_, ids := seed(t, r, nil, "A", "B")

	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		a, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		assert.False(t, lockedElsewhere(t, pool, ids["A"]))
		again, err := u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate())
		require.NoError(t, err)
		assert.Same(t, a, again)
		assert.True(t, lockedElsewhere(t, pool, ids["A"]))
		_, err = u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate()) // held: nothing sent
		return err
	}, uow.WithReport(&rep)))
	assert.Equal(t, []string{
		"begin isolation level read committed", "GetPortfolio", "ListInvestmentsByPortfolio",
		"GetPortfoliosByIDsForUpdate", "commit",
	}, uowtest.Names(rep))

	// Changed, or deleted (no row to lock), since the unit loaded it.
	for _, meanwhile := range []string{
		"update portfolio set version = version + 1 where id = $1",
		"delete from portfolio where id = $1",
	} {
		err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			if _, err := u.Portfolios().Get(ctx, ids["B"]); err != nil {
				return err
			}
			_, err := pool.Exec(ctx, meanwhile, ids["B"])
			require.NoError(t, err)
			_, err = u.Portfolios().Get(ctx, ids["B"], uow.ForUpdate())
			return err
		})
		require.ErrorIs(t, err, domain.ErrVersionConflict, meanwhile)
		var uerr *uow.Error
		require.ErrorAs(t, err, &uerr, meanwhile)
		assert.Equal(t, `lock portfolio "B"`, uerr.Op)
		assert.EqualError(t, uerr.Err, "changed or deleted since the unit loaded it")
	}
}

// A savepoint rolled back releases the locks taken after it; the unit knows
// and locks again.
func TestForUpdateAfterRolledBackSavepointLocksAgain(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "A")
	inner := errors.New("inner failed")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		if _, err := u.Portfolios().Get(ctx, ids["A"]); err != nil {
			return err
		}
		err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate())
			require.NoError(t, err)
			assert.True(t, lockedElsewhere(t, pool, ids["A"]))
			return inner
		})
		require.Same(t, inner, err)
		// The ROLLBACK TO SAVEPOINT that releases the lock is still queued:
		// it rides with the next statement, the lock taken again.
		_, err = u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate())
		require.NoError(t, err)
		assert.True(t, lockedElsewhere(t, pool, ids["A"]))
		return nil
	}, uow.WithReport(&rep)))
	locks := 0
	for _, n := range uowtest.Names(rep) {
		if n == "GetPortfoliosByIDsForUpdate" {
			locks++
		}
	}
	assert.Equal(t, 2, locks)
}

func TestForUpdateInAReadUnitIsRefused(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	_, ids := seed(t, r, nil, "A")
	var rep uow.Report
	err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate())
		return err
	}, uow.WithReport(&rep))
	require.ErrorIs(t, err, uow.ErrReadOnly)
	err = r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().GetByName(ctx, "A", uow.ForUpdate())
		return err
	}, uow.WithReport(&rep))
	require.ErrorIs(t, err, uow.ErrReadOnly)
	assert.Empty(t, rep.Statements)
}

// At REPEATABLE READ, locking a portfolio another transaction changed since
// the unit's snapshot is a serialization failure: the unit is retried, and
// when the attempts run out the error still says so (ErrSerialization).
func TestForUpdateAtRepeatableReadIsASerializationFailure(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithAttempts(2))
	_, ids := seed(t, r, nil, "A", "B")
	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		if _, err := u.Portfolios().Get(ctx, ids["B"]); err != nil { // takes the snapshot
			return err
		}
		changeBehind(t, pool, ids["A"])
		_, err := u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate())
		return err
	}, uow.WithReport(&rep))
	require.ErrorIs(t, err, uow.ErrSerialization)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "40001", pgErr.Code)
	assert.Equal(t, 2, rep.Attempts)
	for _, e := range rep.Retries {
		assert.ErrorIs(t, e, uow.ErrSerialization)
	}
}

// The version bumps of a flush lock their rows in id order, whether one
// statement bumps them all (bulk 1) or each has its own (bulk 8): while
// another transaction holds the highest id, every lower one is already
// locked. (Were the order that of a map, the highest would come last only
// once in six runs.)
func TestVersionBumpsLockInIDOrder(t *testing.T) {
	t.Parallel()
	for _, bulk := range []int{1, 8} {
		t.Run(fmt.Sprintf("bulk %d", bulk), func(t *testing.T) {
			t.Parallel()
			pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithBulkThreshold(bulk))
			names := []string{"A", "B", "C", "D", "E", "F"}
			secs, byName := seed(t, r, []string{"AAPL"}, names...)
			var ids []uuid.UUID
			for _, n := range names {
				buy(t, r, byName[n], secs["AAPL"], "10")
				ids = append(ids, byName[n])
			}
			slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
			highest := ids[len(ids)-1]

			holder, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = holder.Rollback(ctx) }()
			_, err = holder.Exec(ctx, "select 1 from portfolio where id = $1 for update", highest)
			require.NoError(t, err)

			var rep uow.Report
			done := make(chan error, 1)
			go func() {
				done <- r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					// Asked for highest first.
					ps, err := u.Portfolios().GetMany(ctx, reversed(ids))
					if err != nil {
						return err
					}
					for _, p := range ps {
						if _, err := p.Sell(secs["AAPL"], dec("1"), day); err != nil {
							return err
						}
					}
					return nil
				}, uow.WithReport(&rep))
			}()
			require.Eventually(t, func() bool { return lockedElsewhere(t, pool, ids[0]) }, 10*time.Second, 10*time.Millisecond,
				"the flush never locked the lowest id")
			// It waits for the highest, and has every lower one by then.
			require.Eventually(t, func() bool { return waitsForLock(t, pool) }, 10*time.Second, 10*time.Millisecond)
			for _, id := range ids[:len(ids)-1] {
				assert.True(t, lockedElsewhere(t, pool, id), "a lower id is not locked yet while the flush waits for the highest")
			}
			select {
			case err := <-done:
				t.Fatalf("the unit ended while the highest id was held: %v", err)
			default:
			}
			require.NoError(t, holder.Rollback(ctx))
			require.NoError(t, <-done)
			if bulk == 1 {
				assert.Contains(t, uowtest.Names(rep), "BumpPortfolioVersions")
			} else {
				assert.NotContains(t, uowtest.Names(rep), "BumpPortfolioVersions")
			}
			for _, id := range ids {
				_, lots := stored(t, pool, id)
				for _, q := range lots {
					assert.Equal(t, "9.0000000000", q)
				}
			}
		})
	}
}

// A flush that bumped a portfolio's version, or inserted it, holds its row
// lock: asking for the lock afterwards sends nothing.
func TestFlushedPortfolioIsLocked(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "A")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		_, err = p.Buy(secs["AAPL"], dec("1"), dec("1"), day)
		require.NoError(t, err)
		require.NoError(t, u.Flush(ctx))
		assert.True(t, lockedElsewhere(t, pool, ids["A"]))
		before := u.Stats()
		_, err = u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate())
		require.NoError(t, err)
		assert.Equal(t, before, u.Stats(), "the lock is already held")

		fresh, err := domain.NewPortfolio("New", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(fresh)
		require.NoError(t, u.Flush(ctx))
		before = u.Stats()
		got, err := u.Portfolios().Get(ctx, fresh.ID(), uow.ForUpdate())
		require.NoError(t, err)
		assert.Same(t, fresh, got)
		assert.Equal(t, before, u.Stats(), "the inserted row is this transaction's")
		return nil
	}, uow.WithReport(&rep)))
}
