package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

// reachableDir returns a fresh temporary directory that the postgres system
// user can enter, which the embedded default needs when the tests run as
// root (t.TempDir's parent is mode 0700).
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "folio-e2e-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// requireNoServer checks that no process mentions dir on its command line:
// the server a run started is gone.
// requireNothingLeft asserts that a demo run with TMPDIR=tmp left no file
// there and no server process behind.
func requireNothingLeft(t *testing.T, tmp, msg string) {
	t.Helper()
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "%s left files in its TMPDIR", msg)
	requireNoServer(t, tmp)
}

func requireNoServer(t *testing.T, dir string) {
	t.Helper()
	// The owner stops its server before it exits; give the postmaster's
	// children a moment to go.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("pgrep", "-af", dir).Output()
		if err != nil && len(out) == 0 {
			return // pgrep exits 1 when nothing matches
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running for %s:\n%s", dir, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNotFoundInANewClusterSaysItIsNew: the default data directory is
// relative, so folio run from another directory makes a new, empty
// cluster; off a terminal nothing announces it. A command that then finds
// nothing says the cluster is new; once it is not, it says nothing more.
func TestNotFoundInANewClusterSaysItIsNew(t *testing.T) {
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	stderr := c.fails(t, 4, "report", "Growth")
	assert.Equal(t, "folio: portfolio \"Growth\": not found\n"+
		"folio: note: this command created a new, empty database cluster in "+filepath.Join(dir, "pgdata")+
		"; run folio from the directory you used before, or give --data-dir\n", stderr)
	assert.Equal(t, "folio: portfolio \"Growth\": not found\n", c.fails(t, 4, "report", "Growth"))

	// A file that is not there is no sign of the wrong cluster.
	other := &cli{env: []string{"FOLIO_DATA_DIR=" + filepath.Join(dir, "other")}, dir: dir}
	assert.Equal(t, "folio: no such file: nosuch.csv\n", other.fails(t, 4, "price", "import", "nosuch.csv"))

	// Nor a list that is empty in a cluster made before; in a new one,
	// it is the likeliest sign of all, as is a schema at version 0.
	assert.Equal(t, "[]\n", other.ok(t, "portfolio", "list", "--json"))
	for _, args := range [][]string{{"portfolio", "list"}, {"security", "list", "--json"}, {"migrate", "version"}, {"migrate", "status", "--json"}} {
		fresh := filepath.Join(dir, "fresh-"+strings.Join(args[:2], "-"))
		r := (&cli{env: []string{"FOLIO_DATA_DIR=" + fresh}, dir: dir}).run(t, args...)
		require.Equal(t, 0, r.code, "%v", r)
		assert.NotEmpty(t, r.stdout)
		assert.Equal(t, "folio: note: this command created a new, empty database cluster in "+filepath.Join(fresh, "pgdata")+
			"; run folio from the directory you used before, or give --data-dir\n", slowStop.ReplaceAllString(r.stderr, ""), "%v", r)
	}
	requireNoServer(t, dir)
}

// TestEmbeddedDefault runs without DATABASE_URL: every invocation starts
// the PostgreSQL in FOLIO_DATA_DIR (creating the cluster the first time),
// and stops it before it exits, and the data stays between invocations.
func TestEmbeddedDefault(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	files := migrationFiles(t)
	n := len(files)
	ups := make([]string, n)
	downs := make([]string, n)
	for i, f := range files {
		ups[i] = "up " + f
		downs[n-1-i] = "down " + f
	}
	afterEach := func(t *testing.T) {
		t.Helper()
		assert.NoFileExists(t, filepath.Join(dir, "pgdata", "postmaster.pid"))
		requireNoServer(t, dir)
	}

	assert.Equal(t, ups, migrateOutput(t, c.ok(t, "migrate", "up")))
	assert.DirExists(t, filepath.Join(dir, "pgdata"))
	afterEach(t)
	status := lines(c.ok(t, "migrate", "status"))
	require.Len(t, status, n+1)
	for _, l := range status[1:] {
		assert.Contains(t, l, " UTC", "applied: %q", l)
	}
	assert.Equal(t, downs, migrateOutput(t, c.ok(t, "migrate", "reset")))
	assert.Equal(t, fmt.Sprintf("version 0 (latest %d)\n", n), c.ok(t, "migrate", "version"))
	assert.Equal(t, ups, migrateOutput(t, c.ok(t, "migrate", "up")))
	assert.Equal(t, "The schema is up to date.\n", c.ok(t, "migrate", "up"))
	afterEach(t)

	// Data persists between invocations; --data-dir wins over the variable.
	assert.Equal(t, "Created portfolio \"X\" (USD).\n", c.ok(t, "portfolio", "create", "X"))
	other := &cli{env: []string{"FOLIO_DATA_DIR=/nonexistent"}, dir: dir}
	var list []summaryJSON
	other.okJSON(t, &list, "portfolio", "list", "--data-dir", dir)
	require.Len(t, list, 1)
	assert.Equal(t, "X", list[0].Name)
	afterEach(t)

	// After a rollback or a reset, a command that needs the schema
	// migrates the embedded default by itself, and says so: the user who
	// rolled back may not expect it.
	c.ok(t, "migrate", "down")
	r := c.run(t, "portfolio", "list", "--json")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Equal(t, "folio: note: applied 1 pending migration to the embedded database: "+files[n-1]+"\n",
		slowStop.ReplaceAllString(r.stderr, ""))
	c.ok(t, "migrate", "reset")
	r = c.run(t, "portfolio", "list")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Equal(t, "No portfolios: create one with 'portfolio create NAME'.\n", r.stdout)
	assert.Equal(t, fmt.Sprintf("folio: note: applied %d pending migrations to the embedded database: %s to %s\n", n, files[0], files[n-1]),
		slowStop.ReplaceAllString(r.stderr, ""))
	assert.Equal(t, fmt.Sprintf("version %d (latest %d)\n", n, n), c.ok(t, "migrate", "version"))
	afterEach(t)
}

// TestEmbeddedDefaultUnreachable: a data directory the postgres system user
// cannot reach is refused with a message that says what to do.
func TestEmbeddedDefaultUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the server as the postgres system user")
	}
	t.Parallel()
	private := t.TempDir() // mode 0700, owned by root
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + filepath.Join(private, "data")}}
	stderr := c.fails(t, 1, "portfolio", "list")
	assert.Contains(t, stderr, "not reachable by the postgres system user")
	assert.Contains(t, stderr, "DATABASE_URL")
}

var demoDir = regexp.MustCompile(`Started a throwaway PostgreSQL in (\S+)\.\n`)

// TestDemo runs the demo without DATABASE_URL: it starts a throwaway
// server, prints the two reports, and leaves nothing behind.
func TestDemo(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	// A TMPDIR of the test's own: the demo's data directory and any socket
	// directory go there, so "nothing left" means an empty directory.
	tmp := reachableDir(t)
	c := &cli{env: []string{"TMPDIR=" + tmp}}

	// What earlier demos, killed before they could clean up, left: a
	// cluster whose server stopped with them, and a failed Start's lock
	// file. The demo removes both once they are a minute old; a newer one
	// may be a demo starting up, and stays.
	stale := filepath.Join(tmp, "folio-demo-1")
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "base"), 0o700))
	require.NoError(t, os.WriteFile(stale+".lock", nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "folio-demo-2.lock"), nil, 0o600))
	young := filepath.Join(tmp, "folio-demo-3")
	require.NoError(t, os.Mkdir(young, 0o700))
	old := time.Now().Add(-2 * time.Minute)
	for _, p := range []string{stale, stale + ".lock", filepath.Join(tmp, "folio-demo-2.lock")} {
		require.NoError(t, os.Chtimes(p, old, old))
	}

	out := c.ok(t, "demo")
	assert.NoDirExists(t, stale, "the stale cluster was removed")
	assert.DirExists(t, young, "a new one stays")
	require.NoError(t, os.Remove(young))

	m := demoDir.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	dir := m[1]
	assert.True(t, strings.HasPrefix(dir, filepath.Join(tmp, "folio-demo-")), dir)
	for _, s := range []string{
		"Migrated the schema.",
		"Added 5 securities with prices of 2024-06-28.",
		"Portfolio Retirement: 3 buys, 1 sell (first in, first out), realized gain -54.00.",
		"Portfolio Growth: 4 buys, 1 sell (first in, first out), realized gain 375.20.",
		"\nRetirement (USD) as of ",
		"\nGrowth (USD) as of ",
		"\nTOTAL                 18236.80              20991.00    +2754.20\n",
		"\nTOTAL                  3829.02              11303.05    +7474.03\n",
		"Stopped the throwaway PostgreSQL and removed its data.\n",
	} {
		assert.Contains(t, out, s)
	}
	assert.Equal(t, 2, strings.Count(out, "\nTOTAL "))
	assert.True(t, strings.HasSuffix(out, "Stopped the throwaway PostgreSQL and removed its data.\n"), out)

	assert.NoDirExists(t, dir)
	requireNothingLeft(t, tmp, "the demo")
}

// TestDemoScratchDatabase runs the demo on a server given by DATABASE_URL:
// it works in a scratch database of its own and drops it.
func TestDemoScratchDatabase(t *testing.T) {
	t.Parallel()
	admin := pgtest.AdminURL(t, "postgres")
	pool := pgtest.OpenPool(t, admin)
	c := &cli{url: admin}
	out := c.ok(t, "demo")

	m := regexp.MustCompile(`(?m)^Created the scratch database (folio_demo_[0-9a-f]{8})\.$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	name := m[1]
	assert.Contains(t, out, "\nRetirement (USD) as of ")
	assert.Contains(t, out, "\nGrowth (USD) as of ")
	assert.Equal(t, 2, strings.Count(out, "\nTOTAL "))
	assert.True(t, strings.HasSuffix(out, "Dropped the scratch database "+name+".\n"), out)
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from pg_database where datname = $1", name))

	// With --json, the two reports as a JSON array on stdout, and what the
	// demo does on stderr.
	r := c.run(t, "demo", "--json")
	require.Equal(t, 0, r.code, "%v", r)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var reports []reportJSON
	require.NoError(t, dec.Decode(&reports), "%v", r)
	require.False(t, dec.More(), "%v", r)
	require.Len(t, reports, 2)
	type total struct{ Portfolio, CostBasis, MarketValue, UnrealizedGain string }
	got := []total{}
	for _, rep := range reports {
		got = append(got, total{rep.Portfolio, rep.CostBasis, rep.MarketValue, rep.UnrealizedGain})
	}
	assert.Equal(t, []total{{"Retirement", "18236.8", "20991", "2754.2"}, {"Growth", "3829.02", "11303.05", "7474.03"}}, got)
	assert.Equal(t, []string{"BND", "VTI"}, []string{reports[0].Holdings[0].Symbol, reports[0].Holdings[1].Symbol})
	m = regexp.MustCompile(`(?m)^Created the scratch database (folio_demo_[0-9a-f]{8})\.$`).FindStringSubmatch(r.stderr)
	require.NotNil(t, m, "%v", r)
	assert.Contains(t, r.stderr, "Portfolio Growth: 4 buys, 1 sell")
	assert.True(t, strings.HasSuffix(r.stderr, "Dropped the scratch database "+m[1]+".\n"), "%v", r)
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from pg_database where datname = $1", m[1]))

	// A user who may not create databases is told why.
	db := pgtest.URL(t) // owned by a role without CREATEDB
	r = (&cli{url: db}).run(t, "demo")
	assert.Equal(t, 1, r.code, "%v", r)
	requireCleanError(t, r)
	assert.Contains(t, r.stderr, "CREATEDB")
	assert.Contains(t, r.stderr, "permission denied to create database")
}

// TestServeOutlivesTheCommandThatStartedTheServer: serve started while a
// short command runs on the embedded default waits for that command's
// server to stop and starts its own, rather than joining a server that goes
// away when the command ends; the command does not wait for serve.
func TestServeOutlivesTheCommandThatStartedTheServer(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	c.ok(t, "security", "add", "AAPL", "--name", "Apple") // the cluster, migrated
	short := holdServer(t, c, dir)
	addr := freeAddr(t)
	serve := startServeWaiting(t, c, "--addr", addr)
	// Meanwhile it answers, and says that it is starting.
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "5", res.Header.Get("Retry-After"))
	assert.Contains(t, string(body), `"detail":"the service is starting and its database is not ready yet; try again shortly"`)

	_, err = io.WriteString(short.in, "AAPL,2024-06-28,190\n")
	require.NoError(t, err)
	require.NoError(t, short.in.Close())
	began := time.Now()
	require.NoError(t, short.cmd.Wait(), "stderr: %s", short.stderr)
	assert.Less(t, time.Since(began), 10*time.Second, "the import did not wait for serve")
	assert.NotContains(t, short.stderr.String(), "waiting for other processes")
	assert.Equal(t, "Imported 1 price for 1 security.\n", short.stdout.String())

	// serve has a server of its own, and keeps it.
	require.Eventually(t, func() bool { return healthy(addr) }, time.Minute, 20*time.Millisecond, "serve answers: %s", serve.stderr)
	res, err = client.Get("http://" + addr + "/securities/AAPL")
	require.NoError(t, err)
	body, err = io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"last_price":"190"`)

	assert.Contains(t, c.ok(t, "security", "list"), "190.00", "a command now joins serve's server")
	res, err = http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "serve kept its server after the command ended")

	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGTERM))
	<-serve.done
	require.NoError(t, serve.err, "serve: %s", serve.stderr)
	requireNoServer(t, dir)
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveProc is a folio serve running for a test.
type serveProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer // read while serve writes
	done   chan struct{} // closed when serve has exited
	err    error         // Wait's result, once done is closed
}

// startServe starts folio serve with args; the test's cleanup kills it
// and waits for it.
func startServe(t *testing.T, c *cli, args ...string) *serveProc {
	t.Helper()
	cmd, _, _ := c.command(t, t.Context(), append([]string{"serve"}, args...)...)
	s := &serveProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	require.NoError(t, cmd.Start())
	go func() { s.err = cmd.Wait(); close(s.done) }() // the one Wait: exec.Cmd takes no second
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
	return s
}

// A signal is how serve is stopped, at any time: one that comes while serve
// still waits for its database (here, for another command's server to stop)
// ends it with exit 0 too, and without an error.
func TestServeStoppedWhileStartingExitsZero(t *testing.T) {
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	holder := holdServer(t, c, dir)
	serve := startServeWaiting(t, c, "--addr", freeAddr(t))
	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-serve.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	assert.NoError(t, serve.err, "stderr: %s", serve.stderr)
	notes := regexp.MustCompile(`(?m)^folio: note: .*\n`)
	assert.NotContains(t, notes.ReplaceAllString(serve.stderr.String(), ""), "folio:", "no error")

	require.NoError(t, holder.in.Close())
	require.NoError(t, holder.cmd.Wait(), "stderr: %s", holder.stderr)
	requireNoServer(t, dir)
}

// heldServer is an import reading standard input: it holds the embedded
// server it started until its input ends.
type heldServer struct {
	cmd            *exec.Cmd
	in             io.WriteCloser
	stdout, stderr *bytes.Buffer
}

// holdServer starts `price import -` on the embedded default in dir and
// waits until its server runs.
func holdServer(t *testing.T, c *cli, dir string) *heldServer {
	t.Helper()
	cmd, stdout, stderr := c.command(t, t.Context(), "price", "import", "-")
	cmd.Stdin = nil
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
	require.Eventually(t, func() bool { _, err := os.Stat(pidFile); return err == nil },
		time.Minute, 10*time.Millisecond, "the import starts the server")
	return &heldServer{cmd: cmd, in: in, stdout: stdout, stderr: stderr}
}

// startServeWaiting starts serve while another command holds the server,
// and waits until serve says it waits for that server to stop.
func startServeWaiting(t *testing.T, c *cli, args ...string) *serveProc {
	t.Helper()
	serve := startServe(t, c, args...)
	require.Eventually(t, func() bool {
		return strings.Contains(serve.stderr.String(), "waiting for the process that started the server")
	}, time.Minute, 10*time.Millisecond, "serve waits for the other command's server")
	return serve
}

// nohup folio serve & keeps serving when the terminal closes: a SIGHUP
// the parent ignores stays ignored, while SIGTERM still stops it.
func TestServeUnderNohupIgnoresSIGHUP(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Skip("nohup is not installed")
	}
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep is not installed")
	}
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	addr := freeAddr(t)

	serve, _, _ := c.command(t, t.Context(), "serve", "--addr", addr, "--json")
	serve.Args = append([]string{nohup}, serve.Args...)
	serve.Path = nohup
	serveErr := &lockedBuffer{}
	serve.Stderr = serveErr
	require.NoError(t, serve.Start())
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	up := func() bool { return healthy(addr) }
	require.Eventually(t, up, time.Minute, 20*time.Millisecond, "serve answers: %s", serveErr)

	require.NoError(t, serve.Process.Signal(syscall.SIGHUP))
	time.Sleep(200 * time.Millisecond) // what a stop would take to begin
	assert.True(t, up(), "serve stopped on SIGHUP: %s", serveErr)

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait(), "serve: %s", serveErr)
	requireNoServer(t, dir)

	// --json: the log is JSON lines, request lines included: 503 while
	// serve starts its server, then 200.
	requests, up200 := 0, false
	for _, l := range lines(serveErr.String()) {
		if strings.HasPrefix(l, "nohup: ") {
			continue // nohup's own words
		}
		var rec struct {
			Msg    string `json:"msg"`
			Level  string `json:"level"`
			Path   string `json:"path"`
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &rec), "a log line that is not JSON: %q", l)
		assert.NotEmpty(t, rec.Level, "%q", l)
		if rec.Msg == "request" {
			assert.Equal(t, "/healthz", rec.Path, "%q", l)
			if rec.Status == http.StatusOK {
				up200 = true
			} else {
				assert.False(t, up200, "%q after a 200", l)
				assert.Equal(t, http.StatusServiceUnavailable, rec.Status, "%q", l)
				assert.Equal(t, "service starting", rec.Error, "%q", l)
			}
			requests++
		}
	}
	assert.True(t, up200, "no request line of a 200 in %s", serveErr)
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// healthy reports whether a serve on addr answers its health check.
func healthy(addr string) bool {
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// TestServeStopsWhenItsServerDies: the embedded server killed under serve
// (the OOM killer, an administrator) takes serve with it, exit 1 and a
// message, instead of a serve that answers 503 forever while its hold on
// the data directory makes every other command wait for it; the next
// command starts a server of its own at once.
func TestServeStopsWhenItsServerDies(t *testing.T) {
	t.Parallel()
	dir := reachableDir(t)
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + dir}, dir: dir}
	addr := freeAddr(t)
	serve := startServe(t, c, "--addr", addr)
	require.Eventually(t, func() bool { return healthy(addr) }, time.Minute, 20*time.Millisecond, "serve answers")

	pidFile, err := os.ReadFile(filepath.Join(dir, "pgdata", "postmaster.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	select {
	case <-serve.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve outlived its server: %s", serve.stderr)
	}
	var exit *exec.ExitError
	require.ErrorAs(t, serve.err, &exit, "stderr: %s", serve.stderr)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, serve.stderr.String(), "folio: the embedded PostgreSQL exited while serve was running (see "+filepath.Join(dir, "pgdata", "log", "server.log")+"); serve stopped with it\n")

	// The next command starts a server of its own: it does not wait for
	// the dead serve (pglocal logs its waits for the process that owns a
	// server; waiting for the dead server's children to go is fine). A
	// wait that ends in failure fails the exit code, one that never ends
	// the run's timeout.
	r := c.run(t, "--verbose", "portfolio", "list")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Contains(t, r.stdout, "No portfolios")
	assert.Contains(t, r.stderr, "pglocal: server started", "a server of its own, and --verbose shows pglocal's steps")
	assert.NotContains(t, r.stderr, "waiting for the process that", "the next command waited for the dead serve")
	assert.NotContains(t, r.stderr, "waiting for other processes", "the next command waited for the dead serve")

	// A failed command's last line is its error, after the log of the
	// server stopping.
	r = c.run(t, "--verbose", "--json", "report", "Nope")
	require.Equal(t, 4, r.code, "%v", r)
	assert.Contains(t, r.stderr, "pglocal: server stopped")
	assert.True(t, strings.HasSuffix(r.stderr, "}\nfolio: portfolio \"Nope\": not found\n"), "the error comes last: %s", r.stderr)
	requireNoServer(t, dir)
}

// TestServeStopsAtASecondSignal: the first SIGTERM (or Ctrl-C) lets the
// requests in flight finish, for up to 15 seconds; a second one cuts them
// off and serve exits at once, saying so.
func TestServeStopsAtASecondSignal(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	var p portfolioJSON
	c.okJSON(t, &p, "portfolio", "create", "Locked")
	addr := freeAddr(t)
	serve := startServe(t, c, "--addr", addr)
	require.Eventually(t, func() bool { return healthy(addr) }, time.Minute, 20*time.Millisecond, "serve answers: %s", serve.stderr)
	// Logged as the API opens, before any request it answers.
	assert.Regexp(t, `(?m)^time=\S+ level=INFO msg=ready addr=127\.0\.0\.1:\d+\n`, serve.stderr.String())
	assert.NotContains(t, serve.stderr.String(), "msg=listening")

	// A request that waits for a row lock held here: in flight, for sure,
	// once the server shows the wait, until its 10 s run out.
	holder, err := pool.Begin(t.Context())
	require.NoError(t, err)
	defer holder.Rollback(t.Context()) //nolint:errcheck
	_, err = holder.Exec(t.Context(), "select 1 from portfolio where id = $1 for update", p.ID)
	require.NoError(t, err)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+addr+"/portfolios/"+p.ID.String(), strings.NewReader(`{"name":"Renamed"}`))
		req.Header.Set("Content-Type", "application/json")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	require.Eventually(t, func() bool {
		return queryOne[int](t, pool, "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()") > 0
	}, 10*time.Second, 10*time.Millisecond, "the request waits for the lock")

	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { return strings.Contains(serve.stderr.String(), "shutting down") },
		10*time.Second, 10*time.Millisecond, "%s", serve.stderr)
	select {
	case <-serve.done:
		t.Fatalf("serve exited with a request in flight: %v\n%s", serve.err, serve.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-serve.done:
		var exit *exec.ExitError
		require.ErrorAs(t, serve.err, &exit)
		assert.Equal(t, 1, exit.ExitCode())
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit at the second signal:\n%s", serve.stderr)
	}
	assert.Regexp(t, `(?m)^folio: interrupted: a second signal cut off the requests still running on 127\.0\.0\.1:\d+\n`, serve.stderr.String())
}

// TestServeListensBeforeItStartsADatabase: an address in use, or a host
// that does not resolve, fails serve before it touches the embedded
// default (no data directory is made, no server started or waited for).
func TestServeListensBeforeItStartsADatabase(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	c := &cli{timeout: 20 * time.Second}
	assert.Equal(t, "folio: listen tcp "+taken.Addr().String()+": bind: address already in use\n",
		c.fails(t, 1, "serve", "--addr", taken.Addr().String(), "--data-dir", dataDir))
	assert.Contains(t, c.fails(t, 1, "serve", "--addr", "no-such-host.invalid:8080", "--data-dir", dataDir),
		"folio: listen tcp: lookup no-such-host.invalid")
	assert.NoDirExists(t, dataDir, "serve started a database before it could listen")
}

// A data directory folio may not use as it is (here, run as root, a
// symbolic link the server would be handed through) is refused with what
// to do about it, without the advice to use another server that a failed
// start gets: the directory, not the server, is the problem.
func TestUnusableDataDirSaysWhatToDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("links are refused as root only")
	}
	t.Parallel()
	dir := reachableDir(t)
	target := filepath.Join(dir, "real")
	require.NoError(t, os.Mkdir(target, 0o755))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	c := &cli{env: []string{"FOLIO_DATA_DIR=" + link}, dir: dir}
	stderr := c.fails(t, 1, "portfolio", "list")
	assert.Equal(t, "folio: start the embedded PostgreSQL: pglocal: "+link+" is a symbolic link, which a server started as root "+
		"does not follow (it would give what it points to to the postgres user): use the directory it points to\n", stderr)
	entries, err := os.ReadDir(target)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing made where the link points")
}
