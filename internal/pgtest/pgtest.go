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
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		pool := pgtest.NewPool(t)
//		...
//	}
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver pgtestdb connects with
	"github.com/peterldowns/pgtestdb"
	"github.com/peterldowns/pgtestdb/migrators/goosemigrator"

	"github.com/folio-dev/folio"
	"github.com/folio-dev/folio/internal/pglocal"
)

// EnvURL names the environment variable that points the tests at an existing
// server instead of a throwaway one. Its user must be allowed to create
// roles and databases (a superuser is simplest).
const EnvURL = "TEST_DATABASE_URL"

var (
	mainCalled bool

	startOnce sync.Once
	admin     pgtestdb.Config
	server    *pglocal.Server
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
		if u := os.Getenv(EnvURL); u != "" {
			admin, startErr = configFromURL(u)
			return
		}
		dir, err := os.MkdirTemp("", "folio-test-")
		if err != nil {
			startErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		server, startErr = pglocal.Start(ctx, pglocal.Options{
			DataDir:   dir,
			Settings:  serverSettings,
			Ephemeral: true,
		})
		if startErr != nil {
			_ = os.RemoveAll(dir)
			return
		}
		admin, startErr = configFromURL(server.URL("postgres"))
	})
	if startErr != nil {
		tb.Fatalf("pgtest: no PostgreSQL for the tests: %v", startErr)
	}
	return admin
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
func URL(tb testing.TB) string {
	tb.Helper()
	conf := start(tb)
	return pgtestdb.Custom(tb, conf, migrator()).URL()
}

// EmptyURL is URL without the migrations: for tests of migrating itself.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	conf := start(tb)
	return pgtestdb.Custom(tb, conf, pgtestdb.NoopMigrator{}).URL()
}

// AdminURL returns a connection string for the server's administrative
// (super)user, connected to the database named db. Tests that create roles or
// terminate other sessions use it; it is not a database of their own.
func AdminURL(tb testing.TB, db string) string {
	tb.Helper()
	conf := start(tb)
	conf.Database = db
	return conf.URL()
}

func migrator() pgtestdb.Migrator {
	return goosemigrator.New(".", goosemigrator.WithFS(folio.Migrations))
}

// NewPool opens a pool on URL(tb) with the decimal codec registered, after
// passing its config to each configure function. The pool is closed when the
// test ends.
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
		pgxdecimal.Register(c.TypeMap())
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
