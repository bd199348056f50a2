package main

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/folio-dev/folio/internal/migrate"
	"github.com/folio-dev/folio/internal/pglocal"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// defaultDataDir is where the embedded default keeps its cluster, relative
// to the working directory; .gitignore lists it.
const defaultDataDir = ".folio"

// connString returns the connection string the user gave, --database-url
// or else $DATABASE_URL, without the white space around it (a value copied
// with a line break, or quoted with spaces), or "" for the embedded
// default. A value of nothing but white space is refused: it is a setting
// gone wrong, and pgx would read it as a connection string that names
// nothing and so connect with libpq's defaults, maybe to another database.
// (An empty DATABASE_URL counts as unset, as it does for most programs; an
// empty --database-url is refused earlier, with the other empty flags.)
func (e *env) connString() (string, error) {
	url, err := e.setting(e.g.databaseURL, "database-url", "DATABASE_URL", "give a connection string, or unset it for the embedded default")
	return strings.TrimSpace(url), err
}

// setting returns the value of the flag named flag, given as value, or
// when the flag is not given, of the environment variable env, "" for
// neither. A value of white space alone is refused, naming where it came
// from (unset telling what to do about the variable): a setting gone
// wrong, never a value meant.
func (e *env) setting(value, flag, env, unset string) (string, error) {
	if value != "" {
		if strings.TrimSpace(value) == "" {
			return "", &configError{"--" + flag + " must not be blank: " + emptyValues[flag].hint}
		}
		return value, nil
	}
	v := e.getenv(env)
	if v != "" && strings.TrimSpace(v) == "" {
		return "", &configError{env + " holds only white space: " + unset}
	}
	return v, nil
}

// embeddedDB is the name of the database folio uses in the embedded
// default's cluster.
const embeddedDB = "folio"

// connect opens the process's one pool: on DATABASE_URL (or
// --database-url) when set, otherwise on the embedded default, a PostgreSQL
// started from the server binaries on this machine. With needsSchema, it
// migrates the embedded default, and checks that another database's schema
// is at this build's version. It fills e.pool, e.runner and e.svc and
// returns what closes them (and stops an embedded server this process
// started).
func (e *env) connect(needsSchema bool) (func(), error) {
	url, err := e.connString()
	if err != nil {
		return nil, err
	}
	var srv *pglocal.Server
	if url == "" {
		var err error
		if srv, url, err = e.startEmbedded(); err != nil {
			return nil, err
		}
	}
	stop := func() {
		if srv != nil {
			// A server others still use is stopped once they are done,
			// or when pglocal's grace for them (10 s) runs out, or at a
			// second Ctrl-C: the last two cut them off.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
			defer cancel()
			if hurry := hurryOf(e.ctx); hurry != nil {
				go func() {
					select {
					case <-hurry:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			if err := srv.Stop(ctx); err != nil {
				e.logger.Warn("could not stop the embedded PostgreSQL cleanly", "error", err)
			}
		}
	}
	pool, err := e.openPool(url)
	if err != nil {
		stop()
		return nil, err
	}
	closeAll := func() { pool.Close(); stop() }
	if needsSchema {
		check := e.checkSchema
		if srv != nil {
			check = func(pool *pgxpool.Pool) error {
				fresh, err := migrate.Untouched(e.ctx, pool)
				if err != nil {
					return err
				}
				applied, err := migrateUp(e.ctx, pool)
				if !fresh {
					// Not the database's first migration: after a
					// migrate down or reset, or an upgrade of folio,
					// say what changed in it.
					noteApplied(e, applied)
				}
				return err
			}
		}
		if err := check(pool); err != nil {
			closeAll()
			return nil, err
		}
	}
	r, err := uow.NewRunner(pool, uow.WithLogger(e.logger))
	if err != nil {
		closeAll()
		return nil, err
	}
	e.pool, e.runner, e.svc, e.embedded = pool, r, tracker.New(r), srv
	return closeAll, nil
}

// noTables is what a command says on a database folio has not migrated.
const noTables = "the database has no folio tables yet: run 'folio migrate up' first"

// errSchemaBehind: the database's schema is older than this build's.
var errSchemaBehind = errors.New("the schema is behind")

// checkSchema refuses a database whose schema is older than the migrations
// this build embeds, before a command fails halfway on a missing table or
// column; folio never migrates a database it did not start. A newer schema
// is accepted: a migration that keeps older builds working is the usual
// way to deploy one. A role that may not read goose_db_version skips the
// check.
func (e *env) checkSchema(pool *pgxpool.Pool) error {
	m, err := migrate.New(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	current, latest, err := m.Version(e.ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		e.logger.Debug("schema version not checked", "error", pgErr.Message)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	e.logger.Debug("schema", "version", current, "latest", latest)
	switch {
	case current == 0:
		return reword(noTables, errSchemaBehind)
	case current < latest:
		return reword(fmt.Sprintf("the database's schema is at version %d, and this folio needs version %d: run 'folio migrate up' first",
			current, latest), errSchemaBehind)
	}
	return nil
}

// openPool builds the pool from a connection string, which it never prints:
// pgx's own parse errors blank the password, and the log names only host,
// port, database and user.
func (e *env) openPool(url string) (*pgxpool.Pool, error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	return e.openPoolConfig(cfg)
}

// parseConfig is pgxpool.ParseConfig with errors a user can act on, which
// never show the string (it may hold a password).
func parseConfig(url string) (*pgxpool.Config, error) {
	if u, err := neturl.Parse(url); err == nil && u.Scheme != "" && u.Scheme != "postgres" && u.Scheme != "postgresql" {
		// pgx would say only that it is not key=value pairs. (A
		// key=value string has no scheme: "=" comes before any ":".)
		return nil, &configError{fmt.Sprintf("invalid database URL: the scheme is %s, and folio works with PostgreSQL only; %s",
			u.Scheme, urlForm)}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, parseURLError(err)
	}
	return cfg, nil
}

// openPoolConfig is openPool for a parsed configuration.
func (e *env) openPoolConfig(cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	uow.ConfigurePool(cfg)
	cc := cfg.ConnConfig
	e.logger.Debug("database", "host", cc.Host, "port", cc.Port, "database", cc.Database, "user", cc.User,
		"exec_mode", cc.DefaultQueryExecMode.String())
	pool, err := pgxpool.NewWithConfig(e.ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(e.ctx); err != nil {
		pool.Close()
		return nil, &connectError{host: cc.Host, port: cc.Port, database: cc.Database, user: cc.User, err: err}
	}
	return pool, nil
}

// connectError says which server could not be reached, without the URL.
type connectError struct {
	host, database, user string
	port                 uint16
	err                  error
}

func (c *connectError) Error() string {
	db := c.database
	if db == "" {
		// What the server does with a connection that names no database.
		db = c.user
	}
	return fmt.Sprintf("cannot connect to PostgreSQL (host %s, port %d, database %q, user %q): %s",
		c.host, c.port, db, c.user, connectCause(c.err))
}

// connectCause says why pgx could not connect, from the errors of the
// attempts it made. pgx tries a server twice when sslmode is prefer (the
// default): with TLS, then without; a server without TLS refuses the first,
// and that refusal, expected, would only hide the reason the second
// failed. When every attempt went to the one server connectError names,
// the address each attempt begins with is left out too.
func connectCause(err error) string {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) || ce.Config == nil {
		return err.Error()
	}
	inner := errors.Unwrap(ce)
	if inner == nil {
		return err.Error()
	}
	attempts := []error{inner}
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		attempts = j.Unwrap()
	}
	oneServer := true
	for _, fb := range ce.Config.Fallbacks {
		oneServer = oneServer && fb.Host == ce.Config.Host && fb.Port == ce.Config.Port
	}
	var causes []string
	for _, a := range attempts {
		msg := a.Error()
		if len(attempts) > 1 && strings.Contains(msg, "server refused TLS connection") {
			continue
		}
		// pgx's per-attempt error is "address (host name): cause".
		if u := errors.Unwrap(a); oneServer && u != nil && strings.HasSuffix(msg, "): "+u.Error()) {
			msg = u.Error()
		}
		if !slices.Contains(causes, msg) {
			causes = append(causes, msg)
		}
	}
	if len(causes) == 0 {
		return err.Error()
	}
	return strings.Join(causes, "; ")
}

func (c *connectError) Unwrap() error { return c.err }

// startEmbedded starts (or joins) the embedded default and makes sure its
// folio database exists.
func (e *env) startEmbedded() (*pglocal.Server, string, error) {
	// Not trimmed: a path may begin or end with a space. (A directory
	// named " " is legal too, and never meant: refused.)
	dir, err := e.setting(e.g.dataDir, "data-dir", "FOLIO_DATA_DIR", "give a directory, or unset it for ./.folio")
	if err != nil {
		return nil, "", err
	}
	if dir == "" {
		dir = defaultDataDir
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		// The cluster's own directory, pgdata, given for the one that
		// holds it: starting there would create a second cluster inside
		// the first.
		hint := ""
		if clean := filepath.Clean(dir); filepath.Base(clean) == "pgdata" {
			hint = " (here " + shownPath(filepath.Dir(clean)) + ")"
		}
		return nil, "", &configError{fmt.Sprintf("%s is a PostgreSQL data directory itself: give folio's data directory, "+
			"which holds its cluster in pgdata%s", shownPath(dir), hint)}
	}
	srv, err := pglocal.Start(e.ctx, pglocal.Options{
		DataDir: filepath.Join(dir, "pgdata"),
		Logger:  e.logger,
		Own:     e.long,
	})
	if err != nil {
		if errors.Is(err, pglocal.ErrNoServer) {
			return nil, "", err
		}
		if errors.Is(err, pglocal.ErrNotUsable) {
			// Its message says what to do about the directory.
			return nil, "", fmt.Errorf("start the embedded PostgreSQL: %w", err)
		}
		return nil, "", fmt.Errorf("start the embedded PostgreSQL (set DATABASE_URL to use another server): %w", err)
	}
	if err := ensureDatabase(e.ctx, srv.URL("postgres"), embeddedDB); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
		defer cancel()
		_ = srv.Stop(stopCtx)
		return nil, "", err
	}
	if srv.Created() {
		// The first use of a data directory, or a mistyped --data-dir
		// (or the right one, relative, from another directory): either
		// way, the person at the terminal should know. Elsewhere it is
		// said only should the command then find nothing (see fail).
		e.created = srv.DataDir()
		if e.tty {
			fmt.Fprintf(e.stderr, "folio: created a new database cluster in %s\n", srv.DataDir())
		}
	}
	e.logger.Debug("embedded PostgreSQL", "data_dir", srv.DataDir(), "socket_dir", srv.SocketDir(), "started_here", srv.Owned())
	return srv, srv.URL(embeddedDB), nil
}

// ensureDatabase creates database name on the server unless it exists; a
// concurrent creation by another invocation is fine.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to the embedded PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select from pg_database where datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	// duplicate_database, or, when the other creation is still in flight,
	// unique_violation on pg_database's name index.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil
	}
	return err
}

// migrateUp brings the schema up to date; concurrent invocations take turns
// under goose's advisory lock.
func migrateUp(ctx context.Context, pool *pgxpool.Pool) ([]*migrate.Result, error) {
	m, err := migrate.New(pool)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Up(ctx)
}

// noteApplied says which migrations a command applied to the embedded
// default before its work.
func noteApplied(e *env, applied []*migrate.Result) {
	switch n := len(applied); n {
	case 0:
	case 1:
		fmt.Fprintf(e.stderr, "folio: note: applied 1 pending migration to the embedded database: %s\n",
			filepath.Base(applied[0].Source.Path))
	default:
		fmt.Fprintf(e.stderr, "folio: note: applied %d pending migrations to the embedded database: %s to %s\n",
			n, filepath.Base(applied[0].Source.Path), filepath.Base(applied[n-1].Source.Path))
	}
}

// parseURLError describes why a connection string does not parse without
// quoting it: pgx masks passwords in its own message only on a best-effort
// basis. pgx's reason ("invalid port") and its cause (an unknown setting, a
// bad escape) name no password; TestSecretsStaySecret holds it to that.
const urlForm = "use postgres://user:password@host:port/database?setting=value or key=value pairs"

func parseURLError(err error) error {
	reason := ""
	var perr *pgconn.ParseConfigError
	if errors.As(err, &perr) {
		// pgx's message is "cannot parse `<the string>`: <reason>" and
		// then " (<cause>)" when there is one: without the string, the
		// rest is what went wrong.
		bare := *perr
		bare.ConnString = ""
		reason = strings.TrimPrefix(bare.Error(), "cannot parse ``: ")
		// A number that does not parse: strconv's words name Go's
		// function ("strconv.ParseInt: parsing ..."), not the problem.
		var num *strconv.NumError
		if errors.As(err, &num) {
			why := "is not a whole number"
			if errors.Is(num.Err, strconv.ErrRange) {
				why = "is out of range"
			}
			reason = strings.Replace(reason, "("+num.Error()+")", fmt.Sprintf("(%q %s)", num.Num, why), 1)
		}
		reason += "; "
	}
	return &configError{fmt.Sprintf("invalid database URL: %s%s", reason, urlForm)}
}

// errInvalidConfig is the sentinel of a configuration the user must fix
// (exit code 2); configError carries the message.
var errInvalidConfig = errors.New("invalid configuration")

type configError struct{ msg string }

func (e *configError) Error() string        { return e.msg }
func (e *configError) Is(target error) bool { return target == errInvalidConfig }
