package uow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

// nestedFailures are the two ways fn fails a nested unit: it returns an
// error, or it panics, which Do passes on with the same value once it has
// rolled the nested unit back.
var nestedFailures = []string{"error", "panic"}

// failNested runs work in a nested unit of u, then fails the unit as how
// says, recovering the panic, and checks that the failure came out as it
// went in.
func failNested(t *testing.T, ctx context.Context, u *uow.Unit, how string, work func(context.Context, *uow.Unit)) {
	t.Helper()
	inner := errors.New("inner failed")
	var err error
	got := recovered(func() {
		err = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			work(ctx, u)
			if how == "panic" {
				panic(inner)
			}
			return inner
		})
	})
	if how == "panic" {
		assert.Equal(t, inner, got, "the panic goes on with its value")
	} else {
		assert.Nil(t, got)
		assert.Same(t, inner, err)
	}
}

// recovered runs f and returns what it panicked with (nil: no panic).
func recovered(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// A nested unit that fails, by an error or a panic, is rolled back, in
// memory and in the database (its flushed work too): the outer unit
// commits its own work only.
func TestFailingNestedUnitRollsBackOnlyItsWork(t *testing.T) {
	t.Parallel()
	for _, how := range nestedFailures {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			pool, r := newDB(t)
			secs, ids := seed(t, r, []string{"AAPL"}, "Main")
			buy(t, r, ids["Main"], secs["AAPL"], "10")

			var rep uow.Report
			require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				p, err := u.Portfolios().Get(ctx, ids["Main"])
				require.NoError(t, err)
				_, err = p.Buy(secs["AAPL"], dec("1"), dec("1"), day) // outer: kept
				require.NoError(t, err)

				failNested(t, ctx, u, how, func(ctx context.Context, u *uow.Unit) {
					_, err := p.Sell(secs["AAPL"], dec("11"), day) // inner: undone
					require.NoError(t, err)
					require.NoError(t, p.Rename("Inner"))
					q, err := domain.NewPortfolio("Inner only", "USD")
					require.NoError(t, err)
					u.Portfolios().Add(q)
					require.NoError(t, u.Flush(ctx)) // even flushed work goes
				})
				// In memory too, the portfolio is back to before the nested
				// unit: the version its flush before the savepoint gave it
				// (2 + 1), not the one of the flush inside.
				assert.Equal(t, "Main", p.Name())
				require.Len(t, p.Investments(), 2)
				assert.Equal(t, int64(3), p.Version())

				_, err = p.Buy(secs["AAPL"], dec("2"), dec("1"), day) // outer again: kept
				return err
			}, uow.WithReport(&rep)))
			t.Log("\n" + uowtest.Describe(rep))
			assert.Equal(t, 1, rep.Attempts)

			v, lots := stored(t, pool, ids["Main"])
			assert.Len(t, lots, 3)
			assert.Equal(t, int64(4), v, "created, bought, the flush before the savepoint, the commit")
			assert.Equal(t, 1, count(t, pool, "portfolio"), "the nested unit's flushed portfolio is gone")
			assert.Equal(t, "Main", storedName(t, pool, ids["Main"]))
		})
	}
}

func TestNestedUnitFailingInTheDatabaseLeavesOuterUsable(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "Main", "Taken")

	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		err = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			return p.Rename("Taken") // flushed at the end of the nested unit: 23505
		})
		require.ErrorIs(t, err, domain.ErrAlreadyExists)
		assert.Equal(t, "Main", p.Name())
		return p.Rename("Renamed")
	}))
	var names []string
	rows, err := pool.Query(ctx, "select name from portfolio order by name")
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	assert.Equal(t, []string{"Renamed", "Taken"}, names)
}

func TestSucceedingNestedUnitsKeepTheirWork(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		for range 3 {
			require.NoError(t, u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				return u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					_, err := p.Buy(secs["AAPL"], dec("1"), dec("1"), day)
					return err
				})
			}))
		}
		return nil
	}))
	v, lots := stored(t, pool, ids["Main"])
	assert.Len(t, lots, 3)
	assert.Equal(t, int64(4), v, "each nested flush is one change")
}

// A panic no unit recovers leaves the outer unit too, which rolls back
// everything, and passes on with its value.
func TestPanicInNestedUnitUncaughtRollsBackTheOuterUnit(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	v, lots := stored(t, pool, ids["Main"])
	assert.PanicsWithValue(t, "nested", func() {
		_ = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().Get(ctx, ids["Main"])
			require.NoError(t, err)
			_, err = p.Buy(secs["AAPL"], dec("1"), dec("1"), day)
			require.NoError(t, err)
			require.NoError(t, u.Flush(ctx))
			return u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				panic("nested")
			})
		})
	})
	v2, lots2 := stored(t, pool, ids["Main"])
	assert.Equal(t, v, v2, "the outer unit's flush is rolled back")
	assert.Equal(t, lots, lots2)
	requireHealthy(t, pool)
}

// readModes are the two kinds of Read unit: one transaction per round
// trip, and one snapshot for all of them.
var readModes = []struct {
	name string
	opts []uow.Option
}{{"per round trip", nil}, {"snapshot", []uow.Option{uow.WithSnapshot()}}}

// A Read unit never flushes, so a nested unit there starts from objects
// that may differ from what was loaded. Its failure must undo its own
// changes only, and the Read must still refuse the earlier ones.
func TestFailingNestedUnitInReadKeepsEarlierChanges(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	for _, tc := range readModes {
		for _, how := range nestedFailures {
			t.Run(tc.name+", "+how, func(t *testing.T) {
				err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
					p, err := u.Portfolios().Get(ctx, ids["Main"], uow.WithSecurities())
					require.NoError(t, err)
					sec, err := u.Securities().GetBySymbol(ctx, "AAPL")
					require.NoError(t, err)
					require.NoError(t, p.Rename("What if"))
					require.NoError(t, sec.SetPrice(dec("99"), day))

					failNested(t, ctx, u, how, func(ctx context.Context, u *uow.Unit) {
						require.NoError(t, p.Rename("Inner"))
						_, err := p.Sell(sec, dec("4"), day)
						require.NoError(t, err)
						require.NoError(t, sec.SetPrice(dec("1"), day))
					})
					assert.Equal(t, "What if", p.Name(), "the change before the nested unit stays")
					if hs := p.Holdings(); assert.Len(t, hs, 1) {
						assert.Equal(t, "10", hs[0].Quantity.String(), "the nested unit's sell is undone")
					}
					price, _, _ := sec.LastPrice()
					assert.Equal(t, "99", price.String(), "the price set before the nested unit stays")
					return nil
				}, tc.opts...)
				assert.ErrorIs(t, err, uow.ErrReadOnly, "the Read unit changed an aggregate")
			})
		}
	}
}

// A Read unit never flushes, so what it was given with Add is still a
// draft when a nested unit starts: a failed nested unit puts drafts back
// too (a portfolio's name and lots, a security's name and price).
func TestFailingNestedUnitInReadPutsBackAddedAggregates(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	seed(t, r, []string{"AAPL"})
	for _, tc := range readModes {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
				sec, err := u.Securities().GetBySymbol(ctx, "AAPL")
				require.NoError(t, err)
				p, err := domain.NewPortfolio("Draft", "USD")
				require.NoError(t, err)
				_, err = p.Buy(sec, dec("10"), dec("2"), day)
				require.NoError(t, err)
				u.Portfolios().Add(p)
				draftSec, err := domain.NewSecurity("NEW", "New Co", "USD")
				require.NoError(t, err)
				require.NoError(t, draftSec.SetPrice(dec("5"), day))
				u.Securities().Add(draftSec)

				inner := errors.New("inner")
				err = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					require.NoError(t, p.Rename("Inner"))
					_, err := p.Sell(sec, dec("4"), day)
					require.NoError(t, err)
					_, err = p.Buy(sec, dec("1"), dec("3"), day)
					require.NoError(t, err)
					require.NoError(t, draftSec.Rename("Renamed Co"))
					require.NoError(t, draftSec.SetPrice(dec("6"), day.AddDate(0, 0, 1)))
					return inner
				})
				require.Same(t, inner, err)
				assert.Equal(t, "Draft", p.Name())
				if lots := p.Investments(); assert.Len(t, lots, 1) {
					assert.Equal(t, "10", lots[0].Quantity().String())
				}
				assert.Equal(t, "New Co", draftSec.Name())
				price, on, _ := draftSec.LastPrice()
				assert.Equal(t, "5", price.String())
				assert.Equal(t, day, on)
				// Still the unit's drafts: the same objects come back.
				got, err := u.Portfolios().Get(ctx, p.ID())
				require.NoError(t, err)
				assert.Same(t, p, got)
				return nil
			}, tc.opts...)
			assert.ErrorIs(t, err, uow.ErrReadOnly, "the Read unit added aggregates")
		})
	}
}

// TestNestedSavepointSurvivesARoundTripNotSent: the SAVEPOINT of a nested
// unit rides with its first round trip. When that round trip fails before
// it is sent (a lookup given a context already done, which fn shrugs off),
// the SAVEPOINT must go with the next one: were it dropped, a later failure
// of the nested unit would restore its objects but leave its flushed writes
// in the transaction, for the enclosing unit to commit.
func TestNestedSavepointSurvivesARoundTripNotSent(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "A")
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		a, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		nerr := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Securities().List(doneCtx(ctx), uow.ListOptions{})
			require.ErrorIs(t, err, context.Canceled)
			require.NoError(t, a.Rename("Written by a failed nested unit"))
			require.NoError(t, u.Flush(ctx))
			return errors.New("inner")
		})
		require.EqualError(t, nerr, "inner")
		assert.Equal(t, "A", a.Name(), "the object is restored")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "A", storedName(t, pool, ids["A"]), "the failed nested unit's write was committed")
	v, _ := stored(t, pool, ids["A"])
	assert.EqualValues(t, 1, v)
}

// TestNestedRollbackSurvivesARoundTripNotSent: the same for the ROLLBACK TO
// SAVEPOINT a failed nested unit leaves for the unit's next round trip.
func TestNestedRollbackSurvivesARoundTripNotSent(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "A")
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		a, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		nerr := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			require.NoError(t, a.Rename("Written by a failed nested unit"))
			require.NoError(t, u.Flush(ctx))
			return errors.New("inner")
		})
		require.EqualError(t, nerr, "inner")
		_, err = u.Securities().List(doneCtx(ctx), uow.ListOptions{})
		require.ErrorIs(t, err, context.Canceled)
		// A nested unit that succeeds after it releases its own savepoint
		// in the right place.
		require.NoError(t, u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			return a.Rename("B")
		}))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "B", storedName(t, pool, ids["A"]))
	v, _ := stored(t, pool, ids["A"])
	assert.EqualValues(t, 2, v)
}

// TestNestedUnitOutOfTimeLetsTheEnclosingUnitGoOn: a nested unit given a
// deadline of its own that runs out while it waits for a lock fails, and
// the enclosing unit goes on, as Do promises: the rollback to the savepoint
// is not sent with the nested unit's spent context.
func TestNestedUnitOutOfTimeLetsTheEnclosingUnitGoOn(t *testing.T) {
	t.Parallel()
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "A", "B")
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "select 1 from portfolio where id = $1 for update", ids["B"])
	require.NoError(t, err)

	var nerr error
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		a, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		nctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		nerr = u.Do(nctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Portfolios().Get(ctx, ids["B"], uow.ForUpdate())
			return err
		})
		return a.Rename("A2")
	}, uow.WithAttempts(1))
	require.NoError(t, err, "the enclosing unit could not go on")
	require.Error(t, nerr)
	assert.ErrorContains(t, nerr, "57014") // canceled while it waited
	assert.Equal(t, "A2", storedName(t, pool, ids["A"]))
}

// doneCtx is a context already canceled.
func doneCtx(parent context.Context) context.Context {
	c, cancel := context.WithCancel(parent)
	cancel()
	return c
}

// lockSecurityTable holds an ACCESS EXCLUSIVE lock on security (as a
// migration would) in a transaction of its own, until the returned func.
func lockSecurityTable(t *testing.T, pool *pgxpool.Pool) (release func()) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "lock table security in access exclusive mode")
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Rollback(ctx)) }
}

// A nested unit within a nested unit fails, which leaves its ROLLBACK TO
// SAVEPOINT for the next round trip; that round trip fails before it runs
// anything (pgx's prepare step, out of time behind a lock), and the middle
// unit rolls back to its own savepoint at once, which destroys the inner
// one. The inner unit's queued statements must go with it: sent with the
// commit, they failed it ("savepoint does not exist").
func TestRollbackDropsWhatNestedUnitsQueued(t *testing.T) {
	t.Parallel()
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "A")
	var merr error
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		a, err := u.Portfolios().Get(ctx, ids["A"])
		require.NoError(t, err)
		merr = u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Portfolios().Get(ctx, ids["A"], uow.ForUpdate()) // its savepoint is set
			require.NoError(t, err)
			ierr := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				_, err := u.Portfolios().GetByName(ctx, "A")
				require.NoError(t, err)
				return errors.New("inner")
			})
			require.EqualError(t, ierr, "inner")
			release := lockSecurityTable(t, pool)
			defer release()
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err = u.Securities().List(qctx, uow.ListOptions{})
			return err
		})
		require.Error(t, merr)
		return a.Rename("A2")
	}, uow.WithAttempts(1))
	t.Logf("middle unit: %v", merr)
	require.NoError(t, err, "the enclosing unit could not commit")
	assert.Equal(t, "A2", storedName(t, pool, ids["A"]))
}

// When the round trip that carries a nested unit's SAVEPOINT fails before
// running it (pgx's prepare step, out of time behind a lock), there is no
// savepoint to roll back to and the enclosing unit's transaction is
// aborted: Do says so, the enclosing unit fails with the first error, and
// nothing of it is saved. In the exec mode (as behind PgBouncer) there is
// no prepare step: the SAVEPOINT runs before the statement that fails, and
// the enclosing unit goes on.
func TestNestedUnitFailingBeforeItsSavepointSaysTheEnclosingUnitCannotGoOn(t *testing.T) {
	t.Parallel()
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			if mode != pgx.QueryExecModeExec && pgtest.UsingBouncer(t) {
				t.Skip("through PgBouncer in transaction pooling, only the exec mode works")
			}
			pool := pgtest.NewPool(t, uow.ConfigurePool, func(c *pgxpool.Config) { c.ConnConfig.DefaultQueryExecMode = mode })
			r, err := uow.NewRunner(pool)
			require.NoError(t, err)
			_, ids := seed(t, r, nil, "A")
			var nerr error
			err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				a, err := u.Portfolios().Get(ctx, ids["A"])
				require.NoError(t, err)
				require.NoError(t, a.Rename("A2"))
				require.NoError(t, u.Flush(ctx))
				release := lockSecurityTable(t, pool)
				nctx, cancel := context.WithTimeout(ctx, time.Second)
				nerr = u.Do(nctx, func(ctx context.Context, u *uow.Unit) error {
					_, err := u.Securities().List(ctx, uow.ListOptions{})
					return err
				})
				cancel()
				release()
				return a.Rename("A3")
			}, uow.WithAttempts(1))
			require.ErrorContains(t, nerr, "57014")
			if mode == pgx.QueryExecModeExec {
				assert.NotContains(t, nerr.Error(), "savepoint was set")
				require.NoError(t, err)
				assert.Equal(t, "A3", storedName(t, pool, ids["A"]))
				return
			}
			assert.ErrorContains(t, nerr, "the nested unit failed before its savepoint was set, and its failure aborted the enclosing unit's transaction, which cannot go on")
			assert.ErrorContains(t, nerr, "error preprocessing batch (prepare)")
			assert.NotContains(t, nerr.Error(), "uow: savepoint folio_sp_1:", "the failure is not the SAVEPOINT's")
			require.Error(t, err)
			assert.ErrorContains(t, err, "aborted by an earlier error")
			assert.Equal(t, "A", storedName(t, pool, ids["A"]), "nothing of the enclosing unit is saved")
		})
	}
}

// TestAggregatesLoadedInAFailedNestedUnitStayTracked: a nested unit that
// loads a portfolio and a security, changes and flushes them, then fails.
// The objects go back to what was loaded, and the unit keeps tracking
// them: the same pointers come back from later loads, with no query, and
// what the enclosing unit changes on them afterwards is saved. (A "try"
// of a sell that fails, then a rename, must not lose the rename.)
func TestAggregatesLoadedInAFailedNestedUnitStayTracked(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")

	var rep uow.Report
	inner := errors.New("inner failed")
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		var p *domain.Portfolio
		var sec *domain.Security
		err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			var err error
			if p, err = u.Portfolios().Get(ctx, ids["Main"], uow.ForUpdate()); err != nil {
				return err
			}
			if sec, err = u.Securities().GetBySymbol(ctx, "AAPL"); err != nil {
				return err
			}
			require.NoError(t, p.Rename("Inner"))
			_, err = p.Sell(sec, dec("4"), day)
			require.NoError(t, err)
			require.NoError(t, sec.SetPrice(dec("1"), day))
			require.NoError(t, u.Flush(ctx)) // written, then rolled back
			return inner
		})
		require.Same(t, inner, err)
		assert.Equal(t, "Main", p.Name(), "as loaded")
		assert.Equal(t, int64(2), p.Version(), "as loaded")
		if hs := p.Holdings(); assert.Len(t, hs, 1) {
			assert.Equal(t, "10", hs[0].Quantity.String(), "as loaded")
		}
		price, _, _ := sec.LastPrice()
		assert.True(t, price.Equal(dec("10")), "as loaded: %s", price)

		before := u.Stats()
		again, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		assert.Same(t, p, again, "one object per row")
		againSec, err := u.Securities().Get(ctx, sec.ID())
		require.NoError(t, err)
		assert.Same(t, sec, againSec, "one object per row")
		assert.Equal(t, before, u.Stats(), "both from the identity map")

		require.NoError(t, p.Rename("After"))
		_, err = p.Sell(sec, dec("1"), day)
		require.NoError(t, err)
		return sec.SetPrice(dec("7"), day)
	}, uow.WithReport(&rep)))
	t.Log("\n" + uowtest.Describe(rep))

	v, lots := stored(t, pool, ids["Main"])
	assert.Equal(t, int64(3), v, "one bump: the commit's")
	require.Len(t, lots, 1)
	for _, q := range lots {
		assert.True(t, dec(q).Equal(dec("9")), "the sell after the nested unit, not the one in it: %s", q)
	}
	var name, price string
	require.NoError(t, pool.QueryRow(ctx, "select name from portfolio").Scan(&name))
	assert.Equal(t, "After", name, "the rename after the nested unit is saved")
	require.NoError(t, pool.QueryRow(ctx, "select last_price::text from security where symbol = 'AAPL'").Scan(&price))
	assert.True(t, dec(price).Equal(dec("7")), price)
}

// TestSecurityReadAfterANestedRevalueIsForgottenOnFailure: a nested unit
// flushes a Revalue of securities it does not track, then loads them; it
// fails. The rollback puts back prices the unit never read, so those
// securities are not kept as loaded: the next load reads the row again,
// and a price set on it commits rather than conflicting with the rolled
// back one forever. A quote queued before the nested unit is written
// before its SAVEPOINT, and stays.
func TestSecurityReadAfterANestedRevalueIsForgottenOnFailure(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA", "BBB"})

	inner := errors.New("inner failed")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		// Queued by the enclosing unit: Do flushes it before the SAVEPOINT.
		require.NoError(t, u.Securities().Revalue([]uow.Quote{{Symbol: "BBB", Price: dec("20"), Date: day}}))
		var held *domain.Security
		err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			require.NoError(t, u.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("12"), Date: day}}))
			require.NoError(t, u.Flush(ctx))
			var err error
			if held, err = u.Securities().GetBySymbol(ctx, "AAA"); err != nil {
				return err
			}
			p, _, _ := held.LastPrice()
			assert.Equal(t, "12", p.String(), "read after the nested flush")
			b, err := u.Securities().GetBySymbol(ctx, "BBB")
			require.NoError(t, err)
			p, _, _ = b.LastPrice()
			assert.Equal(t, "20", p.String(), "read after the nested flush")
			return inner
		})
		require.Same(t, inner, err)

		a, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		assert.NotSame(t, held, a, "read again, not the object read with the rolled-back price")
		p, _, _ := a.LastPrice()
		assert.Equal(t, "10", p.String(), "the stored price after the rollback")
		b, err := u.Securities().GetBySymbol(ctx, "BBB")
		require.NoError(t, err)
		p, _, _ = b.LastPrice()
		assert.Equal(t, "20", p.String(), "the enclosing unit's quote, written before the savepoint, stays")
		return a.SetPrice(dec("15"), day)
	}, uow.WithAttempts(1), uow.WithReport(&rep)))
	t.Log("\n" + uowtest.Describe(rep))

	for sym, want := range map[string]string{"AAA": "15", "BBB": "20"} {
		var price string
		require.NoError(t, pool.QueryRow(ctx, "select last_price::text from security where symbol = $1", sym).Scan(&price))
		assert.True(t, dec(price).Equal(dec(want)), "%s: %s", sym, price)
	}
}

// TestStaleSecurityStaysForgottenWhenTheEnclosingNestedUnitFails: the
// same two levels deep. The innermost unit reprices and reads a security,
// and fails: the object is forgotten. The unit around it reads the row
// again, and fails too: what it read is put back, the same object found
// by id and by symbol, with the stored price, and a price set on it is
// saved at the first attempt.
func TestStaleSecurityStaysForgottenWhenTheEnclosingNestedUnitFails(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA"}) // priced 10
	inner, middle := errors.New("inner failed"), errors.New("middle failed")
	var rep uow.Report
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		var again *domain.Security
		err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				require.NoError(t, u.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("72.9"), Date: day}}))
				require.NoError(t, u.Flush(ctx))
				s, err := u.Securities().GetBySymbol(ctx, "AAA")
				require.NoError(t, err)
				p, _, _ := s.LastPrice()
				require.Equal(t, "72.9", p.String(), "read after the innermost flush")
				return inner
			})
			require.Same(t, inner, err)
			again, err = u.Securities().GetBySymbol(ctx, "AAA")
			require.NoError(t, err)
			return middle
		})
		require.Same(t, middle, err)

		s, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		assert.Same(t, again, s, "the object the middle unit read, put back")
		p, _, _ := s.LastPrice()
		assert.Equal(t, "10", p.String(), "the stored price")
		byID, err := u.Securities().Get(ctx, s.ID())
		require.NoError(t, err)
		assert.Same(t, s, byID, "one object for the row, by id and by symbol")
		return s.SetPrice(dec("55"), day)
	}, uow.WithReport(&rep)))
	assert.Equal(t, 1, rep.Attempts, "no false conflict")
	var price string
	require.NoError(t, pool.QueryRow(ctx, "select last_price::text from security where symbol = 'AAA'").Scan(&price))
	assert.True(t, dec(price).Equal(dec("55")), price)
}

// TestAggregatesLoadedInAFailedNestedReadUnitStayTracked: the same in a
// Read unit, which writes nothing: the objects are put back and tracked.
func TestAggregatesLoadedInAFailedNestedReadUnitStayTracked(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		var p *domain.Portfolio
		err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			var err error
			p, err = u.Portfolios().Get(ctx, ids["Main"])
			require.NoError(t, err)
			require.NoError(t, p.Rename("What if"))
			return errors.New("inner")
		})
		require.Error(t, err)
		assert.Equal(t, "Main", p.Name())
		again, err := u.Portfolios().Get(ctx, ids["Main"])
		require.NoError(t, err)
		assert.Same(t, p, again)
		return nil
	}))
}

// A nested unit given a context that has ended fails before fn runs, as
// Runner.Do does: fn must not do work, outside the database too, for a
// caller that has gone.
func TestNestedUnitWithAnEndedContextDoesNotRunFn(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	for _, read := range []bool{false, true} {
		run := r.Do
		if read {
			run = r.Read
		}
		require.NoError(t, run(ctx, func(ctx context.Context, u *uow.Unit) error {
			ended, cancel := context.WithCancel(ctx)
			cancel()
			ran := false
			err := u.Do(ended, func(context.Context, *uow.Unit) error { ran = true; return nil })
			assert.ErrorIs(t, err, context.Canceled)
			assert.False(t, ran, "read-only %v", read)
			return nil
		}))
	}
}

// A new security and a stored one loaded while the new one held its
// symbol: the symbol finds the new one (whose insert would fail), and
// still does after a failed nested unit puts the unit back as it was, every
// time (the entries are restored from a map, in no order).
func TestSymbolAfterFailedNestedUnitFindsTheNewSecurity(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	seed(t, r, []string{"AAA"})
	// In a Read unit: in Do, the flush before the nested unit's SAVEPOINT
	// would fail on the duplicate symbol first.
	err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		s, err := domain.NewSecurity("AAA", "new", "USD")
		require.NoError(t, err)
		u.Securities().Add(s)
		all, err := u.Securities().List(ctx, uow.ListOptions{})
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.NotSame(t, s, all[0], "the stored security is loaded beside the new one")
		for i := range 30 {
			require.Error(t, u.Do(ctx, func(context.Context, *uow.Unit) error { return errors.New("no") }))
			got, err := u.Securities().GetBySymbol(ctx, "AAA")
			require.NoError(t, err)
			require.Same(t, s, got, "after failed nested unit %d", i+1)
		}
		return nil
	})
	require.ErrorIs(t, err, uow.ErrReadOnly, "the Add is a change a Read unit refuses at its end")
}

// A walk of a portfolio's Lots goes on around nested units that fail
// without changing its lots, even after the unit changed them earlier
// (before, the rollback rebuilt every object the unit tracked, and the
// walk took that for a change); a nested unit that bought into it and
// failed changed the lots during the walk, and the walk panics as after any
// Buy.
func TestWalkingLotsAroundFailingNestedUnits(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, _ := seed(t, r, []string{"AAPL"})
	for _, how := range nestedFailures {
		for _, mode := range []struct {
			name string
			run  func(context.Context, func(context.Context, *uow.Unit) error, ...uow.Option) error
		}{{"Do", r.Do}, {"Read", r.Read}} {
			t.Run(mode.name+" "+how, func(t *testing.T) {
				_, ids := seed(t, r, nil, "Main "+t.Name(), "Other "+t.Name())
				buy(t, r, ids["Main "+t.Name()], secs["AAPL"], "1", "2", "3")
				later := day.AddDate(0, 0, 10)
				err := mode.run(ctx, func(ctx context.Context, u *uow.Unit) error {
					p, err := u.Portfolios().Get(ctx, ids["Main "+t.Name()])
					require.NoError(t, err)
					other, err := u.Portfolios().Get(ctx, ids["Other "+t.Name()])
					require.NoError(t, err)
					_, err = p.Buy(secs["AAPL"], dec("4"), dec("1"), later)
					require.NoError(t, err)
					if mode.name == "Do" {
						require.NoError(t, u.Flush(ctx))
					}
					var walked []string
					for l := range p.Lots() {
						walked = append(walked, l.Quantity().String())
						failNested(t, ctx, u, how, func(ctx context.Context, u *uow.Unit) {
							require.NoError(t, other.Rename("Renamed "+t.Name()))
							require.NoError(t, p.Rename("Main renamed "+t.Name()))
						})
					}
					assert.Equal(t, []string{"1", "2", "3", "4"}, walked)
					assert.Equal(t, "Main "+t.Name(), p.Name())
					assert.Equal(t, "Other "+t.Name(), other.Name())

					steps := 0
					assert.Panics(t, func() {
						for range p.Lots() {
							steps++
							failNested(t, ctx, u, how, func(ctx context.Context, u *uow.Unit) {
								_, err := p.Buy(secs["AAPL"], dec("5"), dec("1"), later)
								require.NoError(t, err)
							})
						}
					})
					assert.Equal(t, 1, steps)
					assert.Len(t, p.Investments(), 4, "the nested buy is undone")
					return nil
				})
				if mode.name == "Read" {
					assert.ErrorIs(t, err, uow.ErrReadOnly, "the buy outside the nested units stands")
				} else {
					require.NoError(t, err)
				}
			})
		}
	}
}
