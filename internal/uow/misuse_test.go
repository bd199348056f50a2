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
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
)

func storedName(t *testing.T, pool *pgxpool.Pool, id any) string {
	t.Helper()
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select name from portfolio where id = $1", id).Scan(&name))
	return name
}

// A unit kept past its fn refuses everything: before, a query through it
// began a transaction nothing ended (holding a connection and, after a
// flush, row locks), and a Flush of changes made through it was lost.
func TestUnitUsedAfterItsFnReturnedRefuses(t *testing.T) {
	t.Parallel()
	// A pool of the test's own, closed with a time limit: should the unit
	// leak a connection, pool.Close would wait for it for ever, and the
	// test must fail rather than hang.
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	uow.ConfigurePool(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() { pool.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Error("pool.Close waited 10 s: a connection was never released")
		}
	})
	r, err := uow.NewRunner(pool, uow.WithAttempts(1))
	require.NoError(t, err)
	secs, ids := seed(t, r, []string{"AAA"}, "P", "Q")
	for _, read := range []bool{false, true} {
		var leaked *uow.Unit
		var p *domain.Portfolio
		run := r.Do
		if read {
			run = r.Read
		}
		require.NoError(t, run(ctx, func(ctx context.Context, u *uow.Unit) error {
			leaked = u
			var err error
			p, err = u.Portfolios().Get(ctx, ids["P"])
			return err
		}))

		_, err = leaked.Portfolios().Get(ctx, ids["Q"])
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "Get")
		_, err = leaked.Portfolios().Get(ctx, ids["P"])
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "Get of a loaded portfolio")
		_, err = leaked.Portfolios().GetByName(ctx, "Q")
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "GetByName")
		_, err = leaked.Portfolios().List(ctx, uow.ListOptions{})
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "List")
		_, err = leaked.Securities().GetBySymbol(ctx, "AAA")
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "GetBySymbol")
		_, err = leaked.Securities().Get(ctx, secs["AAA"].ID())
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "Securities().Get")
		_, err = leaked.Securities().List(ctx, uow.ListOptions{})
		assert.ErrorIs(t, err, uow.ErrUnitEnded, "Securities().List")
		assert.ErrorIs(t, leaked.Securities().Revalue([]uow.Quote{{Symbol: "AAA", Price: dec("1"), Date: day}}), uow.ErrUnitEnded)
		assert.ErrorIs(t, leaked.Portfolios().Remove(p), uow.ErrUnitEnded, "Remove")

		require.NoError(t, p.Rename("Renamed"))
		assert.ErrorIs(t, leaked.Flush(ctx), uow.ErrUnitEnded, "Flush")
		called := false
		assert.ErrorIs(t, leaked.Do(ctx, func(context.Context, *uow.Unit) error { called = true; return nil }), uow.ErrUnitEnded)
		assert.False(t, called, "a nested unit ran on an ended unit")
		np, err := domain.NewPortfolio("Late", "USD")
		require.NoError(t, err)
		assert.PanicsWithValue(t, "uow: the unit was used after its fn returned (Add)", func() { leaked.Portfolios().Add(np) })
		assert.PanicsWithValue(t, "uow: the unit was used after its fn returned (Add)", func() { leaked.Securities().Add(secs["AAA"]) })

		assert.Zero(t, pool.Stat().AcquiredConns(), "read=%v: a connection is still held", read)
		assert.Equal(t, "P", storedName(t, pool, ids["P"]))
		assert.Equal(t, 2, count(t, pool, "portfolio"))
	}
	// And nothing is left locked: another unit renames P at once.
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, r.Do(c, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["P"])
		if err != nil {
			return err
		}
		return p.Rename("P2")
	}))
	assert.Equal(t, "P2", storedName(t, pool, ids["P"]))
}

// Do and Read with a context that has ended do not run fn at all.
func TestNoFnRunsOnAnEndedContext(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	for _, run := range []func(context.Context, func(context.Context, *uow.Unit) error, ...uow.Option) error{r.Do, r.Read} {
		called := false
		err := run(c, func(context.Context, *uow.Unit) error { called = true; return nil })
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, called)
	}
}

// A security loaded after a Revalue that names it carries the queued
// price, and what it is changed to afterwards is what is stored.
func TestRevalueThenLoadAgrees(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA", "BBB", "CCC"}) // each at 10
	price := func(sym string) string {
		var p string
		require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = $1", sym).Scan(&p))
		return p
	}
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		if err := u.Securities().Revalue([]uow.Quote{
			{Symbol: "AAA", Price: dec("8"), Date: day.AddDate(0, 0, 1)},
			{Symbol: "BBB", Price: dec("9"), Date: day.AddDate(0, 0, 1)},
			{Symbol: "CCC", Price: dec("7"), Date: day.AddDate(0, 0, 1)},
		}); err != nil {
			return err
		}
		ss, err := u.Securities().GetBySymbols(ctx, []string{"AAA", "BBB"})
		if err != nil {
			return err
		}
		for i, want := range []string{"8", "9"} {
			p, _, ok := ss[i].LastPrice()
			require.True(t, ok)
			assert.Equal(t, want, p.String(), "%s in memory", ss[i].Symbol())
		}
		// Back to the stored price: that is what must be stored.
		return ss[0].SetPrice(dec("10"), day)
	}))
	assert.Equal(t, "10", price("AAA"), "set back after the load")
	assert.Equal(t, "9", price("BBB"), "loaded after the Revalue")
	assert.Equal(t, "7", price("CCC"), "not loaded")
}

// Remove and then Add of the same portfolio keeps it, with its changes.
func TestAddAfterRemoveUndoesTheRemoval(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "P")
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, ids["P"])
		if err != nil {
			return err
		}
		if err := u.Portfolios().Remove(p); err != nil {
			return err
		}
		_, err = u.Portfolios().Get(ctx, ids["P"])
		require.ErrorIs(t, err, domain.ErrNotFound, "removed")
		u.Portfolios().Add(p)
		got, err := u.Portfolios().Get(ctx, ids["P"])
		require.NoError(t, err)
		require.Same(t, p, got)
		return p.Rename("Kept")
	}))
	assert.Equal(t, "Kept", storedName(t, pool, ids["P"]))
	assert.Equal(t, 1, count(t, pool, "portfolio"))
}

// GetBySymbol reads a symbol as Revalue and domain.ParseSymbol do.
func TestGetBySymbolNormalizes(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAA", "BRK.B"}, "P")
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		for _, in := range []string{"aaa", " AAA ", "Aaa"} {
			s, err := u.Securities().GetBySymbol(ctx, in)
			require.NoError(t, err, in)
			assert.Equal(t, secs["AAA"].ID(), s.ID(), in)
		}
		ss, err := u.Securities().GetBySymbols(ctx, []string{"brk.b", "AAA"})
		require.NoError(t, err)
		assert.Equal(t, []string{"BRK.B", "AAA"}, []string{ss[0].Symbol(), ss[1].Symbol()})
		_, err = u.Securities().GetBySymbol(ctx, "no such!")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		return nil
	}))
	// The load option too: the security is there without a statement.
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		if _, err := u.Portfolios().Get(ctx, ids["P"], uow.WithSecuritiesBySymbol("brk.b")); err != nil {
			return err
		}
		before := u.Stats()
		_, err := u.Securities().GetBySymbol(ctx, "BRK.B")
		require.NoError(t, err)
		assert.Equal(t, before, u.Stats(), "GetBySymbol sent a statement")
		return nil
	}))
}

// A security added after a Revalue that names its symbol is inserted as
// it is: the queued quote does not overwrite the new row behind the
// object's back.
func TestRevalueThenAddKeepsTheObject(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	var added *domain.Security
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		if err := u.Securities().Revalue([]uow.Quote{{Symbol: "NEW", Price: dec("8"), Date: day}}); err != nil {
			return err
		}
		s, err := domain.NewSecurity("NEW", "New Inc.", "USD")
		require.NoError(t, err)
		require.NoError(t, s.SetPrice(dec("10"), day))
		u.Securities().Add(s)
		added = s
		return nil
	}))
	var stored string
	require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = 'NEW'").Scan(&stored))
	p, _, _ := added.LastPrice()
	assert.Equal(t, p.String(), stored, "object and row")
	assert.Equal(t, "10", stored)
}

// List refuses text PostgreSQL would: invalid UTF-8, NUL bytes.
func TestListRefusesTextTheDatabaseCannotHold(t *testing.T) {
	t.Parallel()
	_, r := newDB(t)
	for _, opts := range []uow.ListOptions{{NameContains: "\xff"}, {NameContains: "a\x00b"}, {After: "\xc3"}, {After: "\x00"}} {
		err := r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Portfolios().List(ctx, opts)
			return err
		})
		assert.ErrorIs(t, err, domain.ErrInvalid, "%q", opts)
		assert.Contains(t, err.Error(), "must be UTF-8 text without NUL bytes")
		err = r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
			_, err := u.Securities().List(ctx, opts)
			return err
		})
		assert.ErrorIs(t, err, domain.ErrInvalid, "securities %q", opts)
	}
}

// Looking up a name or symbol the database cannot hold (invalid UTF-8, a
// NUL byte) finds nothing, and sends nothing: sent, it would abort the
// unit's transaction (SQLSTATE 22021), and the unit's work with it.
func TestLookupsOfTextTheDatabaseCannotHoldFindNothing(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAA"}, "P")
	for _, bad := range []string{"\xff", "A\x00B", "\x00"} {
		lookups := map[string]func(context.Context, *uow.Unit) error{
			"GetBySymbol": func(ctx context.Context, u *uow.Unit) error {
				_, err := u.Securities().GetBySymbol(ctx, bad)
				return err
			},
			"GetBySymbols": func(ctx context.Context, u *uow.Unit) error {
				_, err := u.Securities().GetBySymbols(ctx, []string{"AAA", bad})
				return err
			},
			"GetByName": func(ctx context.Context, u *uow.Unit) error {
				_, err := u.Portfolios().GetByName(ctx, bad)
				return err
			},
			"WithSecuritiesBySymbol": func(ctx context.Context, u *uow.Unit) error {
				if _, err := u.Portfolios().Get(ctx, ids["P"], uow.WithSecuritiesBySymbol(bad, "AAA")); err != nil {
					return err
				}
				_, err := u.Securities().GetBySymbol(ctx, bad)
				return err
			},
		}
		for name, lookup := range lookups {
			err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				p, err := u.Portfolios().Get(ctx, ids["P"])
				if err != nil {
					return err
				}
				err = lookup(ctx, u)
				assert.ErrorIs(t, err, domain.ErrNotFound, "%s(%q)", name, bad)
				assert.NotContains(t, err.Error(), "SQLSTATE", "%s(%q)", name, bad)
				_, err = p.Buy(secs["AAA"], dec("1"), dec("1"), day)
				return err
			})
			require.NoError(t, err, "%s(%q): the unit goes on", name, bad)
		}
	}
	_, lots := stored(t, pool, ids["P"])
	assert.Len(t, lots, 12, "every unit's buy was saved")
}

// Adding a second object for a portfolio the unit has, such as a copy
// changed in another unit, fails rather than dropping its changes: in Do,
// in Read, and in a nested unit of either, where only that unit fails.
func TestAddingAnotherObjectForALoadedIDFails(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "P")
	var copied *domain.Portfolio
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) (err error) {
		copied, err = u.Portfolios().Get(ctx, ids["P"])
		return err
	}))
	require.NoError(t, copied.Rename("Copied"))
	addCopy := func(ctx context.Context, u *uow.Unit) error {
		u.Portfolios().Add(copied)
		return nil
	}
	for _, tc := range []struct {
		desc   string
		run    func(context.Context, func(context.Context, *uow.Unit) error, ...uow.Option) error
		nested bool
	}{
		{"Do", r.Do, false}, {"Read", r.Read, false}, {"nested in Do", r.Do, true}, {"nested in Read", r.Read, true},
	} {
		var nestedErr error
		err := tc.run(ctx, func(ctx context.Context, u *uow.Unit) error {
			if _, err := u.Portfolios().Get(ctx, ids["P"]); err != nil {
				return err
			}
			if !tc.nested {
				return addCopy(ctx, u)
			}
			nestedErr = u.Do(ctx, addCopy)
			return nil // the enclosing unit goes on
		})
		if tc.nested {
			require.NoError(t, err, tc.desc)
			err = nestedErr
		}
		require.ErrorIs(t, err, domain.ErrAlreadyExists, tc.desc)
		assert.Contains(t, err.Error(), "the unit has another object for its id", tc.desc)
	}
	assert.Equal(t, "P", storedName(t, pool, ids["P"]))
}

// A deadline that ends while a statement waits on a lock is the error's
// cause as errors.Is sees it, not only the server's "canceling statement";
// with a cause of its own, the error is both.
func TestDeadlineWhileWaitingIsDeadlineExceeded(t *testing.T) {
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "P")
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer holder.Rollback(ctx) //nolint:errcheck
	_, err = holder.Exec(ctx, "select 1 from portfolio where id = $1 for update", ids["P"])
	require.NoError(t, err)

	budget := errors.New("request budget spent")
	for _, cause := range []error{nil, budget} {
		// 3 s: enough for a loaded machine (or PgBouncer) to get the unit
		// to its statement. The deadline must find the statement waiting,
		// not end the unit before it got there.
		c, cancel := context.WithTimeoutCause(ctx, 3*time.Second, cause)
		waited := make(chan bool, 1)
		go func() {
			for c.Err() == nil {
				if waitsForLock(t, pool) {
					waited <- c.Err() == nil
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			waited <- false
		}()
		err = r.Do(c, func(ctx context.Context, u *uow.Unit) error {
			p, err := u.Portfolios().Get(ctx, ids["P"])
			if err != nil {
				return err
			}
			return p.Rename("Waited")
		})
		cancel()
		require.True(t, <-waited, "the deadline came before the statement waited for the lock: %v", err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		if cause != nil {
			assert.ErrorIs(t, err, cause)
		}
		assert.NotErrorIs(t, err, uow.ErrCommitUnknown)
	}
	require.NoError(t, holder.Rollback(ctx))
	assert.Equal(t, "P", storedName(t, pool, ids["P"]))
}

// A second object for a symbol the unit has is refused when it is added,
// and forgetting it again leaves the one the unit loaded working.
func TestAddingAnotherObjectForATrackedSymbolFails(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	seed(t, r, []string{"AAA"})

	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		loaded, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		dup, err := domain.NewSecurity("AAA", "Another AAA", "USD")
		require.NoError(t, err)
		u.Securities().Add(dup)
		require.ErrorIs(t, u.Securities().Remove(dup), domain.ErrNotFound, "dup was never tracked")
		got, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		assert.Same(t, loaded, got)
		return loaded.SetPrice(dec("12"), day)
	})
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.Contains(t, err.Error(), "add security AAA: the unit has another security with this symbol")
	assert.Equal(t, 1, count(t, pool, "security"))
	var price string
	require.NoError(t, pool.QueryRow(ctx, "select trim_scale(last_price)::text from security where symbol = 'AAA'").Scan(&price))
	assert.Equal(t, "10", price, "nothing written")

	// Two new ones in one unit: the same.
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		for _, name := range []string{"One", "Two"} {
			s, err := domain.NewSecurity("BBB", name, "USD")
			require.NoError(t, err)
			u.Securities().Add(s)
		}
		return nil
	})
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.ErrorContains(t, err, "add security BBB: the unit has another security with this symbol")
	assert.Equal(t, 1, count(t, pool, "security"))

	// A removed one added back after another took its symbol: the same.
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		loaded, err := u.Securities().GetBySymbol(ctx, "AAA")
		require.NoError(t, err)
		require.NoError(t, u.Securities().Remove(loaded))
		other, err := domain.NewSecurity("AAA", "The new AAA", "USD")
		require.NoError(t, err)
		u.Securities().Add(other)
		u.Securities().Add(loaded)
		return nil
	})
	require.ErrorIs(t, err, domain.ErrAlreadyExists)
	assert.ErrorContains(t, err, "add security AAA: the unit has added another security with its symbol")
	assert.Equal(t, 1, count(t, pool, "security"))
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select name from security where symbol = 'AAA'").Scan(&name))
	assert.Equal(t, "AAA Inc.", name, "nothing written")
}

// Remove takes only a portfolio of the unit's: one never added, or a copy
// loaded in another unit, is refused, and nothing is deleted.
func TestRemoveOfAPortfolioTheUnitDoesNotHave(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	_, ids := seed(t, r, nil, "P")
	var elsewhere *domain.Portfolio
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		var err error
		elsewhere, err = u.Portfolios().Get(ctx, ids["P"])
		return err
	}))
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		never, err := domain.NewPortfolio("Never added", "USD")
		require.NoError(t, err)
		assert.ErrorIs(t, u.Portfolios().Remove(never), domain.ErrNotFound)
		err = u.Portfolios().Remove(elsewhere)
		assert.ErrorIs(t, err, domain.ErrNotFound)
		assert.ErrorContains(t, err, `remove portfolio "P": not loaded in this unit`)
		// Loaded here too, the copy is still not the unit's object.
		_, err = u.Portfolios().Get(ctx, ids["P"])
		require.NoError(t, err)
		assert.ErrorIs(t, u.Portfolios().Remove(elsewhere), domain.ErrNotFound)
		return nil
	}))
	assert.Equal(t, "P", storedName(t, pool, ids["P"]))
}

// A unit whose connection cannot be had fails with the pool's reason, once:
// a closed pool, or a pool whose connections are all taken until the
// unit's context ends.
func TestAUnitWithoutAConnection(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	pool := pgtest.OpenPool(t, url, uow.ConfigurePool, func(c *pgxpool.Config) { c.MaxConns = 1 })
	r, err := uow.NewRunner(pool)
	require.NoError(t, err)
	touch := func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Securities().List(ctx, uow.ListOptions{})
		return err
	}

	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var rep uow.Report
	err = r.Do(short, touch, uow.WithReport(&rep))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "uow: acquire connection")
	assert.Equal(t, 1, rep.Attempts)
	held.Release()

	closed := pgtest.OpenPool(t, url, uow.ConfigurePool)
	rc, err := uow.NewRunner(closed)
	require.NoError(t, err)
	closed.Close()
	rep = uow.Report{}
	err = rc.Read(ctx, touch, uow.WithReport(&rep))
	assert.ErrorContains(t, err, "uow: acquire connection: closed pool")
	assert.Equal(t, 1, rep.Attempts)
	assert.Zero(t, rep.Stats)
}
