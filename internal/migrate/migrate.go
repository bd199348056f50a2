// Package migrate applies folio's schema migrations with goose.
//
// The migrations are the embedded sql/schema files (folio.Migrations), the
// same files the stock goose CLI runs, so an operator may use either. Every
// operation but Version holds goose's PostgreSQL session advisory lock while
// it reads or changes the schema, so two processes migrating one database at
// once take turns instead of racing: the second finds the work done. (The
// stock CLI takes no lock.) The session lock needs a real session, so run
// migrations on a direct connection, not through PgBouncer in transaction
// pooling.
package migrate

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/folio-dev/folio"
)

// Result is what one migration did.
type Result = goose.MigrationResult

// Status is the state of one migration in the database.
type Status = goose.MigrationStatus

// ErrNoChange is returned by Down and Redo when no migration is applied.
var ErrNoChange = errors.New("no migration is applied")

// ErrUnknownVersion is returned by UpTo and DownTo for a version that no
// migration file has.
var ErrUnknownVersion = errors.New("unknown migration version")

// ErrNewerSchema is returned by Down, DownTo and Redo when the database
// has a migration applied that no migration file has: a newer folio
// migrated it, and only its files can roll that back.
var ErrNewerSchema = errors.New("the schema is newer than the migration files")

// Migrator runs migrations against one database.
type Migrator struct {
	pool     *pgxpool.Pool
	db       *sql.DB
	provider *goose.Provider
	fsys     fs.FS
}

// Option configures a Migrator.
type Option func(*config)

type config struct {
	fsys   fs.FS
	logger *slog.Logger
	// Seconds between attempts to take the advisory lock, and attempts.
	lockPeriod, lockAttempts uint64
}

// WithFS uses migrations from fsys (at its root) instead of the embedded
// ones. Tests use it to run a broken migration.
func WithFS(fsys fs.FS) Option { return func(c *config) { c.fsys = fsys } }

// WithLogger logs each applied migration at info level.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New returns a Migrator over pool. It fails if the migration files cannot
// be read or the advisory lock cannot be set up. Close releases it; the pool
// stays open.
func New(pool *pgxpool.Pool, opts ...Option) (*Migrator, error) {
	// Poll for the lock every second for up to five minutes: a concurrent
	// migration of this schema takes well under that.
	cfg := config{fsys: folio.Migrations, lockPeriod: 1, lockAttempts: 300}
	for _, o := range opts {
		o(&cfg)
	}
	locker, err := newSessionLocker(lock.WithLockTimeout(cfg.lockPeriod, cfg.lockAttempts))
	if err != nil {
		return nil, fmt.Errorf("migrate: advisory lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	popts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	}
	if cfg.logger != nil {
		popts = append(popts, goose.WithSlog(cfg.logger), goose.WithVerbose(true))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, cfg.fsys, popts...)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return &Migrator{pool: pool, db: db, provider: p, fsys: cfg.fsys}, nil
}

// Close releases the Migrator's handle on the pool.
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration, each in its own transaction. It
// returns what it applied (nothing when the schema is current). A failing
// migration leaves the schema at the last one that succeeded; the error
// names the file, and the results are those applied before it. (A
// migration marked -- +goose NO TRANSACTION runs outside one: what it did
// before the failing statement stays, and the error says so.)
func (m *Migrator) Up(ctx context.Context) ([]*Result, error) {
	res, err := m.provider.Up(ctx)
	return applied(res, err), m.wrap("up", err)
}

// UpTo applies the pending migrations up to and including version, which
// must be the version of a migration file (ErrUnknownVersion otherwise):
// a mistyped target applies nothing rather than everything. It returns what
// it applied, nothing when the schema is already at or past version.
func (m *Migrator) UpTo(ctx context.Context, version int64) ([]*Result, error) {
	if version == 0 || !m.known(version) {
		return nil, m.unknown("up", version)
	}
	res, err := m.provider.UpTo(ctx, version)
	return applied(res, err), m.wrap("up", err)
}

// Down rolls back the most recent migration. ErrNoChange: none is applied.
func (m *Migrator) Down(ctx context.Context) (*Result, error) { return m.down(ctx, "down") }

// down is Down, its errors named as op's.
func (m *Migrator) down(ctx context.Context, op string) (*Result, error) {
	if fresh, err := Untouched(ctx, m.pool); err != nil || fresh {
		// Nothing to roll back, and goose would create its table first.
		return nil, cmp.Or(m.wrap(op, err), ErrNoChange)
	}
	if err := m.notNewer(ctx, op); err != nil {
		return nil, err
	}
	res, err := m.provider.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil, ErrNoChange
	}
	return res, m.wrap(op, err)
}

// DownTo rolls back every migration above version: 0 (all of them) or the
// version of a migration file (ErrUnknownVersion otherwise). When one
// fails, it returns those rolled back before it with the error.
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]*Result, error) {
	if version != 0 && !m.known(version) {
		return nil, m.unknown("down", version)
	}
	return m.downTo(ctx, version, "down")
}

// downTo is DownTo for a known version, its errors named as op's.
func (m *Migrator) downTo(ctx context.Context, version int64, op string) ([]*Result, error) {
	if fresh, err := Untouched(ctx, m.pool); err != nil || fresh {
		return nil, m.wrap(op, err)
	}
	if err := m.notNewer(ctx, op); err != nil {
		return nil, err
	}
	res, err := m.provider.DownTo(ctx, version)
	return applied(res, err), m.wrap(op, err)
}

// Redo rolls back the most recent migration and applies it again.
// ErrNoChange: none is applied.
func (m *Migrator) Redo(ctx context.Context) ([]*Result, error) {
	down, err := m.down(ctx, "redo")
	if err != nil {
		return nil, err
	}
	up, err := m.provider.UpByOne(ctx)
	if err != nil {
		return []*Result{down}, m.wrap("redo", err)
	}
	return []*Result{down, up}, nil
}

// Reset rolls back every applied migration.
func (m *Migrator) Reset(ctx context.Context) ([]*Result, error) {
	return m.downTo(ctx, 0, "reset")
}

// Status reports every known migration and whether it is applied. Like
// Version, it creates nothing on a database goose has never touched.
func (m *Migrator) Status(ctx context.Context) ([]*Status, error) {
	fresh, err := Untouched(ctx, m.pool)
	if err != nil {
		return nil, m.wrap("status", err)
	}
	if fresh {
		srcs := m.provider.ListSources()
		st := make([]*Status, len(srcs))
		for i, src := range srcs {
			st[i] = &Status{Source: src, State: goose.StatePending}
		}
		return st, nil
	}
	st, err := m.provider.Status(ctx)
	return st, m.wrap("status", err)
}

// Version returns the version the database is at (0: nothing applied) and
// the newest version the migration files know. It only reads: on a
// database goose has never touched, it creates nothing.
func (m *Migrator) Version(ctx context.Context) (current, latest int64, err error) {
	current, err = SchemaVersion(ctx, m.pool)
	if err != nil {
		return 0, 0, m.wrap("version", err)
	}
	if srcs := m.provider.ListSources(); len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

// SchemaVersion returns the version of the newest migration applied to the
// database pool connects to: 0 when there is none, or when goose's table
// does not exist. It only reads, so it suits a role that may not migrate
// (it needs SELECT on goose_db_version).
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	// goose deletes a migration's row when it rolls it back, whether
	// through its Provider or its CLI.
	var v int64
	err := pool.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM "+versionTable+" WHERE is_applied").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return v, err
}

// Untouched reports whether goose has never run on the database pool
// connects to: its table does not exist. (After a reset it does, with no
// migration applied.)
func Untouched(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var exists bool
	err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", versionTable).Scan(&exists)
	return !exists, err
}

// versionTable is where goose records the applied migrations.
const versionTable = "goose_db_version"

// notNewer returns an error wrapping ErrNewerSchema when the database is
// at a version above the newest migration file. goose would say only
// "version not found" when asked to roll back from there.
func (m *Migrator) notNewer(ctx context.Context, op string) error {
	cur, latest, err := m.Version(ctx)
	if err != nil {
		return m.wrap(op, err)
	}
	if cur > latest {
		// No "migrate down:" in front: redo, reset and down-to refuse
		// with this too.
		return fmt.Errorf("cannot roll back: %w: the database is at version %d, and the newest migration here is %d; roll back with the folio (or the migration files) that applied %d",
			ErrNewerSchema, cur, latest, cur)
	}
	return nil
}

// known reports whether a migration file has version.
func (m *Migrator) known(version int64) bool {
	for _, src := range m.provider.ListSources() {
		if src.Version == version {
			return true
		}
	}
	return false
}

// unknown is the error for a target version no file has, with the
// versions there are.
func (m *Migrator) unknown(op string, version int64) error {
	srcs := m.provider.ListSources()
	there := "there are no migrations"
	if len(srcs) > 0 {
		there = fmt.Sprintf("the versions run from %d to %d", srcs[0].Version, srcs[len(srcs)-1].Version)
		if op == "down" {
			there += ", and 0 rolls back all of them"
		}
	}
	return fmt.Errorf("migrate %s: %w %d: %s", op, ErrUnknownVersion, version, there)
}

// applied returns what goose did: on a failure in the middle of a run,
// goose returns no results but keeps those that succeeded before in the
// error.
func applied(res []*Result, err error) []*Result {
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		return partial.Applied
	}
	return res
}

func (m *Migrator) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var partial *goose.PartialError
	if errors.As(err, &partial) && partial.Failed != nil && partial.Failed.Source != nil {
		// Each migration runs in a transaction of its own: the failed one is
		// rolled back, those before it stay done. Not so one that opts out
		// of the transaction (CREATE INDEX CONCURRENTLY needs to): what it
		// ran before the failing statement stays.
		path := partial.Failed.Source.Path
		left := "schema left at the migration before it"
		if partial.Failed.Direction == "down" {
			left = "it is still applied"
		}
		if m.outsideTx(path) {
			left += ", but it runs outside a transaction (-- +goose NO TRANSACTION), " +
				"so its statements before the failing one stay done: undo them by hand before running it again"
		}
		return fmt.Errorf("migrate %s: %s failed, %s: %w%s", op, path, left, partial.Err, ownerHint(partial.Err))
	}
	return fmt.Errorf("migrate %s: %w%s", op, err, ownerHint(err))
}

// ownerHint is what to do about a migration refused for want of a
// privilege: a role that may read and write rows only (see the README)
// may neither change the schema nor read goose's table. Creating pg_trgm
// (00004) is the exception: the schema's owner may be refused it too.
func ownerHint(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
		return ""
	}
	if strings.HasPrefix(pgErr.Message, "permission denied to create extension") {
		return " (the migrating role needs CREATE on the database, or a superuser must create the extension first)"
	}
	return " (migrations run as the role that owns the schema; this one may not)"
}

// outsideTx reports whether the SQL migration at path carries goose's
// "-- +goose NO TRANSACTION" annotation, spelled any way goose reads it:
// in any case, with or without spaces around "+goose". (goose's Source
// does not say.)
func (m *Migrator) outsideTx(path string) bool {
	b, err := fs.ReadFile(m.fsys, path)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") || !strings.Contains(line, "+goose") {
			continue
		}
		cmd := strings.Replace(strings.ReplaceAll(line, "--", ""), "+goose", "", 1)
		if strings.EqualFold(strings.TrimSpace(cmd), "NO TRANSACTION") {
			return true
		}
	}
	return false
}

// sessionLocker is goose's PostgreSQL session locker, made anew for every
// lock and unlock. goose's own keeps a single retry budget for its whole
// life: once a Migrator had waited for the lock lockAttempts times in all,
// over any number of operations, every later wait would give up at the
// first poll that found the lock taken.
type sessionLocker struct {
	opts []lock.SessionLockerOption
}

func newSessionLocker(opts ...lock.SessionLockerOption) (*sessionLocker, error) {
	// Refuse bad options now rather than at the first lock.
	if _, err := lock.NewPostgresSessionLocker(opts...); err != nil {
		return nil, err
	}
	return &sessionLocker{opts: opts}, nil
}

func (l *sessionLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	gl, err := lock.NewPostgresSessionLocker(l.opts...)
	if err != nil {
		return err
	}
	return gl.SessionLock(ctx, conn)
}

func (l *sessionLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	gl, err := lock.NewPostgresSessionLocker(l.opts...)
	if err != nil {
		return err
	}
	return gl.SessionUnlock(ctx, conn)
}
