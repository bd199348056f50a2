package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

// TestConcurrentTrades runs trades on one portfolio from several processes
// at once: each loads the portfolio for update, so they queue for its row
// lock rather than fail each other's version check (each unit ran once),
// all succeed, every lot is there and the version went up once per trade.
// (That a unit which
// loses the version check is retried, and says so when it gives up, is
// TestConcurrentChangeGivesUp's and the uow tests' business.)
func TestConcurrentTrades(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "portfolio", "create", "Busy")
	const n = 6
	var args [][]string
	for i := range n {
		args = append(args, []string{"buy", "Busy", "AAPL", fmt.Sprint(i + 1), "--price", "10", "--date", "2024-01-02", "--verbose"})
	}
	waiting := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg="pglocal: waiting for other processes using the server on \S+ to finish"\n`)
	debug := regexp.MustCompile(`(?m)^time=\S+ level=DEBUG .*\n`)
	writeUnit := regexp.MustCompile(`(?m)^time=\S+ level=DEBUG msg=unit read_only=false attempts=(\d+) `)
	for _, r := range c.runTogether(t, args...) {
		assert.Equal(t, 0, r.code, "%v", r)
		units := writeUnit.FindAllStringSubmatch(r.stderr, -1)
		if assert.Len(t, units, 1, "one unit writes the trade: %v", r) {
			assert.Equal(t, "1", units[0][1], "the unit waited for the lock and ran once: %v", r)
		}
		// The one that started the server may wait for the others to
		// finish, and say so when that takes a while (a loaded machine).
		assert.Empty(t, debug.ReplaceAllString(slowStop.ReplaceAllString(waiting.ReplaceAllString(r.stderr, ""), ""), ""), "%v", r)
	}
	assert.Equal(t, n, queryOne[int](t, pool, "select count(*) from investment"))
	assert.Equal(t, "21", queryOne[string](t, pool, "select trim_scale(sum(quantity))::text from investment"))
	assert.Equal(t, int64(n+1), queryOne[int64](t, pool, "select version from portfolio"))
}

// TestEmbeddedDefaultConcurrent starts several commands at once on a data
// directory that holds no cluster yet: one initialises and starts the
// server, the others wait for it and use it, the folio database is created
// once, and the server stops when the last has finished.
func TestEmbeddedDefaultConcurrent(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	var args [][]string
	for i := range 4 {
		args = append(args, []string{"portfolio", "create", fmt.Sprintf("P%d", i)})
	}
	waiting := regexp.MustCompile(`(?m)^folio: note: waiting for other processes using the server on \S+ to finish\n`)
	for _, r := range c.runTogether(t, args...) {
		assert.Equal(t, 0, r.code, "%v", r)
		// The one that started the server may wait for the others to
		// finish, and say so when that takes a while (a loaded machine).
		assert.Empty(t, slowStop.ReplaceAllString(waiting.ReplaceAllString(r.stderr, ""), ""), "%v", r)
	}
	assert.Equal(t, []string{
		"NAME  CURRENCY  LOTS  COST BASIS",
		"P0    USD          0        0.00",
		"P1    USD          0        0.00",
		"P2    USD          0        0.00",
		"P3    USD          0        0.00",
	}, lines(c.ok(t, "portfolio", "list")))
	assert.NoFileExists(t, filepath.Join(dir, "pgdata", "postmaster.pid"))
	requireNoServer(t, dir)
}

// TestDemoInterrupted stops the demo while it sets up its server, once
// while initdb runs and once when the server has started: it exits and
// still leaves nothing behind.
func TestDemoInterrupted(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	tmp := reachableDir(t)
	c := &cli{env: []string{"TMPDIR=" + tmp}}
	hangup := syscall.SIGHUP // the terminal closed
	if signal.Ignored(syscall.SIGHUP) {
		// Run under nohup: the demo inherits the ignored SIGHUP and,
		// as it should, leaves it ignored.
		t.Log("SIGHUP is ignored by this process (nohup?): SIGINT stands in for it")
		hangup = syscall.SIGINT
	}
	for _, phase := range []struct {
		name, glob string // the file that marks it
		holds      string // what the file must hold, if anything
		sig        syscall.Signal
	}{
		{"initdb", "folio-demo-*/PG_VERSION", "", hangup},
		// initdb's own single-user servers write postmaster.pid too: the
		// server is up when the file says ready.
		{"server started", "folio-demo-*/postmaster.pid", "\nready", syscall.SIGTERM},
	} {
		cmd, stdout, stderr := c.command(t, t.Context(), "demo")
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool {
			m, _ := filepath.Glob(filepath.Join(tmp, phase.glob))
			if len(m) == 0 {
				return false
			}
			b, _ := os.ReadFile(m[0])
			return strings.Contains(string(b), phase.holds)
		}, time.Minute, time.Millisecond, "the demo reaches %s", phase.name)
		require.NoError(t, cmd.Process.Signal(phase.sig))
		err := cmd.Wait()
		t.Logf("at %s: %v\nstdout: %s\nstderr: %s", phase.name, err, stdout, stderr)
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "the demo ran to its end: the signal did not stop it")
		assert.Equal(t, 1, exitErr.ExitCode())
		assert.Equal(t, "folio: interrupted\n", stderr.String(), "what the user reads")
		requireNothingLeft(t, tmp, "the interrupted demo")
	}
}

// TestDemoIntoAClosedPipe: a reader that stops early (folio demo | head)
// does not kill the demo before it removes its throwaway server.
func TestDemoIntoAClosedPipe(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	tmp := reachableDir(t)
	c := &cli{env: []string{"TMPDIR=" + tmp}}
	cmd, _, stderr := c.command(t, t.Context(), "demo")
	cmd.Stdout = nil
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	first, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Regexp(t, demoDir, first)
	require.NoError(t, out.Close()) // as head does after its lines
	err = cmd.Wait()
	t.Logf("demo: %v\nstderr: %s", err, stderr)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		assert.NotEqual(t, "signal: broken pipe", exit.Error(), "killed by SIGPIPE")
	}
	assert.NoDirExists(t, demoDir.FindStringSubmatch(first)[1])
	requireNothingLeft(t, tmp, "the demo")
}

// TestConcurrentChangeGivesUp makes every attempt of a change fail as a
// serialization failure, as a portfolio that other commands keep changing
// would (a trigger raises SQLSTATE 40001): after its retries the command
// says what happened in words, exits 5 (conflict) and writes nothing.
func TestConcurrentChangeGivesUp(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "portfolio", "create", "Par")
	c.ok(t, "buy", "Par", "AAPL", "2", "--price", "1", "--date", "2024-01-02")
	_, err := pool.Exec(t.Context(), `
		create function collide() returns trigger language plpgsql as $$
		begin
			raise exception 'could not serialize access due to concurrent update' using errcode = 'serialization_failure';
		end $$;
		create trigger collide before update or delete on portfolio for each row execute function collide();
		create trigger collide before update on security for each row execute function collide();`)
	require.NoError(t, err)
	before := snapshot(t, pool)

	const par = "folio: portfolio \"Par\" was changed by another command at the same time; try again\n"
	trades := writeFile(t, "trades.csv", "2024-01-03,buy,AAPL,1,1\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"buy", "Par", "AAPL", "1", "--price", "1"}, par},
		{[]string{"sell", " Par ", "AAPL", "1", "--price", "1"}, par},
		{[]string{"portfolio", "rename", "Par", "Other"}, par},
		{[]string{"portfolio", "delete", "Par"}, par},
		{[]string{"trade", "import", "Par", trades}, par},
		{[]string{"price", "set", "aapl", "2"}, "folio: security AAPL was changed by another command at the same time; try again\n"},
		{[]string{"price", "import", writeFile(t, "prices.csv", "AAPL,2024-07-01,2\n")},
			"folio: another command changed the same data at the same time; try again\n"},
	} {
		assert.Equal(t, tc.want, c.fails(t, 5, tc.args...), "%q", tc.args)
		require.Equal(t, before, snapshot(t, pool), "%q wrote something", tc.args)
	}

	// --verbose logs the error as it came (and the statements with the
	// server's words), before the words.
	r := c.run(t, "buy", "Par", "AAPL", "1", "--price", "1", "--verbose")
	assert.Equal(t, 5, r.code, "%v", r)
	assert.Empty(t, r.stdout)
	assert.True(t, strings.HasSuffix(r.stderr, "\n"+par), "%v", r)
	assert.Regexp(t, `(?m)^time=\S+ level=DEBUG msg=error error=".*gave up after 5 attempts: .*could not serialize`, r.stderr)
	require.Equal(t, before, snapshot(t, pool))
}

// TestImportInterrupted stops imports from standard input that is still
// open, mid-way through their rows: they end at once, say so, exit 1 and
// write nothing, rather than wait for the end of the input and import
// what they had.
func TestImportInterrupted(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	before := snapshot(t, pool)
	for _, tc := range []struct {
		args []string
		row  string
	}{
		{[]string{"price", "import", "-"}, "AAPL,2024-07-01,200\n"},
		{[]string{"trade", "import", "Main", "-"}, "2024-03-01,buy,AAPL,1,1\n"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd, stdout, stderr := c.command(t, ctx, tc.args...)
			in, feed, err := os.Pipe()
			require.NoError(t, err)
			defer feed.Close()
			cmd.Stdin = in
			require.NoError(t, cmd.Start())
			in.Close()
			// More rows than a pipe holds: the write returns once folio
			// has read some of them, so it is importing when the signal
			// comes.
			_, err = feed.Write([]byte(strings.Repeat(tc.row, (256<<10)/len(tc.row))))
			require.NoError(t, err)
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			began := time.Now()
			err = cmd.Wait()
			elapsed := time.Since(began)

			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Equal(t, 1, exitErr.ExitCode(), "stderr: %s", stderr)
			assert.Empty(t, stdout.String())
			assert.Equal(t, "folio: interrupted while importing standard input: nothing was written\n", stderr.String())
			assert.Less(t, elapsed, 10*time.Second, "it waited for the input to end")
			require.Equal(t, before, snapshot(t, pool), "something was written")
		})
	}
}

// TestImportInterruptedOpeningAPipe stops imports from a named pipe that
// no writer has opened yet, so that opening it still waits: Ctrl-C ends
// them at once, in the words of any interrupted import, with exit code 1
// and nothing written.
func TestImportInterruptedOpeningAPipe(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	before := snapshot(t, pool)
	for _, args := range [][]string{
		{"price", "import"},
		{"trade", "import", "Main"},
	} {
		t.Run(args[0], func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "in.csv")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd, stdout, stderr := c.command(t, ctx, append(args, fifo)...)
			require.NoError(t, cmd.Start())
			waitForPipeOpen(t, cmd.Process.Pid)
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			began := time.Now()
			err := cmd.Wait()
			elapsed := time.Since(began)

			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Equal(t, 1, exitErr.ExitCode(), "stderr: %s", stderr)
			assert.Empty(t, stdout.String())
			assert.Equal(t, "folio: interrupted while importing "+fifo+": nothing was written\n", stderr.String())
			assert.Less(t, elapsed, 10*time.Second, "it waited for a writer")
			require.Equal(t, before, snapshot(t, pool), "something was written")
		})
	}
}

// waitForPipeOpen waits until a thread of process pid waits in the kernel
// for the other end of a named pipe to be opened (Linux's wchan), or, where
// that cannot be seen, long enough for folio to have got there.
func waitForPipeOpen(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		if err != nil || len(tasks) == 0 {
			time.Sleep(3 * time.Second)
			return
		}
		for _, task := range tasks {
			if b, err := os.ReadFile(task); err == nil && string(b) == "wait_for_partner" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never waited to open the pipe", pid)
}

// TestDemoInterruptedLeavesNoScratchDatabase interrupts demos on a server
// given by DATABASE_URL at moments spread over the creation of their
// scratch database, from the moment the demo's first connection shows on
// the server (folio handles signals by then), when the server may create
// the database after the client gave up on it: none is left. Not
// parallel, so that no other demo's database is counted.
func TestDemoInterruptedLeavesNoScratchDatabase(t *testing.T) {
	admin := pgtest.AdminURL(t, "postgres")
	pool := pgtest.OpenPool(t, admin)
	for i := range 12 {
		app := fmt.Sprintf("folio-demo-interrupted-%d", i)
		c := &cli{url: admin, env: []string{"PGAPPNAME=" + app}}
		cmd, _, stderr := c.command(t, t.Context(), "demo")
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool {
			return queryOne[int](t, pool, "select count(*) from pg_stat_activity where application_name = $1", app) > 0
		}, 30*time.Second, time.Millisecond, "run %d: the demo never connected", i)
		time.Sleep(time.Duration(i*8) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		err := cmd.Wait()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "run %d finished before the signal: %s", i, stderr)
		assert.Equal(t, 1, exit.ExitCode(), "run %d: %s", i, stderr)
		assert.Contains(t, stderr.String(), "folio: interrupted", "run %d", i)
	}
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from pg_database where datname like 'folio_demo_%'"))
}

// TestSecondSignalEndsTheWaitForOtherUsers: the command that started the
// embedded server waits, when it is done, for the other commands using the
// server to finish (up to 30 s). A first Ctrl-C leaves them be; a second
// one stops the server at once, cutting them off, and the command exits.
func TestSecondSignalEndsTheWaitForOtherUsers(t *testing.T) {
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	c.ok(t, "security", "add", "AAPL", "--name", "Apple") // the cluster, migrated
	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")

	// An import reading standard input holds the server until its input
	// ends: the first starts (owns) the server, the second joins it.
	start := func() (*exec.Cmd, io.WriteCloser, *lockedBuffer, chan error) {
		cmd, _, _ := c.command(t, t.Context(), "--verbose", "price", "import", "-")
		cmd.Stdin = nil
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, in, stderr, exited
	}
	owner, ownerIn, ownerErr, ownerExited := start()
	require.Eventually(t, func() bool { _, err := os.Stat(pidFile); return err == nil },
		time.Minute, 10*time.Millisecond, "the first import starts the server")
	_, userIn, userErr, userExited := start()
	defer userIn.Close()
	require.Eventually(t, func() bool { return strings.Contains(userErr.String(), "pglocal: using running server") },
		time.Minute, 10*time.Millisecond, "the second import joins the server: %s", userErr)

	require.NoError(t, ownerIn.Close())
	require.Eventually(t, func() bool {
		return strings.Contains(ownerErr.String(), "waiting for other processes using the server")
	},
		time.Minute, 10*time.Millisecond, "the owner waits for the other import: %s", ownerErr)

	require.NoError(t, owner.Process.Signal(syscall.SIGINT))
	select {
	case err := <-ownerExited:
		t.Fatalf("the owner stopped waiting at the first signal: %v\n%s", err, ownerErr)
	case <-time.After(500 * time.Millisecond):
	}
	require.NoError(t, owner.Process.Signal(syscall.SIGINT))
	select {
	case <-ownerExited:
	case <-time.After(time.Minute):
		t.Fatalf("the owner still waits after the second signal:\n%s", ownerErr)
	}
	// It stopped waiting because of the signal, not because pglocal's
	// grace for other users (10 s) ran out.
	assert.Contains(t, ownerErr.String(), "pglocal: no longer waiting for other processes using the server")
	assert.NotContains(t, ownerErr.String(), "while other processes still use it")
	assert.NoFileExists(t, pidFile, "the server stopped")

	// The other import has lost its server.
	_, _ = io.WriteString(userIn, "AAPL,2024-06-28,190\n")
	require.NoError(t, userIn.Close())
	select {
	case err := <-userExited:
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 1, exit.ExitCode())
	case <-time.After(time.Minute):
		t.Fatal("the other import did not end")
	}
	requireNoServer(t, dir)
}
