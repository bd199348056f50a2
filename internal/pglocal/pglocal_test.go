//go:build unix

package pglocal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pglocal"
)

// newDataDir returns a path for a data directory, not yet created, in a
// fresh temporary directory. Unlike t.TempDir, whose parent is mode 0700,
// the directory is reachable by the postgres system user when the tests run
// as root.
func newDataDir(t *testing.T, name string) string {
	t.Helper()
	base, err := os.MkdirTemp("", "pglocal-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	return filepath.Join(base, name)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newOptions(t *testing.T, dataDir string) (pglocal.Options, *syncBuffer) {
	logs := &syncBuffer{}
	return pglocal.Options{
		DataDir:  dataDir,
		Settings: map[string]string{"fsync": "off", "shared_buffers": "16MB"},
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, logs
}

// start starts a server and stops it when the test ends.
func start(t *testing.T, opts pglocal.Options) *pglocal.Server {
	t.Helper()
	s, err := pglocal.Start(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("cleanup: Stop: %v", err)
		}
	})
	return s
}

// postmasterPID returns the pid recorded in dataDir/postmaster.pid.
func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(data), "\n", 2)[0])
	require.NoError(t, err)
	return pid
}

func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "postmaster %d still exists", pid)
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartShareStop(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)

	s1 := start(t, opts)
	require.True(t, s1.Owned())
	require.True(t, s1.Created(), "the first start runs initdb")
	require.Equal(t, dir, s1.DataDir())
	require.Equal(t, dir, s1.SocketDir(), "a short data directory holds the socket itself")
	require.Equal(t, 5432, s1.Port())
	require.Equal(t, "postgres", s1.User())
	require.FileExists(t, filepath.Join(dir, "log", "server.log"))
	fi, err := os.Stat(filepath.Join(s1.SocketDir(), ".s.PGSQL.5432"))
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket, fi.Mode().Type())

	conn := connect(t, s1.URL("postgres"))
	var user, listen, fsync string
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT current_user, current_setting('listen_addresses'), current_setting('fsync')").Scan(&user, &listen, &fsync))
	require.Equal(t, "postgres", user)
	require.Empty(t, listen, "no TCP listener")
	require.Equal(t, "off", fsync)

	pid := postmasterPID(t, dir)

	// A second Start on the running cluster shares it.
	s2, err := pglocal.Start(ctx, opts)
	require.NoError(t, err)
	require.False(t, s2.Owned())
	require.False(t, s2.Created())
	require.Equal(t, s1.SocketDir(), s2.SocketDir())
	require.Equal(t, s1.Port(), s2.Port())
	require.Equal(t, s1.URL("folio"), s2.URL("folio"))
	conn2 := connect(t, s2.URL("postgres"))
	var one int
	require.NoError(t, conn2.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.NoError(t, conn2.Close(ctx))

	// Stopping the second leaves the server running.
	require.NoError(t, s2.Stop(ctx))
	require.NoError(t, syscall.Kill(pid, 0))
	require.NoError(t, conn.Ping(ctx))
	require.NoError(t, conn.Close(ctx))

	// Stopping the owner stops it; a second Stop is harmless.
	require.NoError(t, s1.Stop(ctx))
	requireGone(t, pid)
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, s1.Stop(ctx))

	// Started again, the server runs on the cluster that is there.
	s3 := start(t, opts)
	require.True(t, s3.Owned())
	require.False(t, s3.Created())
	require.NoError(t, s3.Stop(ctx))
}

func TestConcurrentStart(t *testing.T) {
	t.Parallel()
	opts, _ := newOptions(t, newDataDir(t, "data"))

	var wg sync.WaitGroup
	servers := make([]*pglocal.Server, 2)
	errs := make([]error, 2)
	for i := range servers {
		wg.Go(func() { servers[i], errs[i] = pglocal.Start(t.Context(), opts) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for _, s := range servers {
		if s.Owned() { // registered first, so it runs last: the owner's Stop waits for the other's
			t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
		}
	}
	for _, s := range servers {
		if !s.Owned() {
			t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
		}
	}
	require.NotEqual(t, servers[0].Owned(), servers[1].Owned(), "exactly one starts the server")
	for _, s := range servers {
		var n int
		require.NoError(t, connect(t, s.URL("postgres")).QueryRow(t.Context(), "SELECT 42").Scan(&n))
		require.Equal(t, 42, n)
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)

	s := start(t, opts)
	require.Contains(t, logs.String(), "running initdb")
	conn := connect(t, s.URL("postgres"))
	_, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	pid := postmasterPID(t, dir)
	require.NoError(t, s.Stop(ctx))
	requireGone(t, pid)
	require.DirExists(t, dir)

	opts, logs = newOptions(t, dir)
	s = start(t, opts)
	require.True(t, s.Owned())
	require.NotContains(t, logs.String(), "initdb")
	var v string
	conn = connect(t, s.URL("postgres"))
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, "still here", v)

	// With its context done, Stop neither waits for the open connection nor
	// takes the time of a fast shutdown.
	pid = postmasterPID(t, dir)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	began := time.Now()
	require.NoError(t, s.Stop(cancelled))
	require.Less(t, time.Since(began), 20*time.Second)
	requireGone(t, pid)
	require.Contains(t, logs.String(), "mode=immediate")
	require.NotContains(t, logs.String(), "mode=smart")
}

// TestEphemeralDiesWithParent runs a child process that starts an ephemeral
// server and exits without stopping it.
func TestEphemeralDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	t.Parallel()
	dir := newDataDir(t, "data")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperEphemeralChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGLOCAL_HELPER_DATADIR="+dir)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	pidText, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "postmaster pid ")
	require.True(t, ok, "%s", out)
	pid, err := strconv.Atoi(pidText)
	require.NoError(t, err)

	require.Eventually(t, func() bool { return processGone(pid) }, 20*time.Second, 50*time.Millisecond,
		"postmaster %d survived its parent", pid)
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"), "fast shutdown cleans up")
}

func TestHelperEphemeralChild(t *testing.T) {
	dir := os.Getenv("PGLOCAL_HELPER_DATADIR")
	if dir == "" {
		t.Skip("helper process for TestEphemeralDiesWithParent")
	}
	opts, _ := newOptions(t, dir)
	opts.Ephemeral = true
	if _, err := pglocal.Start(t.Context(), opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("postmaster pid %d\n", postmasterPID(t, dir))
	os.Exit(0)
}

// processGone reports whether pid has exited. An exited process that its
// new parent has not reaped yet (a zombie) counts as gone.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	_, rest, _ := bytes.Cut(stat, []byte(") "))
	return len(rest) > 0 && rest[0] == 'Z'
}

func TestEphemeral(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)
	opts.Ephemeral = true
	opts.StopGrace = time.Minute // what a smart shutdown would wait

	s := start(t, opts)
	conn := connect(t, s.URL("postgres"))
	require.NoError(t, conn.Ping(ctx))
	pid := postmasterPID(t, dir)

	// The socket is trusted, TCP refused, should anyone turn it on.
	var rules []string
	rows, err := conn.Query(ctx, "select type, auth_method from pg_hba_file_rules order by line_number")
	require.NoError(t, err)
	for rows.Next() {
		var typ, method string
		require.NoError(t, rows.Scan(&typ, &method))
		rules = append(rules, typ+" "+method)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"local trust", "host reject", "host reject", "local trust", "host reject", "host reject"}, rules)

	// A fast shutdown does not wait for the open connection.
	began := time.Now()
	require.NoError(t, s.Stop(ctx))
	require.Less(t, time.Since(began), opts.StopGrace)
	requireGone(t, pid)
	require.Error(t, conn.Ping(ctx))
	require.Contains(t, logs.String(), "mode=fast")
	require.NotContains(t, logs.String(), "mode=smart")
	require.NoDirExists(t, dir)
	require.NoFileExists(t, dir+".lock")
	require.NoError(t, s.Stop(ctx))
}

func TestLongDataDir(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(newDataDir(t, strings.Repeat("d", 60)), strings.Repeat("e", 60), "data")
	require.Greater(t, len(dir), 100)
	opts, _ := newOptions(t, dir)
	opts.Ephemeral = true

	s := start(t, opts)
	require.NotEqual(t, dir, s.SocketDir())
	require.True(t, strings.HasPrefix(filepath.Base(s.SocketDir()), "folio-"), s.SocketDir())
	require.LessOrEqual(t, len(s.SocketDir()+"/.s.PGSQL.5432.lock"), 100)
	fi, err := os.Stat(s.SocketDir())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	var dataDir string
	require.NoError(t, connect(t, s.URL("postgres")).QueryRow(ctx, "SHOW data_directory").Scan(&dataDir))
	require.Equal(t, dir, dataDir)

	require.NoError(t, s.Stop(ctx))
	require.NoDirExists(t, s.SocketDir())
	require.NoDirExists(t, dir)
}

// A server that keeps its data removes its short socket directory too when
// it stops, and makes it again at the next start.
func TestLongDataDirKeptLeavesNoSocketDir(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(newDataDir(t, strings.Repeat("k", 60)), strings.Repeat("f", 60), "data")
	opts, _ := newOptions(t, dir)

	s := start(t, opts)
	sock := s.SocketDir()
	require.NotEqual(t, dir, sock)
	require.NoError(t, s.Stop(ctx))
	require.NoDirExists(t, sock)
	require.DirExists(t, dir)

	again := start(t, opts)
	require.Equal(t, sock, again.SocketDir())
	conn := connect(t, again.URL("postgres"))
	var one int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.NoError(t, conn.Close(ctx)) // a smart shutdown would wait for it
	require.NoError(t, again.Stop(ctx))
	require.NoDirExists(t, sock)
}

func TestStopGraceThenFastShutdown(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)
	opts.StopGrace = 300 * time.Millisecond

	s := start(t, opts)
	conn := connect(t, s.URL("postgres")) // a client that does not disconnect
	pid := postmasterPID(t, dir)

	began := time.Now()
	require.NoError(t, s.Stop(ctx))
	elapsed := time.Since(began)
	require.GreaterOrEqual(t, elapsed, opts.StopGrace, "smart shutdown waits for the client")
	require.Less(t, elapsed, 10*time.Second)
	requireGone(t, pid)
	require.Error(t, conn.Ping(ctx))
	require.Contains(t, logs.String(), "mode=fast")
}

func TestStartFailureReportsServerLog(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)
	opts.Settings["shared_buffers"] = "plenty"

	_, err := pglocal.Start(t.Context(), opts)
	require.ErrorContains(t, err, "exited during startup")
	require.ErrorContains(t, err, `invalid value for parameter "shared_buffers"`)
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"))
}

func TestRefusesNonEmptyDirectory(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t, "data")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("mine"), 0o644))

	_, err := pglocal.Start(t.Context(), pglocal.Options{DataDir: dir})
	require.ErrorContains(t, err, "not empty")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestRejectsManagedSettings(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"port":                    "setting port is managed by pglocal",
		"listen_addresses":        "setting listen_addresses is managed by pglocal",
		"Unix_Socket_Directories": "setting Unix_Socket_Directories is managed by pglocal",
		"":                        `invalid setting name ""`,
		"a=b":                     `invalid setting name "a=b"`,
	} {
		dir := newDataDir(t, "data")
		_, err := pglocal.Start(t.Context(), pglocal.Options{DataDir: dir, Settings: map[string]string{name: "x"}})
		require.ErrorContains(t, err, want, name)
		assert.NoDirExists(t, filepath.Join(dir, "base"), "refused before initdb: %s", name)
	}
}

func TestUnreachableDataDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	t.Parallel()
	private := filepath.Join(newDataDir(t, "private"))
	require.NoError(t, os.Mkdir(private, 0o700))
	require.NoError(t, os.Chmod(private, 0o700))

	_, err := pglocal.Start(t.Context(), pglocal.Options{DataDir: filepath.Join(private, "sub", "data")})
	require.ErrorContains(t, err, private+" is not reachable by the postgres system user (mode 0700)")
	require.ErrorContains(t, err, "DATABASE_URL")
	require.ErrorIs(t, err, pglocal.ErrNotUsable)
	entries, err := os.ReadDir(private)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing created in the unreachable directory")
}

// A data directory under a regular file is refused as what it is.
func TestDataDirUnderAFile(t *testing.T) {
	t.Parallel()
	file := newDataDir(t, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	opts, _ := newOptions(t, filepath.Join(file, "pgdata"))
	_, err := pglocal.Start(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a directory")
	assert.NotContains(t, err.Error(), "not reachable")
}

// TestStalePidFileOfAReusedPid: a server gone without removing
// postmaster.pid (killed while starting or stopping, or the machine
// restarted) whose pid now belongs to an unrelated live process is stale:
// Start neither waits for that process to stop (which serve's Own did,
// forever) nor retries it for the start timeout, whatever status the file
// records; and when that process has the server's user, which postgres
// would take for another server on the data directory and refuse to start,
// Start removes the file first.
func TestStalePidFileOfAReusedPid(t *testing.T) {
	if _, err := os.Readlink("/proc/self/cwd"); err != nil {
		t.Skip("no /proc to tell a process's working directory")
	}
	t.Parallel()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)
	s := start(t, opts)
	require.NoError(t, s.Stop(t.Context()))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	owner := fi.Sys().(*syscall.Stat_t)

	for _, status := range []string{"starting", "stopping"} {
		for _, serversUser := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, the server's user: %v", status, serversUser), func(t *testing.T) {
				if !serversUser && os.Geteuid() != 0 {
					t.Skip("a process of another user than the server's needs root")
				}
				other := exec.Command("sleep", "60")
				other.Dir = "/"
				if serversUser && os.Geteuid() == 0 {
					other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: owner.Uid, Gid: owner.Gid}}
				}
				require.NoError(t, other.Start())
				t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
				pidFile := fmt.Sprintf("%d\n%s\n1700000000\n5432\n%s\n\n  5432001     32768\n%-8s\n",
					other.Process.Pid, dir, dir, status)
				writePidFile := func() {
					// As the server's user, as postgres wrote it.
					path := filepath.Join(dir, "postmaster.pid")
					require.NoError(t, os.WriteFile(path, []byte(pidFile), 0o600))
					require.NoError(t, os.Chown(path, int(owner.Uid), int(owner.Gid)))
				}
				writePidFile()

				for _, own := range []bool{false, true} {
					o := opts
					o.Own = own
					o.StartTimeout = 20 * time.Second
					began := time.Now()
					s, err := pglocal.Start(t.Context(), o)
					require.NoError(t, err, "own %v", own)
					assert.True(t, s.Owned())
					assert.Less(t, time.Since(began), 10*time.Second, "own %v: it waited for the unrelated process", own)
					require.NoError(t, s.Stop(t.Context()))
					writePidFile()
				}
				require.NoError(t, os.Remove(filepath.Join(dir, "postmaster.pid")))
			})
		}
	}
}

// TestClusterOfAnotherUser: a data directory holding a cluster another
// user owns is refused before anything is created next to it (lock files
// of this process's user would lock the owner out), and so is a data
// directory that is a file.
func TestClusterOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make a directory another user owns")
	}
	t.Parallel()
	parent := filepath.Dir(newDataDir(t, "data"))
	dir := filepath.Join(parent, "theirs")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600))
	require.NoError(t, os.Chown(dir, 65534, 65534))
	before, err := os.ReadDir(parent)
	require.NoError(t, err)

	opts, _ := newOptions(t, dir)
	_, err = pglocal.Start(t.Context(), opts)
	require.ErrorIs(t, err, pglocal.ErrNotUsable)
	assert.Regexp(t, `^pglocal: the cluster in `+regexp.QuoteMeta(dir)+` belongs to (\S+ \()?uid 65534\)?, `+
		`and the server would run as the postgres system user: run folio as its owner, or choose another data directory$`, err.Error())
	after, err := os.ReadDir(parent)
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing created next to it")

	file := filepath.Join(parent, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	opts, _ = newOptions(t, file)
	_, err = pglocal.Start(t.Context(), opts)
	require.EqualError(t, err, "pglocal: data directory "+file+" is not a directory")
}

// TestClusterOfAnotherUserNotReadable: a user other than root cannot look
// into a cluster another user made (mode 0700, as initdb makes it), say
// the one a command run as root made for the postgres user. It is
// refused all the same, saying whose it is, and nothing is created next
// to it, even where this user may create files.
func TestClusterOfAnotherUserNotReadable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make a cluster another user owns and to run a process as a third")
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("no postgres user")
	}
	t.Parallel()
	parent := reachableTempDir(t)
	require.NoError(t, os.Chmod(parent, 0o1777)) // like /tmp
	dir := filepath.Join(parent, "pgdata")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600))
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	require.NoError(t, os.Chown(filepath.Join(dir, "PG_VERSION"), uid, gid))
	require.NoError(t, os.Chown(dir, uid, gid))
	before, err := os.ReadDir(parent)
	require.NoError(t, err)

	out := startAsNobody(t, dir)
	assert.Regexp(t, `(?m)^start: pglocal: the data directory `+regexp.QuoteMeta(dir)+`, which this user may not look into, belongs to postgres \(uid `+pg.Uid+`\), `+
		`and the server would run as this user: run folio as its owner, or choose another data directory$`, out)
	after, err := os.ReadDir(parent)
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing created next to it")

	// With root's lock file beside it, as a command run as root leaves
	// it, the cluster is root's to use, and root is who to run folio as.
	require.NoError(t, os.WriteFile(dir+".lock", nil, 0o600))
	out = startAsNobody(t, dir)
	assert.Regexp(t, `(?m)^start: pglocal: the data directory `+regexp.QuoteMeta(dir)+`, which this user may not look into, belongs to postgres \(uid `+pg.Uid+`\), `+
		`the server user of a cluster made as root \(its lock file `+regexp.QuoteMeta(dir+".lock")+` is root's\), `+
		`and the server would run as this user: run folio as root, or choose another data directory$`, out)
}

// TestClusterMadeByRootRunAsItsServerUser: a cluster made as root belongs
// to the server user, but its lock files beside it are root's, in a
// directory root made. Run as the server user, Start refuses it saying
// whose the lock file or the directory is, rather than "permission
// denied". (nobody stands in for postgres.)
func TestClusterMadeByRootRunAsItsServerUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make a cluster as root would and to run a process as another user")
	}
	t.Parallel()
	parent := reachableTempDir(t) // root's, mode 0755, like ./.folio
	dir := filepath.Join(parent, "pgdata")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600))
	require.NoError(t, os.Chown(filepath.Join(dir, "PG_VERSION"), 65534, 65534))
	require.NoError(t, os.Chown(dir, 65534, 65534))
	require.NoError(t, os.WriteFile(dir+".lock", nil, 0o600))

	out := startAsNobody(t, dir)
	assert.Regexp(t, `(?m)^start: pglocal: this user may not write the lock file `+regexp.QuoteMeta(dir+".lock")+` of the cluster in `+regexp.QuoteMeta(dir)+
		`: it belongs to root \(uid 0\); run folio as that user, or choose another data directory$`, out)

	// No lock file yet (a clean stop removes the users lock), in a
	// directory this user may not create one in.
	require.NoError(t, os.Remove(dir+".lock"))
	out = startAsNobody(t, dir)
	assert.Regexp(t, `(?m)^start: pglocal: this user may not create the lock file `+regexp.QuoteMeta(dir+".lock")+` of the cluster in `+regexp.QuoteMeta(dir)+
		`: the directory belongs to root \(uid 0\); run folio as that user, or choose another data directory$`, out)
	assert.NoFileExists(t, dir+".lock")
}

// startAsNobody runs Start on dir in a process of the nobody user (uid
// 65534) and returns what it printed: "start: " and Start's error.
func startAsNobody(t *testing.T, dir string) string {
	t.Helper()
	// The test binary, where nobody may run it (go test's own directory
	// is root's, mode 0700).
	bin := filepath.Join(reachableTempDir(t), "pglocal.test")
	exe, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, exe, 0o755))
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestHelperStartAsNobody$", "-test.count=1")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "PGLOCAL_HELPER_NOBODY_DATADIR=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

func TestHelperStartAsNobody(t *testing.T) {
	dir := os.Getenv("PGLOCAL_HELPER_NOBODY_DATADIR")
	if dir == "" {
		t.Skip("helper process for TestClusterOfAnotherUserNotReadable")
	}
	opts, _ := newOptions(t, dir)
	_, err := pglocal.Start(t.Context(), opts)
	fmt.Printf("start: %v\n", err)
}

// TestStartAfterPostmasterKilled: a postmaster killed outright leaves its
// children running until they notice, and postgres refuses to start on
// the data directory while any of them is still attached to the old
// server's shared memory ("pre-existing shared memory block is still in
// use"). Start waits for them instead of failing. Here one child is held
// stopped for a second after the kill.
func TestStartAfterPostmasterKilled(t *testing.T) {
	if _, err := os.Stat("/proc/sysvipc/shm"); err != nil {
		t.Skip("no /proc/sysvipc/shm")
	}
	t.Parallel()
	dir := newDataDir(t, "data")
	opts, logs := newOptions(t, dir)
	s, err := pglocal.Start(t.Context(), opts)
	require.NoError(t, err)
	pid := postmasterPID(t, dir)
	children := childrenOf(t, pid)
	require.NotEmpty(t, children)
	held := children[0]
	require.NoError(t, syscall.Kill(held, syscall.SIGSTOP))
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	_ = s.Stop(context.Background()) // reaps the postmaster; the child stays
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(time.Second)
		_ = syscall.Kill(held, syscall.SIGCONT) // it sees the postmaster gone, and exits
	}()
	t.Cleanup(func() { <-resumed })

	began := time.Now()
	s2 := start(t, opts)
	assert.GreaterOrEqual(t, time.Since(began), time.Second, "started while the old child was attached?")
	assert.NotEqual(t, pid, postmasterPID(t, dir))
	assert.Contains(t, logs.String(), "waiting for the processes of a server that died")
	_ = s2
}

// childrenOf returns the pids of pid's child processes.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		_, rest, _ := bytes.Cut(stat, []byte(") "))
		f := strings.Fields(string(rest))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// reachableTempDir is a temporary directory the server's user can enter
// (t.TempDir's parent is mode 0700).
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// fakeBinDir returns a directory whose initdb is the given shell script and
// whose postgres does nothing.
func fakeBinDir(t *testing.T, initdb string) string {
	t.Helper()
	dir := reachableTempDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "initdb"), []byte("#!/bin/sh\n"+initdb), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "postgres"), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	return dir
}

// TestInitdbLocaleFallback: initdb is run again in the C locale only when
// it said the locale is invalid, not on any failure whose output mentions
// a locale, as every run's banner does.
func TestInitdbLocaleFallback(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, output string
		runs         string
	}{
		{"invalid locale", `initdb: error: invalid locale name "C.UTF-8"`, "C.UTF-8 C "},
		{"another failure", `The database cluster will be initialized with locale "C.UTF-8".
initdb: error: could not create directory: No space left on device`, "C.UTF-8 "},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(reachableTempDir(t), "runs")
			require.NoError(t, os.WriteFile(log, nil, 0o666))
			require.NoError(t, os.Chmod(log, 0o666)) // writable by the server's user when root
			bin := fakeBinDir(t, fmt.Sprintf(`for a do case $a in --locale=*) printf '%%s ' "${a#--locale=}" >>%s;; esac; done
echo '%s'
exit 1
`, log, c.output))
			opts, _ := newOptions(t, newDataDir(t, "data"))
			opts.BinDir = bin
			_, err := pglocal.Start(t.Context(), opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), strings.SplitN(c.output, "\n", 2)[len(strings.SplitN(c.output, "\n", 2))-1])
			runs, err := os.ReadFile(log)
			require.NoError(t, err)
			assert.Equal(t, c.runs, string(runs))
		})
	}
}

// TestStopSaysWhyItWaits: the owner's Stop waits (smart shutdown) for the
// sessions of other programs; when that takes over 3 seconds it says so,
// rather than leaving a finished command hanging in silence, and ends
// them once StopGrace is over.
func TestStopSaysWhyItWaits(t *testing.T) {
	t.Parallel()
	opts, logs := newOptions(t, newDataDir(t, "data"))
	opts.StopGrace = 5 * time.Second
	s, err := pglocal.Start(t.Context(), opts)
	require.NoError(t, err)
	conn := connect(t, s.URL("postgres")) // another program's session
	began := time.Now()
	require.NoError(t, s.Stop(t.Context()))
	elapsed := time.Since(began)
	assert.GreaterOrEqual(t, elapsed, 5*time.Second, "Stop waited for the session")
	assert.Contains(t, logs.String(), "level=WARN msg=\"pglocal: stopping the server on "+opts.DataDir+" takes a while: it waits for sessions of other programs, if any, to end (in 2s they are ended) and writes its checkpoint\"")
	assert.Error(t, conn.Ping(t.Context()), "the session was ended")
}

// TestDataDirBeingCleanedUp: a data directory that holds files but no
// cluster, as an initdb whose folio was killed leaves it while it removes
// what it made, is given a few seconds to become empty before Start
// refuses it; one that stays so is refused, saying what to do.
func TestDataDirBeingCleanedUp(t *testing.T) {
	t.Parallel()
	t.Run("emptied", func(t *testing.T) {
		t.Parallel()
		dir := newDataDir(t, "data")
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "base", "1"), 0o700))
		go func() {
			time.Sleep(500 * time.Millisecond)
			_ = os.RemoveAll(filepath.Join(dir, "base")) // the killed initdb's cleanup
		}()
		opts, _ := newOptions(t, dir)
		s := start(t, opts)
		assert.True(t, s.Created())
	})
	t.Run("left", func(t *testing.T) {
		t.Parallel()
		dir := newDataDir(t, "data")
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "base"), 0o700))
		opts, _ := newOptions(t, dir)
		_, err := pglocal.Start(t.Context(), opts)
		require.EqualError(t, err, "pglocal: data directory "+dir+" is not empty but holds no PostgreSQL cluster (no PG_VERSION); "+
			"refusing to initialise it: choose another directory, or, if it is what a killed initdb left, remove it")
		require.ErrorIs(t, err, pglocal.ErrNotUsable)
	})
}

// TestPostmasterUnderAnotherName: a postgres that runs under another
// program name (behind a wrapper that execs the real binary as
// .postgres-wrapped, as some packagers do) is still the server of its data
// directory: a second Start joins it, and RemoveStale keeps it.
func TestPostmasterUnderAnotherName(t *testing.T) {
	t.Parallel()
	real, err := pglocal.FindBinDir()
	require.NoError(t, err)
	bin := reachableTempDir(t)
	require.NoError(t, os.Symlink(filepath.Join(real, "initdb"), filepath.Join(bin, "initdb")))
	require.NoError(t, os.Symlink(filepath.Join(real, "postgres"), filepath.Join(bin, ".postgres-wrapped")))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "postgres"),
		[]byte("#!/bin/sh\nexec "+filepath.Join(bin, ".postgres-wrapped")+" \"$@\"\n"), 0o755))

	opts, _ := newOptions(t, newDataDir(t, "data"))
	opts.BinDir = bin
	start(t, opts)
	s, err := pglocal.Start(t.Context(), opts)
	require.NoError(t, err)
	assert.False(t, s.Owned(), "joined")
	require.NoError(t, s.Stop(t.Context()))

	eph, _ := newOptions(t, newDataDir(t, "eph"))
	eph.BinDir, eph.Ephemeral = bin, true
	start(t, eph)
	removed, err := pglocal.RemoveStale(eph.DataDir, 0)
	require.NoError(t, err)
	assert.False(t, removed, "the data directory of a live server")
	assert.FileExists(t, filepath.Join(eph.DataDir, "PG_VERSION"))
}

// Run as root, Start gives the data directory to the server user and
// creates the lock files as root: a symbolic link planted where either
// goes (a checkout can carry one) would hand its target to that user, or
// create a file as root anywhere. Start refuses such links, and never opens
// a lock file through one, whoever runs it.
func TestSymbolicLinksAreRefused(t *testing.T) {
	t.Parallel()
	base := newDataDir(t, "")
	target := filepath.Join(base, "target")
	require.NoError(t, os.Mkdir(target, 0o755))
	owner := func() uint32 {
		fi, err := os.Stat(target)
		require.NoError(t, err)
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	before := owner()

	if os.Geteuid() == 0 {
		t.Run("data directory", func(t *testing.T) {
			link := filepath.Join(base, "pgdata-link")
			require.NoError(t, os.Symlink(target, link))
			opts, _ := newOptions(t, link)
			_, err := pglocal.Start(t.Context(), opts)
			require.ErrorContains(t, err, link+" is a symbolic link")
			require.ErrorIs(t, err, pglocal.ErrNotUsable)
			assert.Equal(t, before, owner(), "the target keeps its owner")
			assert.NoFileExists(t, link+".lock")
		})
		t.Run("its parent", func(t *testing.T) {
			link := filepath.Join(base, "parent-link")
			require.NoError(t, os.Symlink(target, link))
			opts, _ := newOptions(t, filepath.Join(link, "pgdata"))
			_, err := pglocal.Start(t.Context(), opts)
			require.ErrorContains(t, err, link+" is a symbolic link")
			require.ErrorIs(t, err, pglocal.ErrNotUsable)
			entries, err := os.ReadDir(target)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing made in the target")
		})
	}
	for _, tc := range []struct {
		lock      string
		ephemeral bool
	}{{".users", false}, {".lock", true}} {
		t.Run("lock file "+tc.lock, func(t *testing.T) {
			dir := filepath.Join(base, "data"+tc.lock)
			planted := filepath.Join(target, "planted"+tc.lock)
			require.NoError(t, os.Symlink(planted, dir+tc.lock))
			opts, _ := newOptions(t, dir)
			opts.Ephemeral = tc.ephemeral
			_, err := pglocal.Start(t.Context(), opts)
			require.ErrorContains(t, err, "lock file "+dir+tc.lock+" is a symbolic link")
			assert.NoFileExists(t, planted, "nothing created through the link")
		})
	}
}

// A Start cancelled while initdb runs ends at once, with nothing of initdb
// left running or on disk. initdb ignores SIGINT while it waits for the
// server it runs in bootstrap mode, which is where it spends its time; the
// signal goes to its whole process group, so that the server stops and
// initdb cleans up after it.
func TestCancelledInitdbLeavesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Parallel()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		s   *pglocal.Server
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := pglocal.Start(ctx, opts)
		done <- result{s, err}
	}()
	// initdb writes PG_VERSION before it starts the bootstrap server.
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "PG_VERSION"))
		return err == nil
	}, time.Minute, 2*time.Millisecond)
	cancel()
	began := time.Now()
	r := <-done
	if r.err == nil {
		_ = r.s.Stop(context.Background())
		t.Skip("initdb finished before the cancellation reached it")
	}
	require.ErrorIs(t, r.err, context.Canceled)
	assert.Less(t, time.Since(began), 5*time.Second, "not the 10 s wait for initdb")
	assert.Empty(t, processesIn(t, dir), "initdb or its server still running")
	// Either initdb removed what it made, or the signal came after its
	// last step, and the cluster is whole: the next Start uses it.
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		s := start(t, opts)
		assert.False(t, s.Created(), "the cluster initdb finished is used")
	}
}

// processesIn lists the processes whose PGDATA, working directory or
// command line names dir.
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	var found []string
	for _, p := range procs {
		env, _ := os.ReadFile(filepath.Join(p, "environ"))
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		if bytes.Contains(env, []byte("PGDATA="+dir)) || bytes.Contains(cmdline, []byte(dir)) || strings.HasPrefix(cwd, dir) {
			found = append(found, p+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

// The data directory is the server user's, and so are the links anyone
// running as that user could put in it: run as root, Start opens the
// server log neither through a symbolic link nor as a second name of
// another file, and so never gives a file elsewhere to that user.
func TestServerLogLinksAreRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	t.Parallel()
	dir := newDataDir(t, "data")
	opts, _ := newOptions(t, dir)
	s := start(t, opts)
	require.NoError(t, s.Stop(t.Context()))

	victim := filepath.Join(filepath.Dir(dir), "victim")
	require.NoError(t, os.WriteFile(victim, []byte("root's\n"), 0o600))
	logPath := filepath.Join(dir, "log", "server.log")
	for _, tc := range []struct {
		name  string
		plant func()
	}{
		{"symbolic link", func() { require.NoError(t, os.Symlink(victim, logPath)) }},
		{"hard link", func() { require.NoError(t, os.Link(victim, logPath)) }},
	} {
		require.NoError(t, os.Remove(logPath))
		tc.plant()
		_, err := pglocal.Start(t.Context(), opts)
		require.ErrorContains(t, err, "server log", tc.name)
		fi, err := os.Stat(victim)
		require.NoError(t, err)
		assert.EqualValues(t, 0, fi.Sys().(*syscall.Stat_t).Uid, "%s: still root's", tc.name)
		assert.EqualValues(t, 7, fi.Size(), "%s: nothing written to it", tc.name)
	}
}
