package uow_test

import (
	"context"
	"fmt"
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

// fn flushes a new portfolio, then swallows a failed query and returns nil.
// The server would answer COMMIT with ROLLBACK; Do must not report success.
func TestCommitAfterASwallowedFailureFails(t *testing.T) {
	pool, r := newDB(t)
	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Lost", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		require.NoError(t, u.Flush(ctx))
		err = uow.FailOnServer(ctx, u)
		require.Error(t, err)
		return nil
	}, uow.WithReport(&rep))

	require.Error(t, err)
	assert.ErrorContains(t, err, "aborted by an earlier error")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "the first error stays in the chain")
	assert.Equal(t, "22021", pgErr.Code)
	assert.Equal(t, 1, rep.Attempts, "not an error the runner retries")
	assert.NotContains(t, uowtest.Names(rep), "commit", "no COMMIT is sent into an aborted transaction")
	assert.Zero(t, count(t, pool, "portfolio"))

	// The connection went back to the pool in working order.
	_, ids := seed(t, r, nil, "Next")
	assert.Equal(t, 1, count(t, pool, "portfolio"))
	assert.Contains(t, ids, "Next")
}

// After a failed Flush the unit sends nothing more: a later query returns
// the flush's error without a round trip.
func TestNothingIsSentAfterAFailedFlush(t *testing.T) {
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Taken")
	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Taken", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		ferr := u.Flush(ctx)
		require.ErrorIs(t, ferr, domain.ErrAlreadyExists)
		trips := u.Stats().RoundTrips

		_, gerr := u.Portfolios().Get(ctx, ids["Taken"])
		require.ErrorIs(t, gerr, domain.ErrAlreadyExists, "the flush's error, again")
		assert.ErrorContains(t, gerr, "aborted by an earlier error")
		assert.Equal(t, trips, u.Stats().RoundTrips, "nothing sent")
		return nil
	}, uow.WithReport(&rep))
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.NotContains(t, uowtest.Names(rep), "GetPortfolio")
	assert.Equal(t, 1, count(t, pool, "portfolio"))
}

// The flush before a savepoint meets a version conflict, which Unit.Do
// returns; fn treats the nested unit as optional and returns nil. The
// conflict must still reach the runner, which retries, instead of a
// COMMIT failing with "current transaction is aborted".
func TestASwallowedConflictBeforeASavepointIsRetried(t *testing.T) {
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted))
	_, ids := seed(t, r, nil, "Main")
	var (
		rep       uow.Report
		nestedErr error
	)
	attempts := 0
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		attempts++
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		if attempts == 1 {
			changeBehind(t, pool, ids["Main"])
		}
		require.NoError(t, p.Rename("Renamed"))
		first := attempts == 1
		nested := u.Do(ctx, func(context.Context, *uow.Unit) error {
			if first {
				t.Error("fn of the nested unit ran after the flush before it failed")
			}
			return nil
		})
		if attempts == 1 {
			nestedErr = nested
		}
		return nil
	}, uow.WithReport(&rep))

	require.NoError(t, err)
	assert.Equal(t, 2, rep.Attempts)
	require.ErrorIs(t, nestedErr, domain.ErrVersionConflict)
	assert.ErrorContains(t, nestedErr, "uow: flush before savepoint")
	var name string
	var version int64
	require.NoError(t, pool.QueryRow(ctx, "select name, version from portfolio where id = $1", ids["Main"]).Scan(&name, &version))
	assert.Equal(t, "Renamed", name)
	assert.Equal(t, int64(3), version, "1, the outside bump, the rename")
}

// A nested unit whose query fails rolls back to its savepoint, and that
// clears the abort: the enclosing unit goes on and commits.
func TestAFailedNestedQueryLeavesTheEnclosingUnitUsable(t *testing.T) {
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		require.NoError(t, p.Rename("Outer"))
		err = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			err := uow.FailOnServer(ctx, u)
			return err
		})
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		assert.Equal(t, "22021", pgErr.Code)
		return nil
	}, uow.WithReport(&rep)))
	assert.Equal(t, 1, rep.Attempts)
	assert.Contains(t, uowtest.Names(rep), "rollback to savepoint folio_sp_1")
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select name from portfolio").Scan(&name))
	assert.Equal(t, "Outer", name)
}

// In a Read unit every round trip is a transaction of its own, so a failed
// one ends there and the unit may go on; with WithSnapshot there is one
// transaction, and the failure ends the unit.
func TestReadUnitsAfterASwallowedFailure(t *testing.T) {
	_, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")

	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		err := uow.FailOnServer(ctx, u)
		require.Error(t, err)
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		assert.Equal(t, "Main", p.Name())
		return nil
	}, uow.WithReport(&rep)))
	const begin = "begin isolation level repeatable read read only"
	assert.Equal(t, []string{
		begin, "GetPortfolioByName", "commit", // refused
		"rollback",
		begin, "GetPortfolio", "ListInvestmentsByPortfolio", "commit",
	}, uowtest.Names(rep))

	err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		err := uow.FailOnServer(ctx, u)
		require.Error(t, err)
		_, err = u.Portfolios().Get(ctx, ids["Main"])
		assert.ErrorContains(t, err, "aborted by an earlier error")
		return nil
	}, uow.WithSnapshot(), uow.WithReport(&rep))
	require.Error(t, err)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "22021", pgErr.Code)
}

// A nested unit whose fn swallows a failed query and returns nil failed all
// the same: Do returns the error and rolls back to the savepoint, whether
// or not fn had changes to flush, and the enclosing unit commits.
func TestANestedUnitThatSwallowsAFailureFails(t *testing.T) {
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")
	for _, changes := range []bool{false, true} {
		var nested error
		require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().Get(ctx, ids["Main"])
			require.NoError(t, err)
			require.NoError(t, p.Rename(fmt.Sprintf("Outer %v", changes)))
			nested = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				if changes {
					require.NoError(t, p.Rename("Inner"))
				}
				err := uow.FailOnServer(ctx, u)
				require.Error(t, err)
				return nil
			})
			return nil
		}), "changes in the nested unit: %v", changes)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, nested, &pgErr, "changes: %v", changes)
		assert.Equal(t, "22021", pgErr.Code)
		assert.ErrorContains(t, nested, "nested unit returned nil after a failed statement", "changes: %v", changes)
		var name string
		require.NoError(t, pool.QueryRow(ctx, "select name from portfolio").Scan(&name))
		assert.Equal(t, fmt.Sprintf("Outer %v", changes), name)
	}
}

// TestFlushAfterAbortWithNothingToWrite: once a statement has aborted the
// unit's transaction, Flush returns that error even when nothing is left
// to write, as the commit would: a fn that swallowed the first error and
// undid its change must not be told that all is well.
func TestFlushAfterAbortWithNothingToWrite(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	_, ids := seed(t, r, nil, "A", "B")
	var flushErr error
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		require.NoError(t, p.Rename("B"))
		require.ErrorIs(t, u.Flush(ctx), domain.ErrAlreadyExists) // swallowed
		require.NoError(t, p.Rename("A"))
		flushErr = u.Flush(ctx)
		return nil
	}, uow.WithAttempts(1))
	require.ErrorIs(t, flushErr, domain.ErrAlreadyExists)
	assert.ErrorContains(t, flushErr, "aborted by an earlier error")
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
}

// The same in a read-only unit that is one transaction (WithSnapshot): a
// failed statement aborted it, and Flush says so rather than nil.
func TestFlushAfterAbortInASnapshotRead(t *testing.T) {
	t.Parallel()
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	pool, r := newDB(t)
	seed(t, r, []string{"AAPL"})
	var flushErr error
	err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().List(ctx, uow.ListOptions{}) // the transaction begins
		require.NoError(t, err)
		release := lockSecurityTable(t, pool)
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = u.Securities().List(qctx, uow.ListOptions{})
		cancel()
		release()
		require.ErrorContains(t, err, "57014") // swallowed
		flushErr = u.Flush(ctx)
		return nil
	}, uow.WithSnapshot(), uow.WithAttempts(1))
	require.Error(t, flushErr)
	assert.ErrorContains(t, flushErr, "aborted by an earlier error")
	assert.ErrorContains(t, err, "aborted by an earlier error")
}

// TestAReadRoundTripAfterAClientSideFailureBeginsAgain: in a Read unit every
// round trip is a transaction of its own, BEGIN and COMMIT around its
// statements. A value the client cannot scan (a column whose type another
// tool changed) fails the round trip after the server ran its COMMIT; the
// next round trip must still begin with BEGIN, or its statements (a
// portfolio, then its lots) would each read their own snapshot.
func TestAReadRoundTripAfterAClientSideFailureBeginsAgain(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, []string{"AAPL"}, "Main")
	_, err := pool.Exec(ctx, `alter table security alter column created_at type text using created_at::text`)
	require.NoError(t, err)

	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Securities().GetBySymbol(ctx, "AAPL")
		require.ErrorContains(t, err, "cannot scan text")
		var pgErr *pgconn.PgError
		require.NotErrorAs(t, err, &pgErr, "the client's failure, not the server's")
		_, err = u.Portfolios().Get(ctx, ids["Main"])
		return err
	}, uow.WithReport(&rep)))
	t.Log("\n" + uowtest.Describe(rep))

	var second []string
	for _, s := range rep.Statements {
		if s.RoundTrip == 2 {
			second = append(second, s.Name())
		}
	}
	assert.Equal(t, []string{"begin isolation level repeatable read read only", "GetPortfolio", "ListInvestmentsByPortfolio", "commit"}, second)
}

// Once a statement has aborted the transaction, everything that returns an
// error returns the first one, even a lookup the identity map could answer:
// fn must not go on with objects of a transaction that cannot commit.
func TestEverythingAfterAFailureReturnsTheFirstError(t *testing.T) {
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAA"}, "Main")
	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		s, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		first := uow.FailOnServer(ctx, u)
		require.Error(t, first)
		trips := u.Stats().RoundTrips

		calls := []struct {
			name string
			call func() error
		}{
			{"Portfolios.Get", func() error { _, err := u.Portfolios().Get(ctx, ids["Main"]); return err }},
			{"Portfolios.GetMany", func() error {
				_, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["Main"]})
				return err
			}},
			{"Securities.Get", func() error { _, err := u.Securities().Get(ctx, secs["AAA"].ID()); return err }},
			{"Securities.GetBySymbol", func() error { _, err := u.Securities().GetBySymbol(ctx, "AAA"); return err }},
			{"Securities.Revalue", func() error {
				return u.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("11"), Date: day}})
			}},
			{"Portfolios.Remove", func() error { return u.Portfolios().Remove(p) }},
			{"Securities.Remove", func() error { return u.Securities().Remove(s) }},
			{"Flush", func() error { return u.Flush(ctx) }},
			{"Do", func() error {
				return u.Do(ctx, func(context.Context, *uow.Unit) error {
					t.Error("a nested unit ran in an aborted transaction")
					return nil
				})
			}},
		}
		for _, c := range calls {
			err := c.call()
			assert.ErrorContains(t, err, "aborted by an earlier error", c.name)
			var pgErr *pgconn.PgError
			if assert.ErrorAs(t, err, &pgErr, c.name) {
				assert.Equal(t, "22021", pgErr.Code, c.name)
			}
		}
		assert.Equal(t, trips, u.Stats().RoundTrips, "nothing sent")
		price, _, _ := s.LastPrice()
		assert.True(t, price.Equal(dec("10")), "the refused Revalue changed nothing: %s", price)
		return nil
	}, uow.WithReport(&rep))
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "22021", pgErr.Code)
	assert.Equal(t, 1, count(t, pool, "portfolio"))
	assert.Equal(t, 1, count(t, pool, "security"))
}

// A change the unit refuses after a statement failed does not hide that
// failure: the first error is the one the runner sees, and retries by. Here
// it is a serialization failure, retried; the refusal (a copy of a loaded
// portfolio added) would not be.
func TestARefusalAfterAFailureLeavesTheFirstError(t *testing.T) {
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Main")
	var copyOfMain *domain.Portfolio // loaded in another unit
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) (err error) {
		copyOfMain, err = u.Portfolios().Get(ctx, ids["Main"])
		return err
	}))

	var rep uow.Report
	attempts := 0
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		attempts++
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		if attempts == 1 {
			// Changed behind the unit's snapshot: the unit's rename
			// fails with a serialization failure at the flush.
			changeBehind(t, pool, ids["Main"])
			require.NoError(t, p.Rename("Mine"))
			ferr := u.Flush(ctx)
			require.ErrorIs(t, ferr, uow.ErrSerialization)
			u.Portfolios().Add(copyOfMain) // refused: the unit has another object for the id
			return nil
		}
		return p.Rename("Mine")
	}, uow.WithReport(&rep))
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Attempts, "the serialization failure was retried")
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select name from portfolio").Scan(&name))
	assert.Equal(t, "Mine", name)
}
