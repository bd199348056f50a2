// Package pgtest gives tests a real PostgreSQL database of their own.
//
// A test binary that uses it calls Main from TestMain. The first test that
// asks for a database starts one throwaway server for the whole binary with
// the local launcher (fsync off: the data is thrown away anyway), or uses the
// server TEST_DATABASE_URL names; Main stops the server after the tests ran.
// Each test then gets its own database, cloned in milliseconds from a
// template migrated once (pgtestdb with its goose migrator), and dropped when
// the test passes (kept for inspection when it fails).
//
// With TEST_PGBOUNCER set (see EnvBouncer), a PgBouncer in transaction
// pooling mode, started for the binary too, stands between the tests and
// the server: URL and NewPool connect through it, with pgx's
// default_query_exec_mode=exec, since pgx's default statement cache cannot
// work through transaction pooling. Everything that needs a session of its
// own goes direct: creating roles, the template and its migrations
// (pgtestdb and goose hold session advisory locks), EmptyURL, AdminURL and
// DirectURL. BouncerURL turns a direct connection string into one through
// PgBouncer, for tests that choose.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		pool := pgtest.NewPool(t)
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver pgtestdb connects with
	"github.com/peterldowns/pgtestdb"
	"github.com/peterldowns/pgtestdb/migrators/goosemigrator"

	"github.com/folio-dev/folio"
	"github.com/folio-dev/folio/internal/pgbouncer"
	"github.com/folio-dev/folio/internal/pgcodec"
	"github.com/folio-dev/folio/internal/pglocal"
)

// EnvURL names the environment variable that points the tests at an existing
// server instead of a throwaway one. Its user must be allowed to create
// roles and databases (a superuser is simplest).
const EnvURL = "TEST_DATABASE_URL"

// EnvBouncer names the environment variable that puts PgBouncer, in
// transaction pooling mode, between the tests and the server: "1" (or
// "true", "yes", "on") runs the pgbouncer found on $PATH or in /usr/sbin, a
// value holding a slash runs that program; empty, "0" (or "false", "no",
// "off") runs none. When it asks for PgBouncer and there is none, every
// test that wants a database fails.
const EnvBouncer = "TEST_PGBOUNCER"

// BouncerExecMode is the pgx query exec mode URL and NewPool ask for through
// PgBouncer: every statement is parsed unnamed, bound and executed in the
// same round trip, so nothing depends on the server connection a
// transaction gets. pgx's default (cache_statement) prepares named
// statements on one server connection and may use them on another.
const BouncerExecMode = "exec"

var (
	mainCalled bool

	startOnce sync.Once
	admin     pgtestdb.Config
	server    *pglocal.Server
	bouncer   *pgbouncer.Bouncer
	startErr  error
)

// Main runs the tests of a package and then stops the server they used, if
// it started one. Call it from TestMain; it does not return.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with work of its own to do afterwards: it
// returns the exit code instead of exiting.
func Run(m *testing.M) int {
	mainCalled = true
	code := m.Run()
	if bouncer != nil {
		// Before the server: PgBouncer's server connections would
		// otherwise see the server go away and log about it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := bouncer.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop pgbouncer: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
		_ = os.RemoveAll(bouncer.SocketDir())
	}
	if server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := server.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
	}
	return code
}

// Settings for the throwaway server: durability buys nothing for data that is
// deleted at the end, and many parallel tests each hold a few connections.
var serverSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "300",
}

func start(tb testing.TB) pgtestdb.Config {
	tb.Helper()
	if !mainCalled {
		tb.Fatal("pgtest: call pgtest.Main(m) from TestMain, so the server is stopped after the tests")
	}
	startOnce.Do(func() {
		var err error
		if admin, err = startServer(); err != nil {
			startErr = fmt.Errorf("no PostgreSQL for the tests: %w", err)
		} else if err = startBouncer(); err != nil {
			startErr = fmt.Errorf("no PgBouncer for the tests: %w", err)
		}
	})
	if startErr != nil {
		tb.Fatalf("pgtest: %v", startErr)
	}
	return admin
}

// startServer returns the administrative configuration of the server
// TEST_DATABASE_URL names, or of a throwaway one it starts.
func startServer() (pgtestdb.Config, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return configFromURL(u)
	}
	removeStaleServers()
	dir, err := os.MkdirTemp("", serverDirPrefix)
	if err != nil {
		return pgtestdb.Config{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server, err = pglocal.Start(ctx, pglocal.Options{
		DataDir:   dir,
		Settings:  serverSettings,
		Ephemeral: true,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return pgtestdb.Config{}, err
	}
	return configFromURL(server.URL("postgres"))
}

// serverDirPrefix names the data directories of the throwaway servers in
// the temporary directory.
const serverDirPrefix = "folio-test-"

// removeStaleServers removes the data directories that test binaries
// killed before they could stop their servers (a -timeout, a kill) left in
// the temporary directory. Their servers stopped with them; a directory
// whose server runs, or that changed in the last minutes, stays.
func removeStaleServers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), serverDirPrefix+"*"))
	for _, d := range dirs {
		// "dir.lock" alone: what a failed Start leaves.
		_, _ = pglocal.RemoveStale(strings.TrimSuffix(d, ".lock"), 5*time.Minute)
	}
}

// bouncerWanted reads EnvBouncer: whether to run PgBouncer, and the
// program if the variable names one.
func bouncerWanted() (want bool, binary string, err error) {
	v := strings.TrimSpace(os.Getenv(EnvBouncer))
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return false, "", nil
	case "1", "true", "yes", "on":
		return true, "", nil
	}
	if strings.Contains(v, "/") {
		return true, v, nil
	}
	return false, "", fmt.Errorf("%s=%q: want 1 (the pgbouncer on $PATH or in /usr/sbin), the path of a pgbouncer program, or 0", EnvBouncer, v)
}

// startBouncer starts PgBouncer in front of the admin server if
// EnvBouncer asks for it.
func startBouncer() error {
	want, binary, err := bouncerWanted()
	if err != nil || !want {
		return err
	}
	if binary == "" {
		if binary, err = pgbouncer.Find(); err != nil {
			return fmt.Errorf("%s is set: %w", EnvBouncer, err)
		}
	}
	host, port, err := serverAddr(admin)
	if err != nil {
		return err
	}
	// A short directory: PgBouncer's socket goes into it.
	parent := ""
	if len(os.TempDir()) > 40 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "folio-pgbouncer-")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bouncer, err = pgbouncer.Start(ctx, pgbouncer.Options{
		Dir:        dir,
		Binary:     binary,
		ServerHost: host,
		ServerPort: port,
		Users: map[string]string{
			admin.User:                   admin.Password,
			pgtestdb.DefaultRoleUsername: pgtestdb.DefaultRolePassword,
		},
		// Roles the tests create connect through PgBouncer too.
		AuthUser: admin.User,
	})
	if err != nil {
		// The directory holds pgbouncer.log, which the error quotes.
		return fmt.Errorf("%s is set: %w", EnvBouncer, err)
	}
	return nil
}

// serverAddr returns the host (or socket directory) and port of the server
// conf connects to.
func serverAddr(conf pgtestdb.Config) (string, int, error) {
	cc, err := pgconn.ParseConfig(conf.URL())
	if err != nil {
		return "", 0, err
	}
	return cc.Host, int(cc.Port), nil
}

// configFromURL splits a connection string into the fields pgtestdb wants,
// carrying everything else (a Unix socket directory, sslmode) in Options.
func configFromURL(raw string) (pgtestdb.Config, error) {
	cc, err := pgx.ParseConfig(raw)
	if err != nil {
		return pgtestdb.Config{}, fmt.Errorf("parse %s: %w", EnvURL, err)
	}
	opts := url.Values{}
	opts.Set("sslmode", "disable")
	host := cc.Host
	if strings.HasPrefix(host, "/") {
		// A socket directory cannot sit in the host part of a URL.
		opts.Set("host", host)
		host = ""
	}
	if cc.TLSConfig != nil {
		opts.Set("sslmode", "require")
	}
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       host,
		Port:       fmt.Sprint(cc.Port),
		User:       cc.User,
		Password:   cc.Password,
		Database:   cc.Database,
		Options:    opts.Encode(),
		// A test that fails after leaking a connection must not also wedge
		// the cleanup of its database.
		ForceTerminateConnections: true,
	}, nil
}

// URL returns the connection string of a new database with every migration
// applied, owned by a role that is neither superuser nor allowed to create
// databases. The database is dropped when the test ends, unless it failed.
//
// With PgBouncer (EnvBouncer) the connection string goes through it and
// sets default_query_exec_mode=exec (BouncerExecMode); the database is
// still created and migrated directly.
func URL(tb testing.TB) string {
	tb.Helper()
	direct := DirectURL(tb)
	if bouncer == nil {
		return direct
	}
	return withParam(tb, bouncerURL(tb, direct), "default_query_exec_mode", BouncerExecMode)
}

// DirectURL is URL straight to the server, with PgBouncer or without: for
// tests that need a session of their own (session advisory locks,
// prepared statements, SET, LISTEN), that find their backends in
// pg_stat_activity, or that put something of their own in front of the
// server.
func DirectURL(tb testing.TB) string {
	tb.Helper()
	conf := start(tb)
	return pgtestdb.Custom(tb, conf, migrator()).URL()
}

// BouncerURL returns dsn, a connection string for a database of the
// server pgtest runs (from DirectURL, say), through PgBouncer, and true;
// or dsn unchanged and false when PgBouncer is not in use. Unlike URL it
// leaves pgx's query exec mode as dsn has it.
func BouncerURL(tb testing.TB, dsn string) (string, bool) {
	tb.Helper()
	start(tb)
	if bouncer == nil {
		return dsn, false
	}
	return bouncerURL(tb, dsn), true
}

// UsingBouncer reports whether the tests' connections go through PgBouncer
// (EnvBouncer is set and it runs). It starts the server and PgBouncer if
// no test has yet.
func UsingBouncer(tb testing.TB) bool {
	tb.Helper()
	start(tb)
	return bouncer != nil
}

// SkipIfBouncer skips the test, saying why, when the tests' connections
// go through PgBouncer: for a test that cannot work through transaction
// pooling even with a direct connection of its own (DirectURL).
func SkipIfBouncer(tb testing.TB, why string) {
	tb.Helper()
	if UsingBouncer(tb) {
		tb.Skipf("pgtest: not through PgBouncer in transaction pooling (%s is set): %s", EnvBouncer, why)
	}
}

// SkipIfBouncerOlder skips the test, saying why, when the tests'
// connections go through a PgBouncer older than version ("1.19.1"): for a
// test that meets a bug of older PgBouncers.
func SkipIfBouncerOlder(tb testing.TB, version, why string) {
	tb.Helper()
	if UsingBouncer(tb) && !bouncer.AtLeast(version) {
		tb.Skipf("pgtest: not through %s, older than %s (%s is set): %s", bouncer.Version(), version, EnvBouncer, why)
	}
}

// BouncerVersion returns the running PgBouncer's version ("PgBouncer
// 1.18.0"), or "" without PgBouncer.
func BouncerVersion(tb testing.TB) string {
	tb.Helper()
	start(tb)
	if bouncer == nil {
		return ""
	}
	return bouncer.Version()
}

// bouncerURL rewrites dsn to reach the same database, as the same user,
// through PgBouncer, keeping its run-time parameters.
func bouncerURL(tb testing.TB, dsn string) string {
	tb.Helper()
	cc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	u := bouncer.URL(cc.User, cc.Password, cc.Database)
	for _, k := range slices.Sorted(maps.Keys(cc.RuntimeParams)) {
		u = withParam(tb, u, k, cc.RuntimeParams[k])
	}
	return u
}

// withParam sets a query parameter of a connection URL.
func withParam(tb testing.TB, dsn, key, value string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// EmptyURL is URL without the migrations: for tests of migrating itself.
// It always connects directly: goose holds a session advisory lock.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	conf := start(tb)
	return pgtestdb.Custom(tb, conf, pgtestdb.NoopMigrator{}).URL()
}

// AdminURL returns a connection string for the server's administrative
// (super)user, connected to the database named db. Tests that create roles or
// terminate other sessions use it; it is not a database of their own. It
// always connects directly, never through PgBouncer.
func AdminURL(tb testing.TB, db string) string {
	tb.Helper()
	conf := start(tb)
	conf.Database = db
	return conf.URL()
}

// AppRoleURL returns dsn (a URL of this package's) for a new login role
// set up as the README's least-privilege app role: it may read and write
// the rows of every table in the public schema, read goose_db_version, and
// change nothing else. extra statements run after the grants, with {role}
// standing for the role's name. The role is dropped when the test ends.
func AppRoleURL(tb testing.TB, dsn string, extra ...string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := pgx.Identifier{"folio_app_" + hex.EncodeToString(b)}.Sanitize()
	stmts := append([]string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT CONNECT ON DATABASE " + pgx.Identifier{db}.Sanitize() + " TO " + role,
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
		"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON goose_db_version FROM " + role,
	}, extra...)
	exec := func(sqls ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL(tb, db))
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		for _, sql := range sqls {
			if _, err := c.Exec(ctx, strings.ReplaceAll(sql, "{role}", role)); err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
		}
		return nil
	}
	tb.Cleanup(func() { _ = exec("DROP OWNED BY "+role, "DROP ROLE "+role) })
	if err := exec(stmts...); err != nil {
		tb.Fatalf("pgtest: app role: %v", err)
	}
	u.User = url.User(strings.Trim(role, `"`))
	return u.String()
}

func migrator() pgtestdb.Migrator {
	return goosemigrator.New(".", goosemigrator.WithFS(folio.Migrations))
}

// NewPool opens a pool on URL(tb) (through PgBouncer, if in use) with the
// decimal codec registered, after passing its config to each configure
// function. The pool is closed when the test ends.
func NewPool(tb testing.TB, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	return OpenPool(tb, URL(tb), configure...)
}

// OpenPool opens a pool on dsn, like NewPool.
func OpenPool(tb testing.TB, dsn string, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgcodec.Register(c.TypeMap())
		return nil
	}
	for _, f := range configure {
		f(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
