package main

// End-to-end tests: TestMain builds the real binary once, and every test
// runs it as a user would, with a controlled environment, and checks its
// output, its exit code and what it did to the database.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

// The binary under test, built by TestMain in binDir, which it removes at
// the end; not in a fuzzing worker, which runs none of the tests that use
// it and is killed when fuzzing ends, so that it would leave it behind.
var (
	binDir   string
	binOnce  sync.Once
	folioBin string
	binErr   error
)

// buildBinary builds the binary under test, once.
func buildBinary() error {
	binOnce.Do(func() {
		folioBin = filepath.Join(binDir, "folio")
		args := []string{"build", "-o", folioBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("building the binary: %w\n%s", err, out)
		}
	})
	return binErr
}

// binary returns the binary under test.
func binary(t *testing.T) string {
	t.Helper()
	if err := buildBinary(); err != nil {
		t.Fatal(err)
	}
	return folioBin
}

// raceEnabled is set by race_test.go when the tests run with -race; the
// binary is then built with the race detector too.
var raceEnabled bool

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		// A fuzzing worker: see binDir.
		return pgtest.Run(m)
	}
	dir, err := os.MkdirTemp("", "folio-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "folio e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	if err := buildBinary(); err != nil {
		fmt.Fprintln(os.Stderr, "folio e2e:", err)
		return 1
	}
	return pgtest.Run(m)
}

// result is what one run of the binary did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r result) String() string {
	args := make([]string, len(r.args))
	for i, a := range r.args {
		args[i] = clipString(a)
	}
	return fmt.Sprintf("folio %q: exit %d after %v\n--- stdout:\n%s\n--- stderr:\n%s",
		args, r.code, r.elapsed.Round(time.Millisecond), clipString(r.stdout), clipString(r.stderr))
}

// clipString keeps failure messages readable when the input was huge.
func clipString(s string) string {
	const max = 4000
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("… (%d bytes)", len(s))
}

// cli runs the binary against one database.
type cli struct {
	// url is DATABASE_URL; empty leaves the variable unset, so that the
	// binary uses the embedded default.
	url string
	// env holds more variables, KEY=VALUE.
	env []string
	// dir is the working directory; empty: a fresh temporary directory
	// per run, which the postgres system user cannot reach, so that a run
	// that falls back to the embedded default by mistake fails at once.
	dir string
	// stdin is the standard input of the next runs.
	stdin string
	// timeout bounds each run; default 60s.
	timeout time.Duration
}

// newCLI returns a cli on a migrated database of the test's own, and a pool
// on that database for checking effects.
func newCLI(t *testing.T) (*cli, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.URL(t)
	return &cli{url: url}, pgtest.OpenPool(t, url)
}

// environ is the controlled environment of a run.
func (c *cli) environ() []string {
	var env []string
	// TZ too, so that the binary runs in the test's zone (its default
	// day is today in UTC all the same).
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	// A race-enabled binary otherwise sleeps a second before exiting.
	env = append(env, "GORACE=atexit_sleep_ms=0")
	if c.url != "" {
		env = append(env, "DATABASE_URL="+c.url)
	}
	return append(env, c.env...)
}

// command prepares a run without starting it.
func (c *cli) command(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = c.environ()
	cmd.Dir = c.dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Stdin = strings.NewReader(c.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A server left running with our pipes must not hang Wait.
	cmd.WaitDelay = 5 * time.Second
	return cmd, &stdout, &stderr
}

func (c *cli) timeoutOrDefault() time.Duration {
	if c.timeout > 0 {
		return c.timeout
	}
	return 60 * time.Second
}

// run runs the binary with args and returns what it did. It fails the test
// if the binary cannot be started or does not finish in time.
func (c *cli) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeoutOrDefault())
	defer cancel()
	cmd, stdout, stderr := c.command(t, ctx, args...)
	began := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(began)}
	if ctx.Err() != nil {
		t.Fatalf("timed out after %v: %v", c.timeoutOrDefault(), r)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("run: %v\n%v", err, r)
	}
	return r
}

// ok runs the binary, requires success with nothing on stderr, and returns
// stdout.
func (c *cli) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := c.run(t, args...)
	require.Equal(t, 0, r.code, "%v", r)
	require.Empty(t, slowStop.ReplaceAllString(r.stderr, ""), "%v", r)
	return r.stdout
}

// slowStop is pglocal's warning that stopping the embedded server takes
// over a second (on a loaded machine its shutdown checkpoint alone may): a
// note, or a log line with --verbose.
var slowStop = regexp.MustCompile(`(?m)^(folio: note: stopping the server on \S+ takes a while: .*|` +
	`time=\S+ level=WARN msg="pglocal: stopping the server on \S+ takes a while: [^"]*") pid=\d+\n`)

// okJSON runs the binary with --json, requires success, and decodes stdout
// into v.
func (c *cli) okJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := c.ok(t, append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	require.NoError(t, dec.Decode(v), "stdout: %s", out)
	require.False(t, dec.More(), "more than one JSON value: %s", out)
}

// fails runs the binary, requires exit code code with nothing on stdout and
// a clean error message on stderr, and returns stderr.
func (c *cli) fails(t *testing.T, code int, args ...string) string {
	t.Helper()
	r := c.run(t, args...)
	require.Equal(t, code, r.code, "%v", r)
	require.Empty(t, r.stdout, "%v", r)
	requireCleanError(t, r)
	return r.stderr
}

// requireCleanError checks that stderr holds a message for a person: the
// program's name first (after the log lines of --verbose), and no SQLSTATE,
// Go value dump or stack.
func requireCleanError(t *testing.T, r result) {
	t.Helper()
	msg := r.stderr
	if i := strings.Index(msg, "\nfolio: "); i >= 0 && strings.HasPrefix(msg, "time=") {
		msg = msg[i+1:]
	}
	require.True(t, strings.HasPrefix(msg, "folio: "), "%v", r)
	for _, bad := range []string{"SQLSTATE", "&{", "%!", "0xc0", "goroutine ", "panic:", "runtime error", "<nil>", "DATA RACE"} {
		require.NotContains(t, r.stderr, bad, "%v", r)
	}
	require.Less(t, len(msg), 2000, "%v", r)
}

// queryOne runs a query that returns one value.
func queryOne[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&v), sql)
	return v
}

// requireToday checks that day, as YYYY-MM-DD, is today in UTC, the
// binary's default day whatever the time zone: the day of began, taken
// before the run, or of now, if the run went past midnight.
func requireToday(t *testing.T, day string, began time.Time) {
	t.Helper()
	require.Contains(t, []string{began.UTC().Format(time.DateOnly), time.Now().UTC().Format(time.DateOnly)}, day, "today in UTC")
}

// snapshot renders every row of folio's tables, so that comparing two
// snapshots shows whether anything at all was written in between.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return queryOne[string](t, pool, `select
		coalesce((select string_agg(t::text, E'\n' order by t::text) from security t), '') || E'\n--\n' ||
		coalesce((select string_agg(t::text, E'\n' order by t::text) from portfolio t), '') || E'\n--\n' ||
		coalesce((select string_agg(t::text, E'\n' order by t::text) from investment t), '')`)
}

// writeFile writes a file into a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

// lines splits output into lines without the final newline.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// migrationFiles counts the migrations in sql/schema.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../sql/schema/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// runTogether starts one process per argument list back to back, so that
// they run at the same time, and waits for them all.
func (c *cli) runTogether(t *testing.T, argLists ...[]string) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeoutOrDefault())
	defer cancel()
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr *bytes.Buffer
	}
	procs := make([]proc, len(argLists))
	for i, args := range argLists {
		cmd, stdout, stderr := c.command(t, ctx, args...)
		procs[i] = proc{cmd, stdout, stderr}
	}
	began := time.Now()
	for _, p := range procs {
		require.NoError(t, p.cmd.Start())
	}
	results := make([]result, len(procs))
	for i, p := range procs {
		err := p.cmd.Wait()
		r := result{args: argLists[i], stdout: p.stdout.String(), stderr: p.stderr.String(), elapsed: time.Since(began)}
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr) && exitErr.Exited():
			r.code = exitErr.ExitCode()
		default:
			t.Errorf("run: %v\n%v", err, r)
		}
		results[i] = r
	}
	if ctx.Err() != nil {
		t.Fatalf("timed out after %v: %v", c.timeoutOrDefault(), results)
	}
	return results
}
