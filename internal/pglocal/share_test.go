//go:build unix

package pglocal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pglocal"
)

// Two Start calls in one process open the lock files separately, so their
// flocks conflict as those of two processes would.

// join starts a second Server on opts.DataDir, which must find the server
// running, and releases it when the test ends, before the owner's cleanup.
func join(t *testing.T, opts pglocal.Options) *pglocal.Server {
	t.Helper()
	s, err := pglocal.Start(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	require.False(t, s.Owned())
	return s
}

// stopInBackground calls s.Stop(ctx) in a goroutine and returns a channel
// delivering its result.
func stopInBackground(ctx context.Context, s *pglocal.Server) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Stop(ctx) }()
	return done
}

func requireWaiting(t *testing.T, done <-chan error, msg string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: Stop returned (%v)", msg, err)
	default:
	}
}

func requireReturns(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(within):
		t.Fatalf("Stop did not return within %v", within)
	}
}

// query opens a new connection, runs a query on it and closes it.
func query(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_class").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("pg_class is empty")
	}
	return nil
}

func TestOwnerStopWaitsForJoiners(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)

	owner := start(t, opts)
	require.True(t, owner.Owned())
	joiner := join(t, opts)
	pid := postmasterPID(t, dir)
	require.FileExists(t, dir+".users")

	stopped := stopInBackground(context.Background(), owner)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "waiting for other processes using the server on "+dir+" to finish")
	}, 20*time.Second, 20*time.Millisecond, "the owner says it waits")
	requireWaiting(t, stopped, "the joiner still holds on")
	require.NotContains(t, logs.String(), "mode=smart", "no shutdown has begun")

	// The joiner still gets new connections, as a pool opening one late would.
	for range 3 {
		require.NoError(t, query(ctx, joiner.URL("postgres")))
	}

	// A Start arriving meanwhile joins the server, and the owner waits for
	// it as well.
	late := join(t, opts)
	require.NoError(t, joiner.Stop(ctx))
	require.NoError(t, joiner.Stop(ctx))
	time.Sleep(300 * time.Millisecond)
	requireWaiting(t, stopped, "the late joiner still holds on")
	require.NoError(t, query(ctx, late.URL("postgres")))

	require.NoError(t, late.Stop(ctx))
	requireReturns(t, stopped, 15*time.Second)
	requireGone(t, pid)
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"))
	require.NoFileExists(t, dir+".users", "the owner removes the users lock file")
	require.Error(t, query(ctx, joiner.URL("postgres")))
	require.Contains(t, logs.String(), "other processes have finished using the server")
}

func TestOwnerStopCancelledWhileJoinerHolds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)

	owner := start(t, opts)
	joiner := join(t, opts)
	conn := connect(t, joiner.URL("postgres"))
	pid := postmasterPID(t, dir)

	stopCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	require.NoError(t, owner.Stop(stopCtx))
	elapsed := time.Since(began)
	require.GreaterOrEqual(t, elapsed, 500*time.Millisecond, "Stop waited for the joiner until ctx was done")
	require.Less(t, elapsed, 20*time.Second)
	requireGone(t, pid)
	require.Contains(t, logs.String(), "mode=immediate")
	require.NotContains(t, logs.String(), "mode=smart")
	require.Error(t, conn.Ping(ctx), "the joiner was cut off")

	// The joiner's lock is left over; once released, the data directory
	// starts a server again.
	require.NoError(t, joiner.Stop(ctx))
	again := start(t, opts)
	require.True(t, again.Owned())
	require.NoError(t, query(ctx, again.URL("postgres")))
}

func TestStartWaitsForStoppingOwner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)
	opts.StopGrace = time.Second

	owner := start(t, opts)
	// A client outside pglocal keeps the smart shutdown going for StopGrace.
	held := connect(t, owner.URL("postgres"))
	oldPID := postmasterPID(t, dir)

	stopped := stopInBackground(context.Background(), owner)
	require.Eventually(t, func() bool {
		err := query(ctx, owner.URL("postgres"))
		return err != nil && strings.Contains(err.Error(), "shutting down")
	}, 20*time.Second, 10*time.Millisecond, "the smart shutdown has begun")

	opts2, logs2 := newOptions(t, dir)
	s := start(t, opts2)
	require.Contains(t, logs2.String(), "waiting for the process that owns the server to stop it")
	requireGone(t, oldPID)
	requireReturns(t, stopped, 20*time.Second)
	require.True(t, s.Owned(), "the newcomer started a server of its own")
	require.NotEqual(t, oldPID, postmasterPID(t, dir))
	require.NoError(t, query(ctx, s.URL("postgres")))
	require.Error(t, held.Ping(ctx))
}

// TestManyUsersOfOneDataDir is a burst of short-lived programs on one
// data directory: each starts or joins the server, queries, opens another
// connection a little later, and stops. None may be refused.
func TestManyUsersOfOneDataDir(t *testing.T) {
	t.Parallel()
	const workers, rounds = 8, 5
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)

	var mu sync.Mutex
	var failures []error
	var started atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				owned, err := useServer(ctx, opts)
				if owned {
					started.Add(1)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Errorf("worker %d, round %d: %w", w, r, err))
					mu.Unlock()
				}
				time.Sleep(rand.N(60 * time.Millisecond))
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(failures...))
	t.Logf("%d uses, %d server starts", workers*rounds, started.Load())
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"), "the last owner stopped the server")
	require.NoFileExists(t, dir+".users")
}

// useServer is one short-lived program using the server.
func useServer(ctx context.Context, opts pglocal.Options) (owned bool, err error) {
	s, err := pglocal.Start(ctx, opts)
	if err != nil {
		return false, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		err = errors.Join(err, s.Stop(stopCtx))
	}()
	if err := query(ctx, s.URL("postgres")); err != nil {
		return s.Owned(), err
	}
	time.Sleep(rand.N(30 * time.Millisecond))
	return s.Owned(), query(ctx, s.URL("postgres"))
}

// A joiner that keeps the server longer than StopGrace does not keep the
// owner from stopping: after StopGrace the owner shuts the server down in
// order (smart, then fast), not with the immediate shutdown of a Stop
// whose ctx ran out.
func TestOwnerStopWaitsForJoinersAtMostStopGrace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)
	opts.StopGrace = 500 * time.Millisecond

	owner := start(t, opts)
	joiner := join(t, opts)
	conn := connect(t, joiner.URL("postgres"))
	pid := postmasterPID(t, dir)

	began := time.Now()
	require.NoError(t, owner.Stop(context.Background()))
	elapsed := time.Since(began)
	require.GreaterOrEqual(t, elapsed, 500*time.Millisecond, "Stop waited for the joiner")
	requireGone(t, pid)
	require.Contains(t, logs.String(), "while other processes still use it")
	require.Contains(t, logs.String(), "mode=smart")
	require.NotContains(t, logs.String(), "mode=immediate")
	require.Error(t, conn.Ping(ctx), "the joiner was cut off")
}

// With Own, Start waits for the server another process started, without a
// claim on it, so that process's Stop need not wait; once that server is
// stopped, Start starts one this process owns, on the same socket.
func TestOwnWaitsForTheOwnersServerInsteadOfJoining(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)

	first, err := pglocal.Start(ctx, opts)
	require.NoError(t, err)
	require.True(t, first.Owned())
	firstPID := postmasterPID(t, dir)

	own := opts
	own.Own = true
	type result struct {
		s   *pglocal.Server
		err error
	}
	got := make(chan result, 1)
	go func() {
		s, err := pglocal.Start(ctx, own)
		got <- result{s, err}
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "waiting for the process that started the server on "+dir)
	}, 10*time.Second, 10*time.Millisecond, "Start says it waits")
	select {
	case r := <-got:
		t.Fatalf("Start with Own returned while the other server ran: %v, %v", r.s, r.err)
	default:
	}

	// The first process's Stop does not wait for the waiting one.
	requireReturns(t, stopInBackground(ctx, first), 20*time.Second)
	require.NotContains(t, logs.String(), "waiting for other processes using the server")
	requireGone(t, firstPID)

	var r result
	select {
	case r = <-got:
	case <-time.After(time.Minute):
		t.Fatal("Start with Own did not start a server once the other stopped")
	}
	require.NoError(t, r.err)
	t.Cleanup(func() { require.NoError(t, r.s.Stop(context.Background())) })
	assert.True(t, r.s.Owned())
	assert.NotEqual(t, firstPID, postmasterPID(t, dir))
	assert.Equal(t, first.URL("postgres"), r.s.URL("postgres"), "the same socket")
	require.NoError(t, query(ctx, r.s.URL("postgres")))

	// Without another server, Own starts one at once.
	require.NoError(t, r.s.Stop(ctx))
	s, err := pglocal.Start(ctx, own)
	require.NoError(t, err)
	assert.True(t, s.Owned())
	require.NoError(t, s.Stop(ctx))
}
