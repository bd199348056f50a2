package uow

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/folio-dev/folio/internal/pgcodec"
)

// Stats counts what a unit of work sent to the server.
type Stats struct {
	// Statements is the number of SQL statements sent, BEGIN and COMMIT
	// included.
	Statements int
	// RoundTrips is the number of times the unit waited for the server: one
	// per statement sent on its own, one per pipeline (pgx.Batch).
	//
	// A statement the connection has not seen before costs one more round
	// trip, for pgx to learn its parameter and result types, the first time
	// it is used (pgx's default statement cache); these are not counted, as
	// pgx does not trace them, so measure in the steady state.
	RoundTrips int
}

// Statement is one statement a unit sent, in order, as the tracer saw it.
type Statement struct {
	// SQL is the statement's text as sent (sqlc's name comment first).
	SQL string
	// RoundTrip is the 1-based round trip the statement travelled in.
	RoundTrip int
}

// Name returns the sqlc name of the query (GetPortfoliosByIDs), taken from
// the comment sqlc puts in front of every statement, or for a statement of
// the unit's own, such as BEGIN or COMMIT, its text.
func (s Statement) Name() string {
	if rest, ok := strings.CutPrefix(s.SQL, sqlcName); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			return name
		}
	}
	return s.SQL
}

// Report describes one completed call of Runner.Do or Runner.Read.
type Report struct {
	Stats
	// Statements lists what was sent, over all attempts.
	Statements []Statement
	// Attempts is how many attempts the unit made (more than one after
	// retries); fn ran in each, unless the context had ended or the unit
	// was refused (ErrSameConn) before it could.
	Attempts int
	// Retries lists, per retry, the error that caused it.
	Retries []error
	// Err is what Do or Read returned.
	Err error
}

// sink collects the trace of one unit; the tracer finds it in the context.
type sink struct {
	stats  Stats
	record bool
	stmts  []Statement
	logger *slog.Logger
	// sending is set while pgx's SendBatch runs: an error pgx reports
	// then, and says nothing was sent for, takes back what the batch's
	// start counted (before, kept, see unsent).
	sending bool
	before  Stats
	kept    int
	// query is the text of the statement sent on its own last, for its
	// log line.
	query string
}

type sinkKey struct{}

func withSink(ctx context.Context, s *sink) context.Context {
	return context.WithValue(ctx, sinkKey{}, s)
}

func sinkFrom(ctx context.Context) *sink {
	s, _ := ctx.Value(sinkKey{}).(*sink)
	return s
}

type startKey struct{}

// tracer counts and logs statements for the unit whose sink rides in the
// context; statements sent outside a unit cost it one map lookup.
type tracer struct{}

func (tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s := sinkFrom(ctx)
	if s == nil {
		return ctx
	}
	s.stats.RoundTrips++
	if strings.HasPrefix(data.SQL, sqlcName) {
		s.add(data.SQL)
	} else {
		// A statement of the unit's own, which may be several joined
		// (a rollback: the simple protocol runs them in one round trip).
		for part := range strings.SplitSeq(data.SQL, controlSep) {
			s.add(part)
		}
	}
	if s.logging() {
		s.query = data.SQL
		return context.WithValue(ctx, startKey{}, time.Now())
	}
	return ctx
}

// sqlcName begins every statement sqlc generates.
const sqlcName = "-- name: "

// controlSep joins the unit's own statements (BEGIN, ROLLBACK and the
// like, which contain no semicolon) that are sent as one.
const controlSep = "; "

func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	s := sinkFrom(ctx)
	if s == nil || !s.logging() {
		return
	}
	start, _ := ctx.Value(startKey{}).(time.Time)
	s.log(ctx, "statement", s.stats.RoundTrips, time.Since(start), data.CommandTag.String(), data.Err,
		slog.String("sql", squash(s.query)))
}

func (tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	s := sinkFrom(ctx)
	if s == nil {
		return ctx
	}
	s.before, s.kept = s.stats, len(s.stmts)
	s.stats.RoundTrips++
	for _, q := range data.Batch.QueuedQueries {
		s.add(q.SQL)
	}
	if s.logging() {
		return context.WithValue(ctx, startKey{}, time.Now())
	}
	return ctx
}

func (tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	s := sinkFrom(ctx)
	if s == nil || !s.logging() {
		return
	}
	s.log(ctx, "statement", s.stats.RoundTrips, time.Since(data.ReadStartTime), data.CommandTag.String(), data.Err,
		slog.String("sql", squash(data.SQL)))
}

func (tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	s := sinkFrom(ctx)
	if s == nil {
		return
	}
	if s.logging() {
		start, _ := ctx.Value(startKey{}).(time.Time)
		s.log(ctx, "pipeline", s.stats.RoundTrips, time.Since(start), "", data.Err)
	}
	s.unsent(data.Err)
}

// unsent takes back the count of a batch that never left: pgx traces a
// batch's start before it looks at the context or the connection, and
// reports an error it meets then as one that sent nothing: in the default
// mode before SendBatch returns (the context already done, the connection
// already closed); in the exec mode (behind PgBouncer), a context already
// done only as the results are read. (pgx says "sent nothing" also of a
// connection that fails while the results of a batch that went out are
// read, in the exec mode: that is after SendBatch, and not a context's
// end, so it stays counted.)
func (s *sink) unsent(err error) {
	if err == nil || !pgconn.SafeToRetry(err) {
		return
	}
	if !s.sending && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return
	}
	s.stats = s.before
	s.stmts = s.stmts[:s.kept]
}

func (s *sink) add(sql string) {
	s.stats.Statements++
	if s.record || s.logging() {
		s.stmts = append(s.stmts, Statement{SQL: sql, RoundTrip: s.stats.RoundTrips})
	}
}

func (s *sink) logging() bool {
	return s.logger != nil && s.logger.Enabled(context.Background(), slog.LevelDebug)
}

func (s *sink) log(ctx context.Context, msg string, trip int, d time.Duration, tag string, err error, attrs ...slog.Attr) {
	attrs = append(attrs, slog.Int("round_trip", trip), slog.Duration("duration", d))
	if tag != "" {
		attrs = append(attrs, slog.String("tag", tag))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// squash puts a statement on one line for the log: the sqlc name comment
// first, then the SQL with runs of white space folded.
func squash(sql string) string {
	return strings.Join(strings.Fields(sql), " ")
}

// ConfigurePool prepares a pool configuration for units of work: it
// registers the codecs for the generated code's uuid and decimal types on
// every new connection (package pgcodec; after any AfterConnect already set
// has run), installs the tracer that counts and
// logs each unit's statements (beside any tracer already set), and makes a
// cancelled context cancel the running statement on the server (see
// cancelOnServer). NewRunner refuses a pool whose configuration did not pass
// through here.
func ConfigurePool(cfg *pgxpool.Config) {
	ConfigureConn(cfg.ConnConfig)
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if after != nil {
			if err := after(ctx, c); err != nil {
				return err
			}
		}
		// Last, so that an AfterConnect registering pgx-shopspring-decimal
		// itself does not replace these codecs with slower ones.
		pgcodec.Register(c.TypeMap())
		return nil
	}
}

// ConfigureConn is ConfigurePool for a single connection's configuration;
// register the codecs with pgcodec.Register after connecting.
func ConfigureConn(cfg *pgx.ConnConfig) {
	cfg.Tracer = withTracer(cfg.Tracer)
	cfg.BuildContextWatcherHandler = cancelOnServer
}

// cancelOnServer handles a context cancelled during a statement by asking
// the server to cancel it, instead of pgx's default of closing the socket at
// once. The difference matters at COMMIT: a unit sends its last writes and
// COMMIT in one pipeline, and a closed socket leaves the server to finish
// them (the unit then cannot know whether it committed), while a cancelled
// statement aborts the transaction and the server says so. The connection
// is closed anyway if the server has not answered a second later.
func cancelOnServer(c *pgconn.PgConn) ctxwatch.Handler {
	return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
}

func withTracer(existing pgx.QueryTracer) pgx.QueryTracer {
	switch t := existing.(type) {
	case nil:
		return tracer{}
	case tracer:
		return t
	case *multitracer.Tracer:
		if hasTracer(t) {
			return t
		}
	}
	return multitracer.New(existing, tracer{})
}

func hasTracer(t pgx.QueryTracer) bool {
	switch t := t.(type) {
	case tracer:
		return true
	case *multitracer.Tracer:
		for _, q := range t.QueryTracers {
			if _, ok := q.(tracer); ok {
				return true
			}
		}
	}
	return false
}
