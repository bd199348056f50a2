package bench

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Counter is a pgx tracer that counts the statements and round trips of
// every connection it is installed on. It is safe for concurrent use; a
// benchmark reads it before and after the timed loop (Counts) and divides by
// the number of operations.
//
// What counts (pgx v5's tracer interfaces):
//
//   - Query, QueryRow and Exec: one statement, one round trip. BEGIN and
//     COMMIT sent through database/sql are Execs too, and counted.
//   - SendBatch: one round trip carrying Batch.Len() statements (a pipeline).
//   - CopyFrom: one statement, one round trip.
//   - Prepare: one round trip, unless pgx answers from its own map of
//     prepared statements (AlreadyPrepared), which sends nothing. GORM's
//     PrepareStmt mode prepares through database/sql, which lands here.
//
// A statement a connection has not prepared yet costs one more round trip
// the first time. Query and Exec prepare it through Conn.Prepare, which
// the tracer counts; SendBatch prepares a batch's new statements in a
// round trip of their own before the batch, which it does not see.
// Benchmarks warm every connection up first, so the counts are those of
// the steady state, where neither happens.
type Counter struct {
	statements atomic.Int64
	roundTrips atomic.Int64
}

// Counts is a reading of a Counter.
type Counts struct {
	Statements, RoundTrips int64
}

// Sub returns c - d.
func (c Counts) Sub(d Counts) Counts {
	return Counts{Statements: c.Statements - d.Statements, RoundTrips: c.RoundTrips - d.RoundTrips}
}

// Counts returns the totals so far.
func (c *Counter) Counts() Counts {
	return Counts{Statements: c.statements.Load(), RoundTrips: c.roundTrips.Load()}
}

var (
	_ pgx.QueryTracer    = (*Counter)(nil)
	_ pgx.BatchTracer    = (*Counter)(nil)
	_ pgx.CopyFromTracer = (*Counter)(nil)
	_ pgx.PrepareTracer  = (*Counter)(nil)
)

// TraceQueryStart counts a Query, QueryRow or Exec.
func (c *Counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.statements.Add(1)
	c.roundTrips.Add(1)
	return ctx
}

// TraceQueryEnd does nothing.
func (*Counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a pipeline: one round trip, all its statements.
func (c *Counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	c.statements.Add(int64(data.Batch.Len()))
	c.roundTrips.Add(1)
	return ctx
}

// TraceBatchQuery does nothing.
func (*Counter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd does nothing.
func (*Counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart counts a COPY.
func (c *Counter) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	c.statements.Add(1)
	c.roundTrips.Add(1)
	return ctx
}

// TraceCopyFromEnd does nothing.
func (*Counter) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// TracePrepareStart does nothing: whether the server is asked is known at
// the end.
func (*Counter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return ctx
}

// TracePrepareEnd counts a Prepare that went to the server.
func (c *Counter) TracePrepareEnd(_ context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	if !data.AlreadyPrepared {
		c.roundTrips.Add(1)
	}
}
