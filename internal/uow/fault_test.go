package uow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
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
	"github.com/folio-dev/folio/internal/migrate"
	"github.com/folio-dev/folio/internal/pglocal"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

// faultDB is a database of the test's own whose pool marks its sessions
// with an application name, so that an administrator connection can find
// them (pg_stat_activity) to block, kill or watch them.
//
// The pool has one connection, so that each unit runs on the connection
// the one before warmed up (its statements prepared): which round trip a
// fault hits is then the same on every run. other is a second connection
// to the same database, for the tests to hold locks with.
func faultDB(t *testing.T, opts ...uow.Option) (pool *pgxpool.Pool, r *uow.Runner, admin, other *pgx.Conn, app string) {
	t.Helper()
	app = "folio-fault-" + uuid.NewString()[:8]
	url := pgtest.URL(t)
	pool = pgtest.OpenPool(t, url, uow.ConfigurePool, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["application_name"] = app
		c.MaxConns = 1
	})
	opts = append([]uow.Option{uow.WithBackoff(time.Millisecond, 10*time.Millisecond)}, opts...)
	r, err := uow.NewRunner(pool, opts...)
	require.NoError(t, err)
	admin, err = pgx.Connect(ctx, pgtest.AdminURL(t, "postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	other, err = pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	return pool, r, admin, other, app
}

// terminate kills the backends of app that are in the given state.
func terminate(t *testing.T, admin *pgx.Conn, app, state string) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRow(ctx, `
		select count(pg_terminate_backend(pid)) from pg_stat_activity
		where application_name = $1 and state = $2`, app, state).Scan(&n))
	return n
}

// waitBlocked waits until a backend of app waits for a lock and returns
// its pid, or 0 after reporting an error. It runs in goroutines of its own,
// so it fails the test without stopping it.
func waitBlocked(t *testing.T, admin *pgx.Conn, app string) int {
	for range 500 {
		var pid int
		err := admin.QueryRow(ctx, `
			select pid from pg_stat_activity
			where application_name = $1 and wait_event_type = 'Lock'`, app).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("watch for the blocked unit: %v", err)
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the unit never blocked")
	return 0
}

// A unit's backend is killed before, during and after its flush: the unit
// fails, nothing of it is stored, and the next unit works on a pool that
// replaced the dead connection.
func TestKilledBackend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		when    string
		retries bool
	}{
		{"before flush", true}, {"during flush", true}, {"after flush", true},
		// With retries off (WithAttempts(1)), the caller sees every one of
		// them fail, and nothing is stored.
		{"before flush", false}, {"during flush", false}, {"after flush", false},
	} {
		when := tc.when
		name := when
		opts := []uow.Option{}
		if !tc.retries {
			name += ", retries off"
			opts = append(opts, uow.WithAttempts(1))
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool, r, admin, other, app := faultDB(t)
			secs, ids := seed(t, r, []string{"AAPL"}, "Main")
			buy(t, r, ids["Main"], secs["AAPL"], "10")
			buy(t, r, ids["Main"], secs["AAPL"], "10") // warm: a buy's statements are prepared
			v0, lots0 := stored(t, pool, ids["Main"])

			var blocker pgx.Tx
			killed := make(chan struct{})
			if when != "during flush" {
				close(killed)
			} else {
				// Hold the portfolio's row lock so that the flush waits
				// on its version check, then kill it there.
				var err error
				blocker, err = other.Begin(ctx)
				require.NoError(t, err)
				_, err = blocker.Exec(ctx, "select 1 from portfolio where id = $1 for update", ids["Main"])
				require.NoError(t, err)
				watcher, killer := admin2(t), admin2(t)
				go func() {
					defer close(killed)
					if pid := waitBlocked(t, watcher, app); pid != 0 {
						_, err := killer.Exec(ctx, "select pg_terminate_backend($1)", pid)
						assert.NoError(t, err)
					}
					// Let the unit's next attempt through.
					assert.NoError(t, blocker.Rollback(ctx))
				}()
			}

			var rep uow.Report
			attempts := 0
			err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				p, err := u.Portfolios().Get(ctx, ids["Main"])
				if err != nil {
					return err
				}
				if _, err := p.Buy(secs["AAPL"], dec("5"), dec("1"), day); err != nil {
					return err
				}
				if attempts++; attempts > 1 {
					return nil // see below: a second attempt is left alone
				}
				switch when {
				case "before flush":
					require.Equal(t, 1, terminate(t, admin, app, "idle in transaction"))
				case "after flush":
					require.NoError(t, u.Flush(ctx))
					require.Equal(t, 1, terminate(t, admin, app, "idle in transaction"))
				}
				return nil
			}, append(opts, uow.WithReport(&rep))...)
			<-killed
			v1, lots1 := stored(t, pool, ids["Main"])
			if !tc.retries {
				t.Logf("%s, retries off: the caller saw: %v", when, err)
				require.Error(t, err)
				assert.Equal(t, 1, rep.Attempts)
				if when == "during flush" {
					assert.ErrorIs(t, err, uow.ErrSessionEnded)
				}
				assert.Equal(t, v0, v1, "nothing stored")
				assert.Equal(t, lots0, lots1)
			} else if when == "during flush" {
				// The server said why it hung up (57P01, admin_shutdown)
				// in answer to a statement before COMMIT: the transaction
				// is known to be rolled back, so the unit ran again.
				require.NoError(t, err)
				require.Len(t, rep.Retries, 1)
				var pgErr *pgconn.PgError
				require.ErrorAs(t, rep.Retries[0], &pgErr)
				assert.Equal(t, "57P01", pgErr.Code)
				assert.ErrorIs(t, rep.Retries[0], uow.ErrSessionEnded)
			}
			if !tc.retries {
				// checked above
			} else if err == nil {
				// The backend was gone before the unit's last round trip
				// was written: the write failed, nothing reached the
				// server, and the unit was safely run again. Or the server
				// said it ended the session (see above).
				t.Logf("%s: retried after %v", when, rep.Retries)
				require.Equal(t, 2, rep.Attempts)
				assert.NotErrorIs(t, rep.Retries[0], uow.ErrCommitUnknown)
				assert.Equal(t, v0+1, v1, "stored once, by the second attempt")
				assert.Len(t, lots1, len(lots0)+1)
				v0, lots0 = v1, lots1
			} else if errors.Is(err, uow.ErrCommitUnknown) {
				// The same race, lost the other way round where pgx
				// cannot tell that the failed write sent nothing (the
				// exec mode used behind PgBouncer), or the server's
				// 57P01 read as the answer to COMMIT (killed while idle
				// after the flush, which the client cannot tell from
				// killed while committing): the unit calls the outcome
				// unknown and does not retry. Nothing was stored.
				t.Logf("%s: the caller saw: %v", when, err)
				assert.Equal(t, 1, rep.Attempts, "retried after %v", rep.Retries)
				assert.Equal(t, v0, v1, "nothing stored")
				assert.Equal(t, lots0, lots1)
			} else {
				t.Fatalf("%s: neither retried nor of unknown outcome: %v", when, err)
			}

			buy(t, r, ids["Main"], secs["AAPL"], "1")
			v2, lots2 := stored(t, pool, ids["Main"])
			assert.Equal(t, v0+1, v2, "the next unit works")
			assert.Len(t, lots2, len(lots0)+1)
			requireHealthy(t, pool)
		})
	}
}

// admin2 opens a second administrator connection for a goroutine.
func admin2(t *testing.T) *pgx.Conn {
	c, err := pgx.Connect(ctx, pgtest.AdminURL(t, "postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// Cancelling the context while a unit waits in a query or in its flush
// rolls it back and leaks no connection.
func TestCancelMidQueryAndMidFlush(t *testing.T) {
	t.Parallel()
	pgtest.SkipIfBouncerOlder(t, "1.19.1", "PgBouncer exits when the client of a cancel request hangs up before the cancel is through, as pgx's does once the cancelled statement has ended (pgbouncer/pgbouncer#801)")
	for _, where := range []string{"query", "flush", "commit"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			pool, r, _, other, app := faultDB(t)
			secs, ids := seed(t, r, []string{"AAPL"}, "Main")
			buy(t, r, ids["Main"], secs["AAPL"], "10")
			buy(t, r, ids["Main"], secs["AAPL"], "10")
			v0, lots0 := stored(t, pool, ids["Main"])

			blocker, err := other.Begin(ctx)
			require.NoError(t, err)
			if where == "query" {
				// Loading the lots needs a lock this one excludes.
				_, err = blocker.Exec(ctx, "lock table investment in access exclusive mode")
			} else {
				_, err = blocker.Exec(ctx, "select 1 from portfolio where id = $1 for update", ids["Main"])
			}
			require.NoError(t, err)

			cctx, cancel := context.WithCancel(ctx)
			watcher := admin2(t)
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				waitBlocked(t, watcher, app)
				cancel()
			}()
			err = r.Do(cctx, func(ctx context.Context, u *uow.Unit) error {
				p, err := u.Portfolios().Get(ctx, ids["Main"])
				if err != nil {
					return err
				}
				if _, err := p.Buy(secs["AAPL"], dec("5"), dec("1"), day); err != nil {
					return err
				}
				if where == "flush" {
					return u.Flush(ctx)
				}
				return nil
			})
			cancel()
			<-watched
			require.NoError(t, blocker.Rollback(ctx))
			require.Error(t, err)
			t.Logf("cancelled in %s: the caller saw: %v", where, err)
			// The server cancelled the waiting statement (57014) and
			// said so: the transaction is known to be rolled back, even
			// when COMMIT was in the same pipeline.
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			assert.Equal(t, "57014", pgErr.Code)
			assert.NotErrorIs(t, err, uow.ErrCommitUnknown)

			v1, lots1 := stored(t, pool, ids["Main"])
			assert.Equal(t, v0, v1)
			assert.Equal(t, lots0, lots1)
			requireHealthy(t, pool)
			buy(t, r, ids["Main"], secs["AAPL"], "1")
		})
	}
}

// The server restarts while units run: those in flight fail with an
// error, later ones succeed on the same pool, and every unit reported as
// committed is in the database.
func TestServerRestartUnderLoad(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "folio-restart-")
	require.NoError(t, err)
	// The server keeps its data across the restart, so Stop leaves the data
	// directory and pglocal's lock file beside it: both go here.
	t.Cleanup(func() { _ = os.RemoveAll(dir); _ = os.Remove(dir + ".lock") })
	opts := pglocal.Options{DataDir: dir, StopGrace: 50 * time.Millisecond,
		Settings: map[string]string{"fsync": "off"}}
	srv, err := pglocal.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })

	pool := pgtest.OpenPool(t, srv.URL("postgres"), uow.ConfigurePool)
	m, err := migrate.New(pool)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	r, err := uow.NewRunner(pool, uow.WithBackoff(time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	// One portfolio per worker: contention is not what this test is about.
	secs, ids := seed(t, r, []string{"AAPL"}, "W0", "W1", "W2", "W3")

	var ok, unknown, failed atomic.Int64
	var errsMu sync.Mutex
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // also when a require below fails: no worker outlives the test
	for w := range 4 {
		id := ids[fmt.Sprintf("W%d", w)]
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					p, err := u.Portfolios().Get(ctx, id)
					if err != nil {
						return err
					}
					_, err = p.Buy(secs["AAPL"], dec("1"), dec("1"), day)
					return err
				})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, uow.ErrCommitUnknown):
					unknown.Add(1)
				default:
					failed.Add(1)
					errsMu.Lock()
					if len(errs) < 3 {
						errs = append(errs, err.Error())
					}
					errsMu.Unlock()
				}
			}
		})
	}
	// Wait for progress rather than for fixed times, which a loaded
	// machine may not make any in.
	require.Eventually(t, func() bool { return ok.Load() >= 20 }, time.Minute, 10*time.Millisecond, "units commit before the stop")
	before := ok.Load()
	require.NoError(t, srv.Stop(ctx))
	failedAt := failed.Load()
	require.Eventually(t, func() bool { return failed.Load() > failedAt }, time.Minute, 10*time.Millisecond, "units fail while the server is down")
	srv, err = pglocal.Start(ctx, opts)
	require.NoError(t, err)
	restartedAt := ok.Load()
	require.Eventually(t, func() bool { return ok.Load() >= restartedAt+20 }, time.Minute, 10*time.Millisecond, "units commit after the restart")
	halt()

	t.Logf("restart: %d units committed before the stop, %d after the restart; %d failed in flight, %d with an unknown commit outcome; e.g. %v",
		before, ok.Load()-restartedAt, failed.Load(), unknown.Load(), errs)
	assert.Positive(t, before)
	assert.Positive(t, ok.Load()-restartedAt, "units succeed again after the restart, on the same pool")

	// Every reported commit is stored; an unknown outcome may or may not be.
	n := int64(count(t, pool, "investment"))
	assert.GreaterOrEqual(t, n, ok.Load(), "a committed unit was lost")
	assert.LessOrEqual(t, n, ok.Load()+unknown.Load())
}

// proxy forwards Unix-socket connections to a PostgreSQL socket until cut
// is called, which drops every connection without a word from the server,
// and refuses new ones: a network failure, as the client sees it. (Were new
// connections let through, pgx would send a cancel request for the query in
// flight, and whether that arrives in time is a race.)
type proxy struct {
	dir   string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	trap  atomic.Bool
}

// newProxy proxies the Unix socket of the server at the database URL url.
func newProxy(t *testing.T, url string) *proxy {
	t.Helper()
	cc, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	target := filepath.Join(cc.Host, fmt.Sprintf(".s.PGSQL.%d", cc.Port))
	dir, err := os.MkdirTemp("", "folio-proxy-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, filepath.Base(target)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	p := &proxy{dir: dir, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("unix", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.forward(s, c)
			go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	return p
}

// dropNext makes the proxy drop the connection whose client sends next,
// once the proxy has read what it sent and before the server sees it: the
// client's write succeeded, and no answer comes. (Matching the statement's
// text would not do: a prepared COMMIT goes out by name.) New connections
// are forwarded as before.
func (p *proxy) dropNext() { p.trap.Store(true) }

// forward copies what the client c sends to the server s, but for the
// write the trap is set for (see dropNext).
func (p *proxy) forward(s, c net.Conn) {
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if p.trap.CompareAndSwap(true, false) {
				_ = c.Close()
				return
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// The connection dies while COMMIT is in flight and the server never says
// what became of it: the unit reports ErrCommitUnknown and does not retry.
// Not retrying is right: here the server went on and committed.
func TestConnectionLostDuringCommitIsUnknownAndNotRetried(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	p := newProxy(t, url)
	app := "folio-lost-" + uuid.NewString()[:8]
	pool := pgtest.OpenPool(t, url, uow.ConfigurePool, func(c *pgxpool.Config) {
		c.ConnConfig.Host = p.dir
		c.ConnConfig.RuntimeParams["application_name"] = app
		c.MaxConns = 1
	})
	r, err := uow.NewRunner(pool)
	require.NoError(t, err)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	buy(t, r, ids["Main"], secs["AAPL"], "10") // warm
	v0, lots0 := stored(t, pool, ids["Main"])

	other, err := pgx.Connect(ctx, url) // not through the proxy
	require.NoError(t, err)
	defer other.Close(ctx)
	blocker, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = blocker.Exec(ctx, "select 1 from portfolio where id = $1 for update", ids["Main"])
	require.NoError(t, err)
	watcher := admin2(t)
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		waitBlocked(t, watcher, app) // the flush, COMMIT behind it, waits on the lock
		p.cut()
	}()

	var rep uow.Report
	err = r.Do(ctx, buyIn(ids["Main"], secs["AAPL"]), uow.WithReport(&rep))
	<-cut
	t.Logf("the caller saw: %v", err)
	require.ErrorIs(t, err, uow.ErrCommitUnknown)
	assert.Equal(t, 1, rep.Attempts, "an unknown outcome is never retried")

	// The server still holds the pipeline; once the lock goes, it commits.
	require.NoError(t, blocker.Rollback(ctx))
	var version int64
	require.Eventually(t, func() bool {
		// assert, not require: this runs in Eventually's goroutine.
		return assert.NoError(t, other.QueryRow(ctx, "select version from portfolio where id = $1", ids["Main"]).Scan(&version)) &&
			version == v0+1
	}, 5*time.Second, 10*time.Millisecond, "the server committed what the client could not confirm")
	var lots int
	require.NoError(t, other.QueryRow(ctx, "select count(*) from investment where portfolio_id = $1", ids["Main"]).Scan(&lots))
	assert.Equal(t, len(lots0)+1, lots, "applied once: a retry would have bought twice")
}

// The server ending the session in answer to COMMIT (terminated while it
// committed: say, while it waited for a synchronous standby, after
// committing locally) leaves the outcome unknown: the unit is not run
// again. A deferred trigger that terminates its own backend makes the
// server do that at COMMIT.
func TestSessionEndedAtCommitIsUnknownAndNotRetried(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	dieAtCommit(t, pool)

	var rep uow.Report
	err := r.Do(ctx, buyIn(ids["Main"], secs["AAPL"]), uow.WithReport(&rep))
	require.ErrorIs(t, err, uow.ErrCommitUnknown)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "57P01", pgErr.Code)
	assert.Equal(t, 1, rep.Attempts, "not run again: retried after %v", rep.Retries)
	assert.False(t, uow.Retryable(err))
	assert.Zero(t, count(t, pool, "investment"), "this time, the server had not committed")
}

// ownServer starts a server of the test's own with the given settings,
// migrated, and returns it with a pool whose sessions carry an application
// name of their own, and a runner on the pool.
func ownServer(t *testing.T, settings map[string]string) (srv *pglocal.Server, pool *pgxpool.Pool, r *uow.Runner, app string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "folio-own-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir); _ = os.Remove(dir + ".lock") })
	srv, err = pglocal.Start(ctx, pglocal.Options{DataDir: dir, Ephemeral: true, Settings: settings})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })

	app = "folio-own-" + uuid.NewString()[:8]
	pool = pgtest.OpenPool(t, srv.URL("postgres"), uow.ConfigurePool, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["application_name"] = app
	})
	m, err := migrate.New(pool)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	r, err = uow.NewRunner(pool, uow.WithBackoff(time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	return srv, pool, r, app
}

// A server whose messages are translated sends its severity translated
// too (ВАЖНО for FATAL); only the V field stays in English. The session
// ended at COMMIT must be recognised all the same: the outcome is
// unknown, and the unit is not run again.
//
// Not parallel: the server takes its language from the environment of
// the process that starts it.
func TestSessionEndedAtCommitIsUnknownOnATranslatedServer(t *testing.T) {
	t.Setenv("LANGUAGE", "ru")
	_, pool, r, _ := ownServer(t, nil)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	dieAtCommit(t, pool)

	var rep uow.Report
	err := r.Do(ctx, buyIn(ids["Main"], secs["AAPL"]), uow.WithReport(&rep))
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	if pgErr.Severity == pgErr.SeverityUnlocalized {
		t.Skipf("the server's messages are not translated here (no Russian catalog?): %v", err)
	}
	t.Logf("severity %q, unlocalized %q: %v", pgErr.Severity, pgErr.SeverityUnlocalized, err)
	require.ErrorIs(t, err, uow.ErrCommitUnknown)
	assert.Equal(t, "57P01", pgErr.Code)
	assert.Equal(t, 1, rep.Attempts, "not run again: retried after %v", rep.Retries)
	assert.Zero(t, count(t, pool, "investment"), "this time, the server had not committed")
}

// A backend terminated while COMMIT runs with interrupts held (here, in
// commit_delay's sleep in the WAL flush) answers COMMIT, then sends its
// FATAL on its way out. The unit is committed: it must succeed, once, not
// run again on top of its own commit.
func TestTerminatedAfterCommittingIsCommittedOnce(t *testing.T) {
	t.Parallel()
	srv, pool, r, app := ownServer(t, map[string]string{"fsync": "on", "commit_delay": "100000", "commit_siblings": "0"})
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	v0, lots0 := stored(t, pool, ids["Main"])

	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	killed := make(chan int, 1)
	go func() {
		defer close(killed)
		for range 2000 {
			var pid int
			err := admin.QueryRow(ctx, `select pid from pg_stat_activity
				where application_name = $1 and state = 'active' and query ilike 'commit%'`, app).Scan(&pid)
			if err == nil {
				_, err = admin.Exec(ctx, "select pg_terminate_backend($1)", pid)
				assert.NoError(t, err)
				killed <- pid
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	var rep uow.Report
	err = r.Do(ctx, buyIn(ids["Main"], secs["AAPL"]), uow.WithReport(&rep))
	pid, ok := <-killed
	require.True(t, ok && pid != 0, "the watcher never saw the COMMIT")
	// The FATAL may come after COMMIT's answer, once the connection is
	// back in the pool looking healthy: the next unit on it would get
	// 57P01 and be retried, but this test's own read would not be. Read
	// on new connections.
	pool.Reset()
	v1, lots1 := stored(t, pool, ids["Main"])
	t.Logf("terminated during COMMIT: err=%v, attempts=%d, version %d -> %d", err, rep.Attempts, v0, v1)
	if err != nil {
		// Terminated before the commit record: the server said so in
		// answer to COMMIT, and the outcome is, to the client, unknown.
		require.ErrorIs(t, err, uow.ErrCommitUnknown)
		assert.LessOrEqual(t, v1, v0+1)
	} else {
		assert.Equal(t, v0+1, v1, "committed once")
		assert.Len(t, lots1, len(lots0)+1)
	}
	assert.Equal(t, 1, rep.Attempts, "not run again: retried after %v", rep.Retries)
}

// dieAtCommit makes the backend of any session that inserts a lot
// terminate itself at COMMIT, in a deferred trigger: the server answers
// COMMIT with FATAL 57P01 (or its translation), before the commit record.
// pg_sleep: the termination lands at its first check for interrupts.
func dieAtCommit(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(ctx, `
		create function die_at_commit() returns trigger language plpgsql as $$
		begin perform pg_terminate_backend(pg_backend_pid()); perform pg_sleep(5); return null; end $$;
		create constraint trigger die_at_commit after insert on investment
			deferrable initially deferred for each row execute function die_at_commit()`)
	require.NoError(t, err)
}

// buyIn is the fn of a unit that buys 5 shares of sec in portfolio id.
func buyIn(id uuid.UUID, sec *domain.Security) func(context.Context, *uow.Unit) error {
	return func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, id)
		if err != nil {
			return err
		}
		_, err = p.Buy(sec, dec("5"), dec("1"), day)
		return err
	}
}

// proxiedRunner is a runner on a pool of one connection through a proxy
// (the unit under test gets it every time), retrying after a millisecond.
func proxiedRunner(t *testing.T) (*proxy, *pgxpool.Pool, *uow.Runner) {
	t.Helper()
	url := pgtest.URL(t)
	p := newProxy(t, url)
	pool := pgtest.OpenPool(t, url, uow.ConfigurePool, func(c *pgxpool.Config) {
		c.ConnConfig.Host = p.dir
		c.MaxConns = 1
	})
	r, err := uow.NewRunner(pool, uow.WithBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	return p, pool, r
}

// The connection of a unit that only read is lost with no word from the
// server while its COMMIT is in flight: nothing was written, so the outcome is
// not "unknown", and the unit runs again on a new connection. In a Do that
// wrote nothing and in a Read that holds one snapshot (one transaction,
// committed at the end).
func TestConnectionLostAtTheCommitOfAUnitThatWroteNothingIsRetried(t *testing.T) {
	t.Parallel()
	p, _, r := proxiedRunner(t)
	_, ids := seed(t, r, nil, "Main")

	for _, tc := range []struct {
		name string
		run  func(context.Context, func(context.Context, *uow.Unit) error, ...uow.Option) error
		opts []uow.Option
	}{
		{"do", r.Do, nil},
		{"read with a snapshot", r.Read, []uow.Option{uow.WithSnapshot()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attempts := 0
			var rep uow.Report
			err := tc.run(ctx, func(ctx context.Context, u *uow.Unit) error {
				attempts++
				p1, err := u.Portfolios().Get(ctx, ids["Main"])
				if err != nil {
					return err
				}
				if _, err := u.Securities().List(ctx, uow.ListOptions{}); err != nil {
					return err
				}
				assert.Equal(t, "Main", p1.Name())
				if attempts == 1 {
					p.dropNext() // the COMMIT: sent, never answered
				}
				return nil
			}, append(tc.opts, uow.WithReport(&rep))...)
			t.Log("\n" + uowtest.Describe(rep))
			require.NoError(t, err)
			assert.Equal(t, 2, attempts)
			require.Len(t, rep.Retries, 1)
			t.Logf("retried after: %v", rep.Retries[0])
			assert.ErrorIs(t, rep.Retries[0], uow.ErrSessionEnded)
			assert.NotErrorIs(t, rep.Retries[0], uow.ErrCommitUnknown)
		})
	}
}

// A unit that wrote nothing has nothing to lose or to save twice: when its
// backend is killed while it is idle in its transaction, whatever COMMIT
// then meets (the server's 57P01, or a connection gone), the outcome is not
// "unknown" and the unit is run again.
func TestKilledBackendOfAUnitThatWroteNothingIsRetried(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Do", "Read WithSnapshot"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			_, r, admin, _, app := faultDB(t)
			_, ids := seed(t, r, nil, "Main")
			var rep uow.Report
			attempts := 0
			fn := func(ctx context.Context, u *uow.Unit) error {
				if _, err := u.Portfolios().Get(ctx, ids["Main"]); err != nil {
					return err
				}
				if attempts++; attempts == 1 {
					require.Equal(t, 1, terminate(t, admin, app, "idle in transaction"))
				}
				return nil
			}
			var err error
			if kind == "Do" {
				err = r.Do(ctx, fn, uow.WithReport(&rep))
			} else {
				err = r.Read(ctx, fn, uow.WithSnapshot(), uow.WithReport(&rep))
			}
			require.NoError(t, err)
			require.Equal(t, 2, rep.Attempts)
			t.Logf("%s: retried after %v", kind, rep.Retries)
			assert.NotErrorIs(t, rep.Retries[0], uow.ErrCommitUnknown)
		})
	}
}

// What a failed nested unit wrote, its rollback to the savepoint undid: an
// enclosing unit that wrote nothing else has nothing to lose when the
// answer to its COMMIT is lost, and runs again. One whose nested unit's
// writes stood does not (ErrCommitUnknown).
func TestConnectionLostAtTheCommitAfterANestedUnitsWritesWereUndone(t *testing.T) {
	t.Parallel()
	p, pool, r := proxiedRunner(t)
	_, ids := seed(t, r, nil, "Main")
	errInner := errors.New("the nested unit gives up")

	for _, nestedFails := range []bool{true, false} {
		t.Run(fmt.Sprintf("nested unit fails: %v", nestedFails), func(t *testing.T) {
			attempts := 0
			var rep uow.Report
			newName := fmt.Sprintf("Renamed %v", nestedFails)
			err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
				attempts++
				err := u.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
					p1, err := u.Portfolios().Get(ctx, ids["Main"])
					if err != nil {
						return err
					}
					if err := p1.Rename(newName); err != nil {
						return err
					}
					if err := u.Flush(ctx); err != nil {
						return err
					}
					if nestedFails {
						return errInner
					}
					return nil
				})
				if !errors.Is(err, errInner) && err != nil {
					return err
				}
				if attempts == 1 {
					p.dropNext() // the COMMIT: sent, never answered
				}
				return nil
			}, uow.WithReport(&rep))
			t.Log("\n" + uowtest.Describe(rep))
			if nestedFails {
				require.NoError(t, err)
				assert.Equal(t, 2, attempts)
				require.Len(t, rep.Retries, 1)
				assert.ErrorIs(t, rep.Retries[0], uow.ErrSessionEnded)
				assert.Equal(t, "Main", storedName(t, pool, ids["Main"]))
				return
			}
			require.ErrorIs(t, err, uow.ErrCommitUnknown)
			assert.Equal(t, 1, attempts)
		})
	}
}

// A unit that flushed, whose connection is then lost with no word from the
// server in a round trip without COMMIT: the transaction went with the
// session, so nothing it wrote is stored, and the unit runs again, its
// change committed once.
func TestConnectionLostAfterAFlushBeforeTheCommitIsRetried(t *testing.T) {
	t.Parallel()
	p, pool, r := proxiedRunner(t)
	_, ids := seed(t, r, nil, "Main")
	version, _ := stored(t, pool, ids["Main"])
	attempts := 0
	var rep uow.Report
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		attempts++
		pf, err := u.Portfolios().Get(ctx, ids["Main"])
		if err != nil {
			return err
		}
		if err := pf.Rename(fmt.Sprintf("Renamed %d", attempts)); err != nil {
			return err
		}
		if err := u.Flush(ctx); err != nil {
			return err
		}
		if attempts == 1 {
			p.dropNext() // the next read: sent, never answered
		}
		_, err = u.Securities().List(ctx, uow.ListOptions{})
		return err
	}, uow.WithReport(&rep))
	t.Log("\n" + uowtest.Describe(rep))
	require.NoError(t, err)
	assert.Equal(t, 2, attempts)
	require.Len(t, rep.Retries, 1)
	assert.ErrorIs(t, rep.Retries[0], uow.ErrSessionEnded)
	v, _ := stored(t, pool, ids["Main"])
	assert.Equal(t, version+1, v, "committed once")
	assert.Equal(t, "Renamed 2", storedName(t, pool, ids["Main"]))
}

// A connection runner has one connection for every attempt: when the
// server ends its session, the unit fails at once with the server's
// error, not after four more attempts on a closed connection (the
// enclosing transaction, and what the units before saved in it, went with
// the session).
func TestConnRunnerDoesNotRetryOnItsLostConnection(t *testing.T) {
	t.Parallel()
	cfg, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	uow.ConfigureConn(cfg)
	app := "folio-conn-" + uuid.NewString()[:8]
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "begin")
	require.NoError(t, err)
	r, err := uow.NewConnRunner(conn)
	require.NoError(t, err)
	admin := admin2(t)

	var rep uow.Report
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio("Doomed", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		if err := u.Flush(ctx); err != nil {
			return err
		}
		// By application name: through PgBouncer, the client's PID is
		// PgBouncer's.
		require.Equal(t, 1, terminate(t, admin, app, "idle in transaction"))
		_, err = u.Portfolios().List(ctx, uow.ListOptions{})
		return err
	}, uow.WithReport(&rep))
	require.Error(t, err)
	assert.Equal(t, 1, rep.Attempts, "%v", err)
	assert.NotContains(t, err.Error(), "gave up")
	assert.True(t, conn.IsClosed())
}
