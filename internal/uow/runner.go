package uow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/folio-dev/folio/internal/domain"
)

// Runner runs units of work. It is safe for concurrent use; each call of Do
// or Read gets a Unit of its own.
type Runner struct {
	src source
	cfg config
}

type config struct {
	attempts  int
	baseDelay time.Duration
	maxDelay  time.Duration
	isolation pgx.TxIsoLevel
	clock     func() time.Time
	logger    *slog.Logger
	bulk      int
	report    *Report
	snapshot  bool
}

// Option configures a Runner; the same options given to Do or Read apply to
// that call only.
type Option func(*config)

// WithAttempts bounds how many times a unit runs when it keeps hitting
// serialization failures, deadlocks, version conflicts or sessions the
// server ended before the commit (see Runner.Do) (default 5; 1 disables
// retries).
func WithAttempts(n int) Option { return func(c *config) { c.attempts = max(n, 1) } }

// WithBackoff sets the bound of the delay before the first retry and the cap
// of the bounds; each retry waits a random time up to its bound, twice the
// previous one ("full jitter"), so that colliding units spread out
// (defaults 2ms and 200ms).
func WithBackoff(base, limit time.Duration) Option {
	return func(c *config) { c.baseDelay, c.maxDelay = base, limit }
}

// WithIsolation sets the isolation level of the transactions (default
// pgx.RepeatableRead: a unit sees one snapshot, so an aggregate loaded in two
// statements is never a mix of two commits). Under pgx.ReadCommitted each
// statement sees the latest commits, so the portfolio row and its lots may
// come from different commits (TestLoadReadsOneSnapshot makes it happen); writes stay
// safe, as the version check then fails and the unit is retried (a
// security, which has no version, is checked on the columns it writes),
// but a read-only unit can see such a mix. Portfolios.List, and GetByName
// without ForUpdate, then take two round trips instead of one, loading the
// lots by the ids found. A
// Revalue of securities the unit does not hold is a blind write, at any
// level: the last one wins. Ignored by a runner made with
// NewConnRunner, whose units are savepoints.
func WithIsolation(level pgx.TxIsoLevel) Option { return func(c *config) { c.isolation = level } }

// WithClock replaces time.Now as the source of Unit.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithLogger logs every unit's statements, round trips and retries at debug
// level, and each statement with its duration.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithBulkThreshold sets how many rows of one kind a flush writes with one
// statement each before it switches to a single array statement for all of
// them (default 8): lots inserted, lot quantities changed, prices of loaded
// securities changed and, in a flush without renames or deletes, version
// bumps. Removed lots are always one statement; other writes, one per row.
func WithBulkThreshold(n int) Option { return func(c *config) { c.bulk = max(n, 1) } }

// WithSnapshot makes a Read unit one transaction from its first round trip
// to its last, so that everything it loads, in any number of round trips,
// comes from one snapshot. It costs one more round trip, for the COMMIT at
// the end. Without it, each round trip of a Read unit is a transaction of
// its own (see Runner.Read). Under WithIsolation(pgx.ReadCommitted), whose
// statements each read the latest commits, such a unit runs at REPEATABLE
// READ, which a read-only transaction can do without serialization
// failures. No effect on Do.
func WithSnapshot() Option { return func(c *config) { c.snapshot = true } }

// WithReport fills *r with what the call did once Do or Read returns: for a
// call, not a Runner.
func WithReport(r *Report) Option { return func(c *config) { c.report = r } }

// ErrNotInstrumented is returned by NewRunner for a pool whose configuration
// did not pass through ConfigurePool.
var ErrNotInstrumented = errors.New("uow: pool not configured with uow.ConfigurePool")

// NewRunner returns a Runner whose units each take a connection from pool
// for the length of one transaction. The pool must have been configured
// with ConfigurePool, or NewRunner returns ErrNotInstrumented.
func NewRunner(pool *pgxpool.Pool, opts ...Option) (*Runner, error) {
	if !hasTracer(pool.Config().ConnConfig.Tracer) {
		return nil, ErrNotInstrumented
	}
	return newRunner(poolSource{pool}, opts), nil
}

// NewConnRunner returns a Runner whose units all run, one at a time, on conn,
// inside the transaction conn already has open: each unit is a savepoint,
// released on success and rolled back on failure, so that rolling back the
// outer transaction undoes everything. It is meant for tests (see package
// uowtest). The caller keeps ownership of conn; its configuration must have
// passed through ConfigureConn.
//
// A unit waits for the one before it to end, or for its ctx. A unit that
// fn starts with this Runner's Do or Read (on fn's ctx), rather than as a
// nested unit with Unit.Do, would wait for itself: Do and Read return
// ErrSameConn instead, without running fn.
//
// Once conn is closed (the server ended the session), units fail at once,
// without the retries a pool's runner makes on another connection: the
// enclosing transaction, and what the units before saved in it, is gone.
func NewConnRunner(conn *pgx.Conn, opts ...Option) (*Runner, error) {
	if !hasTracer(conn.Config().Tracer) {
		return nil, ErrNotInstrumented
	}
	return newRunner(&connSource{conn: conn, turn: make(chan struct{}, 1)}, opts), nil
}

// ErrSameConn is the error of a unit a NewConnRunner's unit started with
// Runner.Do or Runner.Read on the same Runner: there is one connection,
// and the outer unit holds it.
var ErrSameConn = errors.New("uow: a unit of a connection runner started another on the same runner, whose one connection it holds; nest it with Unit.Do")

func newRunner(src source, opts []Option) *Runner {
	cfg := config{
		attempts:  5,
		baseDelay: 2 * time.Millisecond,
		maxDelay:  200 * time.Millisecond,
		isolation: pgx.RepeatableRead,
		clock:     time.Now,
		bulk:      8,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.report = nil
	return &Runner{src: src, cfg: cfg}
}

// Do runs fn in a unit of work inside one transaction. When fn returns nil,
// the unit writes what changed in the aggregates it loaded or added and
// commits, in one round trip. When fn returns an error or panics, the
// transaction is rolled back and the error is returned, or the panic
// continues, unchanged.
//
// A serialization failure (SQLSTATE 40001), a deadlock (40P01), a version
// conflict (errors.Is(err, domain.ErrVersionConflict)) or the server ending
// the session before COMMIT (57P01-57P03, 08000, 08003, 08006: a restart; for
// a unit that wrote nothing, any connection lost), whether fn
// saw it or the commit did, reruns fn from scratch in a new transaction, up to the
// attempt bound, with jittered backoff, and not beyond the life of ctx; then
// the last error is returned: wrapped ("uow: gave up after N attempts: ...")
// when more than one attempt ran, or when ctx ended while Do waited to run
// fn again; as fn or the commit returned it when the bound is one attempt.
// Any other error ends the retries and is returned as it is. fn must
// therefore have no effects outside the unit that cannot be repeated. A connection lost while COMMIT
// was in flight is never retried: the error wraps ErrCommitUnknown.
func (r *Runner) Do(ctx context.Context, fn func(context.Context, *Unit) error, opts ...Option) error {
	return r.run(ctx, fn, false, opts)
}

// Read runs fn in a read-only unit, which never writes: changing an
// aggregate in it makes Read fail with ErrReadOnly. Read retries like Do.
//
// Each round trip of a Read unit is a READ ONLY transaction of its own,
// BEGIN and COMMIT riding in the same pipeline as the loads, so a unit that
// loads what it needs at once (portfolios with their lots and securities)
// costs one round trip. Everything loaded in one round trip comes from one
// snapshot, every aggregate in particular; two round trips may see two
// snapshots. WithSnapshot keeps one transaction, and one snapshot, for the
// whole unit instead.
func (r *Runner) Read(ctx context.Context, fn func(context.Context, *Unit) error, opts ...Option) error {
	return r.run(ctx, fn, true, opts)
}

// ErrReadOnly is returned when a read-only unit changed an aggregate.
var ErrReadOnly = errors.New("uow: read-only unit changed an aggregate; use Do to save changes")

func (r *Runner) run(ctx context.Context, fn func(context.Context, *Unit) error, readOnly bool, opts []Option) error {
	cfg := r.cfg
	for _, o := range opts {
		o(&cfg)
	}
	start := time.Now()
	tr := &sink{record: cfg.report != nil, logger: cfg.logger}
	var (
		err     error
		attempt int
		retries []error
		gaveUp  bool // stopped on an error a further attempt might have cured
	)
	for attempt = 1; ; attempt++ {
		err = r.attempt(ctx, fn, readOnly, &cfg, tr)
		if err == nil || !Retryable(err) || r.src.lost() {
			break
		}
		if attempt >= cfg.attempts {
			gaveUp = attempt > 1
			break
		}
		if werr := sleep(ctx, backoff(cfg, attempt)); werr != nil {
			err, gaveUp = errors.Join(err, werr), true
			break
		}
		retries = append(retries, err)
		if cfg.logger != nil {
			cfg.logger.LogAttrs(ctx, slog.LevelDebug, "unit retry",
				slog.Int("attempt", attempt), slog.String("error", err.Error()))
		}
	}
	if err != nil && ctx.Err() != nil && queryCanceled(err) && !errors.Is(err, ErrCommitUnknown) && !errors.Is(err, ctx.Err()) {
		// pgx cancels a statement that outlives ctx, and the server's
		// "canceling statement due to user request" is what comes back:
		// say why it was cancelled, so that errors.Is finds it.
		if cause := context.Cause(ctx); cause != ctx.Err() {
			err = fmt.Errorf("%w: %w (%w)", err, ctx.Err(), cause)
		} else {
			err = fmt.Errorf("%w: %w", err, ctx.Err())
		}
	}
	if gaveUp {
		plural := "s"
		if attempt == 1 {
			plural = ""
		}
		err = fmt.Errorf("uow: gave up after %d attempt%s: %w", attempt, plural, err)
	}
	if cfg.logger != nil && cfg.logger.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.Bool("read_only", readOnly),
			slog.Int("attempts", attempt),
			slog.Int("statements", tr.stats.Statements),
			slog.Int("round_trips", tr.stats.RoundTrips),
			slog.Duration("duration", time.Since(start)),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		cfg.logger.LogAttrs(ctx, slog.LevelDebug, "unit", attrs...)
	}
	if cfg.report != nil {
		*cfg.report = Report{Stats: tr.stats, Statements: tr.stmts, Attempts: attempt, Retries: retries, Err: err}
	}
	return err
}

// attempt runs fn once in a fresh unit and transaction.
func (r *Runner) attempt(ctx context.Context, fn func(context.Context, *Unit) error, readOnly bool, cfg *config, tr *sink) (err error) {
	// fn may take a while before it first talks to the database, and
	// may do things outside the unit: not when ctx has already ended.
	if err := ctx.Err(); err != nil {
		return err
	}
	u := newUnit(r, cfg, readOnly, tr)
	finished := false
	defer func() { u.ended = true }() // runs last
	defer func() {
		if finished {
			return
		}
		// fn panicked, or ended its goroutine (runtime.Goexit, which a
		// failing test's t.FailNow calls): roll back and hand the
		// connection back all the same, then let the panic go on.
		p := recover()
		u.s.close(ctx)
		if p != nil {
			panic(p)
		}
	}()
	fctx := ctx
	if c, ok := r.src.(*connSource); ok {
		// A unit started from another's fn would wait for the one
		// connection, which the other holds until fn returns.
		if ctx.Value(inUnitOf{c}) != nil {
			finished = true
			return ErrSameConn
		}
		fctx = context.WithValue(ctx, inUnitOf{c}, true)
	}
	if err := fn(fctx, u); err != nil {
		u.s.close(ctx)
		finished = true
		return err
	}
	err = u.commit(ctx)
	finished = true
	return err
}

// queryCanceled reports whether the server cancelled a statement of err at
// the client's request (SQLSTATE 57014).
func queryCanceled(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014"
}

// Retryable reports whether err is worth running the unit again for: a
// serialization failure, a deadlock, a version conflict, the server ending
// the session (a restart, pg_terminate_backend: the transaction is rolled
// back), or a connection failure before anything was sent. Never when the
// outcome of COMMIT is unknown, nor for an ended context.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrCommitUnknown):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// pgx calls a query on an ended context safe to retry (nothing
		// was sent), but its context will not come back to life.
		return false
	case errors.Is(err, domain.ErrVersionConflict), errors.Is(err, ErrSerialization), errors.Is(err, ErrSessionEnded):
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return serializationFailure(pgErr.Code) || sessionEnded(pgErr.Code)
	}
	return pgconn.SafeToRetry(err)
}

func backoff(cfg config, attempt int) time.Duration {
	limit := cfg.baseDelay << (attempt - 1)
	if limit <= 0 || limit > cfg.maxDelay {
		limit = cfg.maxDelay
	}
	if limit <= 0 {
		return 0
	}
	return rand.N(limit) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	// select picks at random among ready cases: a done ctx must win even
	// over a timer that has already fired.
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// poolSource runs each unit on a connection of its own from a pool.
type poolSource struct{ pool *pgxpool.Pool }

func (p poolSource) acquire(ctx context.Context) (*pgx.Conn, func(), error) {
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c.Conn(), c.Release, nil
}

func (poolSource) begin(readOnly bool, iso pgx.TxIsoLevel) string {
	sql := "begin isolation level " + isoSQL(iso)
	if readOnly {
		sql += " read only"
	}
	return sql
}

func (poolSource) lost() bool { return false } // another attempt takes another connection

func (poolSource) commit() []string   { return []string{"commit"} }
func (poolSource) rollback() []string { return []string{"rollback"} }

// PostgreSQL runs READ UNCOMMITTED as READ COMMITTED.
func (poolSource) snapshotPerStatement(iso pgx.TxIsoLevel) bool {
	return iso == pgx.ReadCommitted || iso == pgx.ReadUncommitted
}

func isoSQL(iso pgx.TxIsoLevel) string {
	switch iso {
	case pgx.Serializable:
		return "serializable"
	case pgx.ReadCommitted:
		return "read committed"
	case pgx.ReadUncommitted:
		return "read uncommitted"
	default:
		return "repeatable read"
	}
}

// connSource runs units one at a time as savepoints on one connection.
type connSource struct {
	turn chan struct{} // holds a token while a unit has conn
	conn *pgx.Conn
}

// inUnitOf marks the context a connSource's unit hands its fn.
type inUnitOf struct{ *connSource }

func (c *connSource) acquire(ctx context.Context) (*pgx.Conn, func(), error) {
	select {
	case c.turn <- struct{}{}:
		return c.conn, func() { <-c.turn }, nil
	case <-ctx.Done():
		return nil, nil, context.Cause(ctx)
	}
}

// lost: the connection, and the enclosing transaction with what the units
// before saved in it, is gone; no attempt would run on it.
func (c *connSource) lost() bool { return c.conn.IsClosed() }

func (*connSource) begin(bool, pgx.TxIsoLevel) string { return "savepoint folio_unit" }
func (*connSource) commit() []string                  { return []string{"release savepoint folio_unit"} }
func (*connSource) rollback() []string {
	return []string{"rollback to savepoint folio_unit", "release savepoint folio_unit"}
}

// The enclosing transaction's level decides, and is not known: the units
// plan as at the default, so that a test's cost assertions hold for a
// runner at the default (and a test's own transaction has no concurrent
// writers to see).
func (*connSource) snapshotPerStatement(pgx.TxIsoLevel) bool { return false }
