//go:build unix

package pgbouncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pglocal"
)

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		version, least string
		want           bool
	}{
		{"PgBouncer 1.18.0", "1.21", false},
		{"PgBouncer 1.18.0", "1.18", true},
		{"PgBouncer 1.18.0", "1.19.1", false},
		{"PgBouncer 1.19.1", "1.19.1", true},
		{"PgBouncer 1.21.0", "1.21", true},
		{"PgBouncer 1.24.1", "1.21", true},
		{"PgBouncer 2.0.0", "1.21", true},
		{"PgBouncer 1.22.0rc1", "1.22", true},
		{"PgBouncer 1.9.0", "1.18", false},
		{"nonsense", "1.0", false},
	} {
		assert.Equal(t, tc.want, atLeast(tc.version, tc.least), "%s >= %s", tc.version, tc.least)
	}
}

func TestConfig(t *testing.T) {
	opts := Options{
		Dir: "/tmp/b", ServerHost: "/tmp/pg dir", ServerPort: 5432,
		Users:    map[string]string{"postgres": "", "app": `p"w`},
		AuthUser: "postgres",
		Settings: map[string]string{"default_pool_size": "3", "server_idle_timeout": "10"},
	}
	require.NoError(t, checkOptions(&opts))
	ini := config(opts, "PgBouncer 1.18.0", "/tmp/b/users.txt")
	for _, line := range []string{
		"* = host='/tmp/pg dir' port=5432",
		"unix_socket_dir = /tmp/b",
		"listen_port = 6432",
		"auth_type = trust",
		"auth_file = /tmp/b/users.txt",
		"auth_user = postgres",
		"pool_mode = transaction",
		"default_pool_size = 3",
		"server_idle_timeout = 10",
		"max_client_conn = 1000",
		"server_reset_query = ",
	} {
		assert.Contains(t, strings.Split(ini, "\n"), line)
	}
	assert.NotContains(t, ini, "listen_addr =", "Unix socket only")
	assert.NotContains(t, ini, "max_prepared_statements", "unknown to 1.18")
	assert.Contains(t, config(opts, "PgBouncer 1.24.1", "/tmp/b/users.txt"), "\nmax_prepared_statements = 0\n")
	assert.Equal(t, `"app" "p""w"`+"\n"+`"postgres" ""`+"\n", authFile(opts.Users))

	for _, bad := range []Options{
		{ServerHost: "/tmp", ServerPort: 5432, Users: opts.Users},
		{Dir: "/tmp/b", ServerPort: 5432, Users: opts.Users},
		{Dir: "/tmp/b", ServerHost: "/tmp", ServerPort: 5432},
		{Dir: "/tmp/b", ServerHost: "/tmp", ServerPort: 5432, Users: opts.Users, AuthUser: "nobody"},
		{Dir: "/tmp/b", ServerHost: "/tmp", ServerPort: 5432, Users: map[string]string{`we"ird`: ""}},
		{Dir: "/tmp/b", ServerHost: "/tmp", ServerPort: 5432, Users: opts.Users, PoolMode: "sometimes"},
		{Dir: "/tmp/b", ServerHost: "/tmp", ServerPort: 5432, Users: opts.Users, Settings: map[string]string{"listen_addr": "*"}},
		{Dir: "/tmp/" + strings.Repeat("x", 90), ServerHost: "/tmp", ServerPort: 5432, Users: opts.Users},
	} {
		assert.Error(t, checkOptions(&bad), "%+v", bad)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	_, err := find(dir+string(filepath.ListSeparator)+"relative", filepath.Join(dir, "nowhere"))
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "apt-get install pgbouncer")

	prog := filepath.Join(dir, "pgbouncer")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755))
	got, err := find("relative"+string(filepath.ListSeparator)+dir, "/nowhere")
	require.NoError(t, err)
	assert.Equal(t, prog, got)
	got, err = find("", prog)
	require.NoError(t, err)
	assert.Equal(t, prog, got, "the fallback, /usr/sbin/pgbouncer on Debian")
}

// installed returns the pgbouncer to test with, or skips the test.
func installed(t *testing.T) string {
	t.Helper()
	bin, err := Find()
	if errors.Is(err, ErrNotFound) {
		if os.Getenv("TEST_PGBOUNCER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	require.NoError(t, err)
	return bin
}

// tempDir returns a fresh directory under /tmp: short enough for a socket
// path and, unlike t.TempDir's, reachable by the postgres system user that
// runs pgbouncer and postgres when the tests run as root.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "pgbouncer-test-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func TestStartConnectStop(t *testing.T) {
	installed(t)
	ctx := context.Background()
	base := tempDir(t)
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(base, "data"), Ephemeral: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })

	b, err := Start(ctx, Options{
		Dir:        filepath.Join(base, "b"),
		ServerHost: srv.SocketDir(),
		ServerPort: srv.Port(),
		Users:      map[string]string{"postgres": ""},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	t.Logf("%s, socket in %s", b.Version(), b.SocketDir())
	assert.True(t, b.AtLeast("1.0"))

	cfg, err := pgx.ParseConfig(b.URL("postgres", "", "postgres"))
	require.NoError(t, err)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	var sum int
	require.NoError(t, conn.QueryRow(ctx, "select $1::int + 1", 41).Scan(&sum))
	assert.Equal(t, 42, sum)

	// The console: one pool, in transaction mode.
	admin, err := pgx.Connect(ctx, b.URL("postgres", "", "pgbouncer"))
	require.NoError(t, err)
	rows, err := admin.Query(ctx, "SHOW POOLS", pgx.QueryExecModeSimpleProtocol)
	require.NoError(t, err)
	pools, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	require.NotEmpty(t, pools)
	modes := map[string]any{}
	for _, p := range pools {
		modes[p["database"].(string)] = p["pool_mode"]
	}
	assert.Equal(t, "transaction", modes["postgres"])
	require.NoError(t, admin.Close(ctx))

	// A user not in Users is refused (no AuthUser).
	_, err = pgx.Connect(ctx, b.URL("stranger", "", "postgres"))
	require.Error(t, err)

	pid := b.proc.Pid()
	require.NoError(t, b.Stop(ctx))
	require.NoError(t, b.Stop(ctx), "Stop twice")
	assert.True(t, processGone(pid), "pgbouncer is gone")
	_, err = conn.Exec(ctx, "select 1")
	assert.Error(t, err, "its clients were disconnected")
}

func TestStartFailureQuotesTheLog(t *testing.T) {
	installed(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Start(ctx, Options{
		Dir:        filepath.Join(tempDir(t), "b"),
		ServerHost: "/nonexistent",
		ServerPort: 5432,
		Users:      map[string]string{"postgres": ""},
		Settings:   map[string]string{"max_client_conn": "many"},
	})
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "exited during startup")
	assert.Contains(t, err.Error(), "pgbouncer.log")
}

// TestDiesWithParent runs a child process that starts pgbouncer and exits
// without stopping it.
func TestDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	installed(t)
	dir := filepath.Join(tempDir(t), "b")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGBOUNCER_HELPER_DIR="+dir)
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	pidText, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "pgbouncer pid ")
	require.True(t, ok, "%s", out)
	pid, err := strconv.Atoi(pidText)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return processGone(pid) }, 20*time.Second, 50*time.Millisecond,
		"pgbouncer %d survived its parent", pid)
}

func TestHelperChild(t *testing.T) {
	dir := os.Getenv("PGBOUNCER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestDiesWithParent")
	}
	b, err := Start(t.Context(), Options{Dir: dir, ServerHost: "/nonexistent", ServerPort: 5432,
		Users: map[string]string{"postgres": ""}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("pgbouncer pid %d\n", b.proc.Pid())
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
