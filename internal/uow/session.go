package uow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/folio-dev/folio/internal/dbgen"
)

// How a unit talks to the server.
//
// Generated query functions take a dbgen.DBTX and expect an answer before
// they return, which would cost a round trip per statement. A session instead
// runs each generated function twice. The first run goes against capture,
// which records the SQL and arguments and fails on purpose; everything
// recorded goes out as one pgx.Batch, a single round trip, with the
// transaction's BEGIN in front and, at the end of a unit, its COMMIT behind.
// The second run goes against replay, which hands the function the batch's
// next result, so the generated code scans its own rows as usual. The SQL
// text still comes only from sql/queries.

// errCaptured stops a generated function once capture has its statement.
var errCaptured = errors.New("uow: statement captured")

type capture struct {
	sql  string
	args []any
}

func (c *capture) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.sql, c.args = sql, args
	return pgconn.CommandTag{}, errCaptured
}

func (c *capture) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.sql, c.args = sql, args
	return nil, errCaptured
}

func (c *capture) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	c.sql, c.args = sql, args
	return capturedRow{}
}

type capturedRow struct{}

func (capturedRow) Scan(...any) error { return errCaptured }

type replay struct{ br pgx.BatchResults }

func (r replay) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) { return r.br.Exec() }
func (r replay) Query(context.Context, string, ...any) (pgx.Rows, error)         { return r.br.Query() }
func (r replay) QueryRow(context.Context, string, ...any) pgx.Row                { return r.br.QueryRow() }

// A call is one statement of a round trip: run calls one generated function
// (twice, see above) and keeps its result; fail translates a failure of the
// statement into the error the unit returns.
type call struct {
	run  func(q *dbgen.Queries) error
	fail func(err error) error
}

// control is a statement the session itself sends: BEGIN, SAVEPOINT, COMMIT.
type control struct {
	sql  string
	done func() // runs once the server has executed it
}

// source hands out the connection a unit runs on and says how a unit's
// transaction begins and ends on it.
type source interface {
	acquire(ctx context.Context) (*pgx.Conn, func(), error)
	begin(readOnly bool, iso pgx.TxIsoLevel) string
	commit() []string
	rollback() []string
	// snapshotPerStatement reports whether each statement of a unit at
	// isolation level iso reads the latest commits, rather than all of
	// them one snapshot.
	snapshotPerStatement(iso pgx.TxIsoLevel) bool
	// lost reports whether no further attempt can run: the one
	// connection every attempt uses is closed.
	lost() bool
}

// session is one unit attempt's connection and transaction state.
type session struct {
	src      source
	conn     *pgx.Conn
	release  func()
	sink     *sink
	beginSQL string
	begun    bool      // the unit's BEGIN has been executed
	queued   []control // control statements to ride with the next round trip
	// perTrip: every round trip is a transaction of its own, COMMIT
	// behind its statements (read-only units).
	perTrip bool
	// snapshotPerStatement: see source.
	snapshotPerStatement bool
	// wrote: the transaction has been sent writes (a flush), so that a
	// COMMIT whose answer is lost may have saved something.
	wrote bool
	// failed is the error that aborted the unit's transaction, until a
	// ROLLBACK TO SAVEPOINT undoes it. The server refuses everything an
	// aborted transaction is sent, and answers its COMMIT with ROLLBACK,
	// so once fn has gone on after such an error every round trip, the
	// commit included, fails with it instead (see errAborted).
	failed error
}

// errAborted prefixes the error of a round trip that the unit did not send
// because an earlier statement had aborted its transaction. The earlier
// error stays in the chain, so errors.Is finds its sentinel and a version
// conflict or serialization failure is still retried.
const errAborted = "uow: the transaction was aborted by an earlier error that fn went on after"

// ErrCommitUnknown is returned when the connection failed while the COMMIT
// of a unit that wrote was in flight: the unit's changes may or may not
// have been committed, so it is not retried. Check the data before trying
// again.
var ErrCommitUnknown = errors.New("outcome of COMMIT unknown: the connection failed while it was in flight, so the changes may or may not have been saved")

// connect acquires the connection on first use, so a unit that never
// touches the database never holds one.
func (s *session) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	conn, release, err := s.src.acquire(ctx)
	if err != nil {
		return fmt.Errorf("uow: acquire connection: %w", err)
	}
	s.conn, s.release = conn, release
	return nil
}

// roundTrip sends whatever control statements are due (BEGIN first), the
// calls, and the tail statements as one pipeline, then reads every result in
// order. A failing statement aborts the transaction on the server, which
// then skips the rest of the pipeline, tail included.
//
// The queued control statements leave the queue only as the server runs
// them: a round trip that fails before it is sent (its context already
// done, say, which fn may shrug off) leaves them for the next one, so that
// a SAVEPOINT or ROLLBACK TO SAVEPOINT is never silently dropped.
func (s *session) roundTrip(ctx context.Context, calls []call, tail ...control) error {
	if s.failed != nil {
		return s.abortedErr()
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	queued := s.queued
	fresh := !s.begun  // this round trip begins the transaction
	var head []control // nil in the steady state: no allocation
	if !s.begun {
		head = append(head, control{sql: s.beginSQL, done: func() { s.begun = true }})
	}
	for _, c := range queued {
		head = append(head, control{sql: c.sql, done: func() {
			if c.done != nil {
				c.done()
			}
			s.queued = s.queued[1:] // it is the queue's first
		}})
	}
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(head)+len(calls)+len(tail))}
	for _, c := range head {
		b.Queue(c.sql)
	}
	var captured capture
	for i := range calls {
		captured = capture{}
		if err := calls[i].run(dbgen.New(&captured)); !errors.Is(err, errCaptured) {
			// A call must send exactly one statement; anything else is a
			// bug in this package, not a database error.
			panic(fmt.Sprintf("uow: call %d did not capture a statement: %v", i, err))
		}
		b.Queue(captured.sql, captured.args...)
	}
	if s.perTrip {
		for _, sql := range s.src.commit() {
			tail = append(tail, control{sql: sql, done: func() { s.begun = false }})
		}
	}
	for _, c := range tail {
		b.Queue(c.sql)
	}

	wasOpen := !s.conn.IsClosed()
	s.sink.sending = true
	br := s.conn.SendBatch(withSink(ctx, s.sink), b)
	s.sink.sending = false
	err := readResults(br, head, calls, tail, s.wrote)
	// The server answered the round trip's COMMIT: the transaction is
	// committed, whatever then happened to the connection (a FATAL the
	// server sent on its way out, read by Close). Failing the unit here
	// would have it run again on top of its own commit.
	committing := len(tail) > 0 && isCommit(tail[len(tail)-1].sql)
	committed := err == nil && committing
	if cerr := br.Close(); err == nil && cerr != nil && !committed {
		err = cerr
	}
	// PgBouncer's words for a client it never gave a server are believed
	// only in the round trip that begins the transaction: in a later one,
	// the client had a server (it keeps it from BEGIN to COMMIT).
	neverRan := err != nil && fresh && notForwarded(err)
	if err != nil && s.wrote && committing && !neverRan && lostInFlight(err, wasOpen) && !errors.Is(err, ErrCommitUnknown) {
		// A unit that wrote nothing has nothing to lose or to save twice.
		return fmt.Errorf("%w: %w", ErrCommitUnknown, err)
	}
	if err != nil && ((!s.wrote || !committing) && (!serverSaid(err) && s.conn.IsClosed() || fatal(err)) || neverRan) &&
		!errors.Is(err, ErrSessionEnded) {
		// The connection is gone, and the transaction with it, in a unit
		// that wrote nothing (PgBouncer hangs up on its client when the
		// server ends the session, say, and the COMMIT of a unit that
		// only read meets a broken pipe, or PgBouncer's own FATAL
		// "server connection closed", 08P01), in a round trip without
		// COMMIT (what the unit flushed before is rolled back with the
		// session), or in one whose statements never reached a server
		// (PgBouncer's query_wait_timeout): running it again is safe,
		// whatever pgx could tell of what it sent.
		err = &sentinelError{kind: ErrSessionEnded, err: err}
	}
	if err != nil && s.perTrip && !s.aborted() {
		// An error the client met (a value it could not scan) stops
		// readResults before the COMMIT's done; the server ran that
		// COMMIT all the same (Close read its answer), or the connection
		// is gone. Either way the next round trip begins afresh, with its
		// BEGIN: without it, its statements would each read their own
		// snapshot.
		s.begun = false
	}
	if err != nil && s.aborted() {
		if s.perTrip {
			// The failed round trip's transaction is over for the unit;
			// the next one begins afresh.
			s.rollback(ctx)
		} else {
			s.failed = err
		}
	}
	return err
}

// writeTrip is roundTrip for the calls of a flush, which write: once they
// are sent, a COMMIT whose answer is lost may have saved something.
// (Read-only units never write, so a per-trip session never gets here
// with calls.)
func (s *session) writeTrip(ctx context.Context, calls []call, tail ...control) error {
	if len(calls) > 0 {
		s.wrote = true
	}
	return s.roundTrip(ctx, calls, tail...)
}

// abortedErr is the error of anything the unit is asked to send once a
// statement has aborted its transaction.
func (s *session) abortedErr() error {
	return fmt.Errorf("%s: %w", errAborted, s.failed)
}

// lostAfterSend reports whether err is pgx's "conn closed" for a connection
// that was open when the batch went out. pgx marks that error safe to retry,
// which holds for a connection already closed before anything was sent; but
// in the exec and simple-protocol modes (as behind PgBouncer) pgx v5.12 also
// returns it when the connection fails while it reads a batch's results,
// after the batch, COMMIT included, reached the server.
func lostAfterSend(err error, wasOpen bool) bool {
	return wasOpen && errors.Is(err, pgconn.ErrConnClosed)
}

// lostInFlight reports whether err, met in a round trip that ends with
// COMMIT, leaves the COMMIT's outcome unknown, at whichever statement of
// the round trip it surfaced:
//
//   - the server never answered, and pgx cannot say that nothing was sent
//     (or says so wrongly, lostAfterSend): it may have committed;
//   - PgBouncer's own FATAL (08P01) for a client it had given a server:
//     "server conn crashed?", "query timeout" and the like. Unlike the
//     server's FATAL, which answers the statement it stopped at, it says
//     nothing of how far the server got: the server sends a pipeline's
//     results only when it reaches the pipeline's Sync (or fills its
//     output buffer), so it may have run everything, COMMIT included,
//     before the connection went, and the FATAL then answers the first
//     statement. (Its FATALs for a client still waiting for a server,
//     notForwarded, say nothing was run: roundTrip sets those apart.)
//
// A FATAL answering COMMIT itself is readResults' (endsSessionAtCommit).
func lostInFlight(err error, wasOpen bool) bool {
	if !serverSaid(err) {
		return !pgconn.SafeToRetry(err) || lostAfterSend(err, wasOpen)
	}
	pgErr, ok := fromPooler(err)
	return ok && fatal(err) && pgErr.Code == "08P01"
}

// fromPooler returns err's PgError if PgBouncer sent it, not the server:
// PgBouncer sends only the S, C and M fields, and the server always sends
// R (the routine that raised the error), and V since 9.6.
func fromPooler(err error) (*pgconn.PgError, bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Routine != "" || pgErr.SeverityUnlocalized != "" {
		return nil, false
	}
	return pgErr, true
}

// poolerBeforeServer are the beginnings of PgBouncer's messages for a
// client it ends while the client waits for a server connection, or logs
// in: nothing the client sent since it last had one reached a server. In
// transaction pooling a client keeps its server from BEGIN to COMMIT, so
// these can only answer a unit's first round trip.
var poolerBeforeServer = []string{
	"query_wait_timeout",
	// query_timeout for a client still waiting; one whose query is
	// running on a server gets "query timeout", with a space.
	"query_timeout",
	"client_login_timeout",
	"client_idle_timeout",
	"server login has been failing",
	"pgbouncer cannot connect to server",
	"no more connections allowed",
}

// notForwarded reports whether err is PgBouncer's FATAL for a client whose
// statements never reached a server: the unit's transaction never began,
// and running it again is safe whatever it wrote.
func notForwarded(err error) bool {
	pgErr, ok := fromPooler(err)
	if !ok || !fatal(err) {
		return false
	}
	for _, m := range poolerBeforeServer {
		if strings.HasPrefix(pgErr.Message, m) {
			return true
		}
	}
	return false
}

// readResults reads a round trip's results in order. With writes, a COMMIT
// the server answered by shutting the session down (admin_shutdown,
// crash_shutdown: terminated while, say, it waited for a synchronous
// standby, after committing locally; or before COMMIT arrived, which the
// client cannot tell apart) is of unknown outcome. Other errors, such as
// an idle-in-transaction timeout, say the transaction was rolled back.
func readResults(br pgx.BatchResults, head []control, calls []call, tail []control, writes bool) error {
	for _, c := range head {
		if _, err := br.Exec(); err != nil {
			var pre pgx.ErrPreprocessingBatch
			if !serverSaid(err) || errors.As(err, &pre) {
				// The pipeline failed as a whole, not this statement:
				// nothing of it ran (pgx's prepare step failed, say).
				return withSentinel(err)
			}
			return withSentinel(fmt.Errorf("uow: %s: %w", c.sql, err))
		}
		if c.done != nil {
			c.done()
		}
	}
	q := dbgen.New(replay{br})
	for i := range calls {
		if err := calls[i].run(q); err != nil {
			if calls[i].fail != nil {
				return withSentinel(calls[i].fail(err))
			}
			return withSentinel(err)
		}
	}
	for _, c := range tail {
		tag, err := br.Exec()
		if err != nil {
			if !serverSaid(err) {
				return err
			}
			if writes && isCommit(c.sql) && endsSessionAtCommit(err) {
				return fmt.Errorf("%w: %w", ErrCommitUnknown, err)
			}
			return withSentinel(fmt.Errorf("uow: %s: %w", c.sql, err))
		}
		if isCommit(c.sql) && tag.String() == "ROLLBACK" {
			// The transaction had failed before COMMIT reached it. The
			// session sends no COMMIT after a failure it saw, so this is
			// a guard, not a path.
			return fmt.Errorf("uow: %s: %w", c.sql, pgx.ErrTxCommitRollback)
		}
		if c.done != nil {
			c.done()
		}
	}
	return nil
}

func isCommit(sql string) bool { return sql == "commit" }

// fatal reports whether err is a FATAL (or PANIC) error: the server, or
// PgBouncer in front of it, ends the session with it. The severity is read
// from the V field, which the server never translates; S follows
// lc_messages (ВАЖНО, SCHWERWIEGEND, ...) and is used only when V is
// absent: from PgBouncer, whose S is always English, and from servers
// before 9.6, whose translated S this cannot read.
func fatal(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	sev := pgErr.SeverityUnlocalized
	if sev == "" {
		sev = pgErr.Severity
	}
	return sev == "FATAL" || sev == "PANIC"
}

// endsSessionAtCommit reports whether err, in answer to COMMIT, ended the
// session with the outcome of the COMMIT unknown: the server terminated
// (57P01) or crashed (57P02) while it committed, or PgBouncer lost its
// server connection (08P01, "server connection closed"); any FATAL but
// the idle-in-transaction timeout (25P03), which rolled the transaction
// back before COMMIT arrived. (A round trip that begins the transaction
// has BEGIN first: PgBouncer's FATAL for a client it never gave a server
// answers that, never COMMIT.)
func endsSessionAtCommit(err error) bool {
	var pgErr *pgconn.PgError
	return fatal(err) && errors.As(err, &pgErr) && pgErr.Code != "25P03"
}

// serverSaid reports whether err is the server's answer to a statement, as
// opposed to a failure to talk to it.
func serverSaid(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// commit sends the flush calls with COMMIT behind them, in one round trip,
// and releases the connection; a failure is rolled back first.
func (s *session) commit(ctx context.Context, calls []call) error {
	if len(calls) == 0 && !s.begun && len(s.queued) == 0 {
		s.close(ctx)
		return nil
	}
	var tail []control
	if !s.perTrip { // roundTrip puts COMMIT behind every round trip then
		for _, sql := range s.src.commit() {
			tail = append(tail, control{sql: sql})
		}
	}
	err := s.writeTrip(ctx, calls, tail...)
	if err == nil {
		s.begun = false
	}
	s.close(ctx)
	return err
}

// close rolls back whatever is still open and releases the connection. (A
// pooled connection in any other state than idle is destroyed by the pool
// on release.)
func (s *session) close(ctx context.Context) {
	if s.conn == nil {
		return
	}
	if s.begun && !s.conn.IsClosed() {
		s.rollback(ctx)
	}
	release := s.release
	s.conn, s.release = nil, nil
	s.wrote = false
	release()
}

// rollbackTimeout bounds a rollback, which runs even when the unit's
// context is done.
const rollbackTimeout = 5 * time.Second

// rollback ends the unit's transaction on the server. It must happen even
// when ctx is done, so it gets a context of its own; a connection that
// cannot be rolled back is closed, never pooled.
func (s *session) rollback(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	// The simple protocol: the statements of a batch are prepared first,
	// which an aborted transaction refuses; and it takes them all in one
	// round trip.
	if _, err := s.conn.Exec(withSink(rctx, s.sink), strings.Join(s.src.rollback(), controlSep)); err != nil {
		_ = s.conn.Close(rctx)
	}
	s.begun = false
	s.wrote = false
	s.failed = nil
}

// aborted reports whether a statement failed in the unit's transaction,
// which then refuses everything until it is rolled back.
func (s *session) aborted() bool {
	return s.conn != nil && s.conn.PgConn().TxStatus() == 'E'
}

// exec sends one statement on its own, with the simple protocol (no
// prepare step).
func (s *session) exec(ctx context.Context, sql string) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	if _, err := s.conn.Exec(withSink(ctx, s.sink), sql); err != nil {
		return fmt.Errorf("uow: %s: %w", sql, err)
	}
	return nil
}
