package uow_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

// Two goroutines sell from the same lot many times. Every unit that
// reports success must be in the final quantity, however the conflicts
// surface: as version conflicts under READ COMMITTED, as serialization
// failures under REPEATABLE READ.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	t.Parallel()
	for _, iso := range []pgx.TxIsoLevel{pgx.ReadCommitted, pgx.RepeatableRead} {
		t.Run(string(iso), func(t *testing.T) {
			t.Parallel()
			pool, r := newDB(t, uow.WithIsolation(iso), uow.WithAttempts(50))
			secs, ids := seed(t, r, []string{"AAPL"}, "Main")
			buy(t, r, ids["Main"], secs["AAPL"], "1000")

			const workers, each = 2, 40
			var retries, versionConflicts, serialization atomic.Int64
			var wg sync.WaitGroup
			// The first attempts of the workers' first units both load
			// before either saves, so that at least one collision happens
			// however the goroutines are scheduled.
			var loaded sync.WaitGroup
			loaded.Add(workers)
			for range workers {
				first := true
				wg.Go(func() {
					for range each {
						var rep uow.Report
						err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
							p, err := u.Portfolios().Get(ctx, ids["Main"])
							if err != nil {
								return err
							}
							if first {
								first = false
								loaded.Done()
								loaded.Wait()
							}
							// Hold the snapshot a moment so the other
							// worker commits in between.
							time.Sleep(time.Millisecond)
							_, err = p.Sell(secs["AAPL"], dec("1"), day)
							return err
						}, uow.WithReport(&rep))
						assert.NoError(t, err)
						retries.Add(int64(len(rep.Retries)))
						for _, e := range rep.Retries {
							switch {
							case errors.Is(e, domain.ErrVersionConflict):
								versionConflicts.Add(1)
							case errors.Is(e, uow.ErrSerialization):
								serialization.Add(1)
							}
						}
					}
				})
			}
			wg.Wait()

			v, lots := stored(t, pool, ids["Main"])
			require.Len(t, lots, 1)
			for _, q := range lots {
				assert.Equal(t, "920.0000000000", q, "1000 - 2×40 sells of 1")
			}
			assert.Equal(t, int64(2+workers*each), v, "one version per committed change")
			t.Logf("%s: %d units, %d retries (%d version conflicts, %d serialization failures)",
				iso, workers*each, retries.Load(), versionConflicts.Load(), serialization.Load())
			assert.Positive(t, retries.Load(), "the workers should have collided")
			if iso == pgx.ReadCommitted {
				assert.Equal(t, retries.Load(), versionConflicts.Load())
			} else {
				assert.Equal(t, retries.Load(), serialization.Load())
			}
		})
	}
}

// A unit whose portfolio is changed behind its back on every attempt gives
// up after the bound and returns the version conflict.
func TestRetriesStopAtTheBoundWithTheSentinel(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithAttempts(3))
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	v0, _ := stored(t, pool, ids["Main"])

	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		if err != nil {
			return err
		}
		// Someone else saves the portfolio meanwhile.
		changeBehind(t, pool, ids["Main"])
		return p.Rename("Renamed")
	}, uow.WithReport(&rep))
	require.Error(t, err)
	assert.ErrorIs(t, err, domain.ErrVersionConflict)
	assert.ErrorIs(t, err, domain.ErrConflict)
	assert.Equal(t, 3, rep.Attempts)
	assert.Len(t, rep.Retries, 2)
	assert.Contains(t, err.Error(), "gave up after 3 attempts")

	v1, _ := stored(t, pool, ids["Main"])
	assert.Equal(t, v0+3, v1, "only the outside writer's three bumps")
	assert.Equal(t, "Main", storedName(t, pool, ids["Main"]))
}

// Retrying stops when the context ends, returning the last error too.
func TestRetriesStopWithContext(t *testing.T) {
	t.Parallel()
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithAttempts(1000),
		uow.WithBackoff(20*time.Millisecond, 20*time.Millisecond))
	_, ids := seed(t, r, nil, "Main")
	// Cancelled a while into the second attempt, which the test needs,
	// however slow the machine; the unit conflicts every time, so it
	// retries until then.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rep uow.Report
	attempt := 0
	err := r.Do(cctx, func(ctx context.Context, u *uow.Unit) error {
		if attempt++; attempt == 2 {
			time.AfterFunc(300*time.Millisecond, cancel)
		}
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		if err != nil {
			return err
		}
		changeBehind(t, pool, ids["Main"])
		return p.Rename("Other")
	}, uow.WithReport(&rep))
	// However the cancellation met the unit (in a backoff, or in a
	// statement, whose failure is then retried and meets the done ctx),
	// the error says so.
	require.ErrorIs(t, err, context.Canceled)
	assert.Greater(t, rep.Attempts, 1, "conflicts were retried until then")
	assert.Less(t, rep.Attempts, 1000)
}

// Write skew under SERIALIZABLE: each unit reads both portfolios and writes
// one; PostgreSQL aborts one (or both) with 40001, the runner reruns it, and
// both effects land, once each.
func TestSerializationFailureIsRetried(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithIsolation(pgx.Serializable))
	secs, ids := seed(t, r, []string{"AAPL"}, "A", "B")
	buy(t, r, ids["A"], secs["AAPL"], "10")
	buy(t, r, ids["B"], secs["AAPL"], "10")

	var both sync.WaitGroup
	both.Add(2)
	var attempts [2]atomic.Int32
	var reports [2]uow.Report
	work := func(i int, mine, theirs string) {
		reports[i] = uow.Report{}
		err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			n := attempts[i].Add(1)
			ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids[mine], ids[theirs]})
			if err != nil {
				return err
			}
			if n == 1 {
				// Both have read both before either writes.
				both.Done()
				both.Wait()
			}
			_, err = ps[0].Buy(secs["AAPL"], dec("1"), dec("1"), day)
			return err
		}, uow.WithReport(&reports[i]))
		assert.NoError(t, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { work(0, "A", "B") })
	wg.Go(func() { work(1, "B", "A") })
	wg.Wait()

	retried := 0
	for i := range reports {
		for _, e := range reports[i].Retries {
			assert.ErrorIs(t, e, uow.ErrSerialization)
			retried++
		}
	}
	// SSI aborts at least one of the two; it may abort both, as its
	// detection is conservative (a rerun can collide with the other's rerun).
	assert.GreaterOrEqual(t, retried, 1, "one of the two is aborted and rerun")
	for _, n := range []string{"A", "B"} {
		_, lots := stored(t, pool, ids[n])
		assert.Len(t, lots, 2, "portfolio %s got its buy, once", n)
	}
}

// One of several portfolios whose versions go out in one statement was
// changed behind the unit's back: the unit fails with the version conflict
// and none of its writes land, not even those to the other portfolio.
func TestConflictOnOneOfManyBumpsWritesNothing(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted), uow.WithAttempts(1), uow.WithBulkThreshold(1))
	secs, ids := seed(t, r, []string{"AAPL"}, "A", "B")
	buy(t, r, ids["A"], secs["AAPL"], "10")
	buy(t, r, ids["B"], secs["AAPL"], "10")
	va, lotsA := stored(t, pool, ids["A"])
	vb, _ := stored(t, pool, ids["B"])

	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["A"], ids["B"]})
		if err != nil {
			return err
		}
		changeBehind(t, pool, ids["B"])
		for _, p := range ps {
			if _, err := p.Sell(secs["AAPL"], dec("4"), day); err != nil {
				return err
			}
		}
		return nil
	}, uow.WithReport(&rep))
	require.ErrorIs(t, err, domain.ErrVersionConflict)
	assert.Contains(t, uowtest.Names(rep), "BumpPortfolioVersions")
	assert.Contains(t, err.Error(), `save portfolios "A", "B"`)

	a, lotsA1 := stored(t, pool, ids["A"])
	b, _ := stored(t, pool, ids["B"])
	assert.Equal(t, va, a, "A untouched")
	assert.Equal(t, lotsA, lotsA1, "A's lots untouched")
	assert.Equal(t, vb+1, b, "only the outside writer's bump")
}

// Units that change the same portfolios, loaded in opposite orders, wait
// for each other's row locks instead of deadlocking, whether the versions
// are bumped with one statement per portfolio (bulk 8) or one for all (bulk
// 1), and every committed change is in the result. (The order itself is
// pinned by TestVersionBumpsLockInIDOrder.)
func TestOverlappingBumpsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		iso  pgx.TxIsoLevel
		bulk int
	}{{pgx.ReadCommitted, 8}, {pgx.RepeatableRead, 8}, {pgx.ReadCommitted, 1}, {pgx.RepeatableRead, 1}} {
		t.Run(fmt.Sprintf("%s bulk %d", c.iso, c.bulk), func(t *testing.T) {
			t.Parallel()
			pool, r := newDB(t, uow.WithIsolation(c.iso), uow.WithAttempts(100), uow.WithBulkThreshold(c.bulk),
				uow.WithBackoff(time.Millisecond, 5*time.Millisecond))
			secs, ids := seed(t, r, []string{"AAPL"}, "A", "B")
			buy(t, r, ids["A"], secs["AAPL"], "1000")
			buy(t, r, ids["B"], secs["AAPL"], "1000")
			va, _ := stored(t, pool, ids["A"])
			vb, _ := stored(t, pool, ids["B"])

			const each = 30
			var deadlocks atomic.Int64
			var wg sync.WaitGroup
			for _, order := range [][]uuid.UUID{{ids["A"], ids["B"]}, {ids["B"], ids["A"]}} {
				wg.Go(func() {
					for range each {
						var rep uow.Report
						err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
							ps, err := u.Portfolios().GetMany(ctx, order)
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
						assert.NoError(t, err)
						for _, e := range rep.Retries {
							var pgErr *pgconn.PgError
							if errors.As(e, &pgErr) && pgErr.Code == "40P01" {
								deadlocks.Add(1)
							}
						}
					}
				})
			}
			wg.Wait()
			assert.Zero(t, deadlocks.Load(), "deadlocks")
			for n, v0 := range map[string]int64{"A": va, "B": vb} {
				v, lots := stored(t, pool, ids[n])
				require.Len(t, lots, 1, n)
				for _, q := range lots {
					assert.Equal(t, "940.0000000000", q, "%s: 1000 - 2×30 sells of 1", n)
				}
				assert.Equal(t, v0+2*each, v, n)
			}
		})
	}
}

// Once ctx is done the runner starts no other attempt, however short the
// backoff: the error is the last conflict, joined with ctx's error.
func TestNoAttemptStartsAfterTheContextEnds(t *testing.T) {
	_, r := newDB(t, uow.WithBackoff(time.Nanosecond, time.Nanosecond), uow.WithAttempts(5))
	for i := range 200 {
		cctx, cancel := context.WithCancel(ctx)
		attempts := 0
		var rep uow.Report
		err := r.Do(cctx, func(ctx context.Context, u *uow.Unit) error {
			attempts++
			cancel()
			return fmt.Errorf("save: %w", domain.ErrVersionConflict)
		}, uow.WithReport(&rep))
		cancel()
		require.Equal(t, 1, attempts, "round %d", i)
		require.Empty(t, rep.Retries, "round %d: no retry ran", i)
		require.ErrorIs(t, err, domain.ErrVersionConflict, "round %d", i)
		require.ErrorIs(t, err, context.Canceled, "round %d", i)
	}
}

// A statement that fn runs on a context of its own that has ended fails
// before anything is sent, which pgx calls safe to retry; rerunning fn
// would only fail the same way.
func TestAnEndedQueryContextIsNotRetried(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")
	for _, tc := range []struct {
		name  string
		ended func(context.Context) (context.Context, context.CancelFunc)
		want  error
	}{
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Nanosecond)
		}, context.DeadlineExceeded},
		{"cancelled", func(ctx context.Context) (context.Context, context.CancelFunc) {
			qctx, cancel := context.WithCancel(ctx)
			cancel()
			return qctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			var rep uow.Report
			err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				runs++
				if _, err := u.Securities().List(ctx, uow.ListOptions{}); err != nil {
					return err // the unit holds a connection from here on
				}
				qctx, cancel := tc.ended(ctx)
				defer cancel()
				<-qctx.Done()
				_, err := u.Portfolios().Get(qctx, ids["Main"])
				return err
			}, uow.WithReport(&rep))
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, 1, runs, "fn ran again; retries: %v", rep.Retries)
			assert.False(t, uow.Retryable(err))
			assert.False(t, uow.Retryable(fmt.Errorf("x: %w", tc.want)))
			assert.NotContains(t, err.Error(), "gave up")
		})
	}
}

// Retries end at the first error that is not worth another attempt, and
// that error comes back as fn returned it, not as one the runner gave up on.
func TestAnErrorAfterARetryComesBackAsItIs(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithBackoff(time.Millisecond, time.Millisecond))
	_, ids := seed(t, r, nil, "Main")
	final := errors.New("no such trade")
	runs := 0
	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		runs++
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		require.NoError(t, p.Rename(fmt.Sprintf("Attempt %d", runs)))
		if runs == 1 {
			return fmt.Errorf("save: %w", domain.ErrVersionConflict)
		}
		return final
	}, uow.WithReport(&rep))
	require.Same(t, final, err)
	assert.Equal(t, 2, runs)
	assert.Equal(t, 2, rep.Attempts)
	assert.Len(t, rep.Retries, 1)
	assert.Equal(t, "Main", storedName(t, pool, ids["Main"]), "nothing written")
}

// The backoff between attempts ends with ctx: a long one does not keep
// Do from returning.
func TestBackoffEndsWithTheContext(t *testing.T) {
	t.Parallel()
	_, r := newDB(t, uow.WithBackoff(time.Hour, time.Hour), uow.WithAttempts(2))
	// Cancelled once fn has run, however late its goroutine started.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- r.Do(cctx, func(context.Context, *uow.Unit) error {
			time.AfterFunc(50*time.Millisecond, cancel)
			return fmt.Errorf("save: %w", domain.ErrVersionConflict)
		})
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, domain.ErrVersionConflict)
	case <-time.After(time.Minute):
		t.Fatal("Do slept through the end of its context")
	}
}

// sentinelSafe is an error pgx would call safe to retry.
type sentinelSafe struct{}

func (sentinelSafe) Error() string     { return "conn closed" }
func (sentinelSafe) SafeToRetry() bool { return true }

// Retryable never says yes to an unknown COMMIT outcome, whatever else the
// error holds: pgx may call the broken connection safe to retry.
func TestRetryableNeverForAnUnknownCommit(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		fmt.Errorf("%w: %w", uow.ErrCommitUnknown, sentinelSafe{}),
		fmt.Errorf("%w: %w", uow.ErrCommitUnknown, &pgconn.PgError{Code: "40001"}),
		fmt.Errorf("%w: %w", uow.ErrCommitUnknown, domain.ErrVersionConflict),
	} {
		assert.False(t, uow.Retryable(err), "%v", err)
	}
	for _, err := range []error{sentinelSafe{}, &pgconn.PgError{Code: "40001"}, &pgconn.PgError{Code: "40P01"}, domain.ErrVersionConflict} {
		assert.True(t, uow.Retryable(err), "%v", err)
	}
}

// Retryable by SQLSTATE: the serialization failures and the codes of a
// session the server ended (the transaction is gone, rolled back); not the
// rest of class 08 (a protocol violation is a bug, not bad luck), nor of
// class 57 (a canceled statement, a server that cannot take connections
// for lack of disk), nor a broken rule.
func TestRetryableBySQLSTATE(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"40001": true, "40P01": true,
		"57P01": true, "57P02": true, "57P03": true,
		"08000": true, "08003": true, "08006": true,
		"08001": false, "08004": false, "08007": false, "08P01": false,
		"57014": false, "57P04": false, "53100": false,
		"23505": false, "23514": false, "42P01": false, "XX000": false,
	} {
		err := fmt.Errorf("uow: flush: %w", &pgconn.PgError{Code: code})
		assert.Equal(t, want, uow.Retryable(err), code)
	}
}
