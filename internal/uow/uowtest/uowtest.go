// Package uowtest is test support for code built on package uow: a runner
// whose units roll back with the test, and assertions on what a unit sent
// to the server, to catch N+1 queries before production does.
//
//	func TestRename(t *testing.T) {
//		r := uowtest.NewRunner(t, pool) // units are savepoints in one transaction
//		var rep uow.Report
//		err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
//			...
//		}, uow.WithReport(&rep))
//		require.NoError(t, err)
//		uowtest.RequireCost(t, rep, uowtest.Cost{Statements: uowtest.Any, RoundTrips: 2})
//	}
package uowtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/folio-dev/folio/internal/uow"
)

// NewRunner returns a runner for tb whose units all run, one at a time, on
// one connection taken from pool, inside one transaction that is rolled back
// when the test ends: nothing the test writes outlives it, and tests sharing
// a database do not see each other's data. Each unit is a savepoint, so a
// failing unit undoes only its own work, and nested units nest further.
// The pool must be configured with uow.ConfigurePool. Isolation options have
// no effect: the enclosing transaction decides, and it is a plain BEGIN, at
// the server's default level (READ COMMITTED unless configured otherwise),
// not READ ONLY for Read units; the units plan their statements as at the
// runner's default level, so cost assertions hold for one (WithSnapshot
// included, though its single snapshot does not: the enclosing transaction
// is READ COMMITTED). A unit that code under test
// starts with this runner from inside another unit's fn (rather than
// nesting it with Unit.Do) returns uow.ErrSameConn: on one connection it
// would wait for itself.
func NewRunner(tb testing.TB, pool *pgxpool.Pool, opts ...uow.Option) *uow.Runner {
	tb.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatalf("uowtest: acquire connection: %v", err)
	}
	if _, err := conn.Exec(ctx, "begin"); err != nil {
		conn.Release()
		tb.Fatalf("uowtest: begin: %v", err)
	}
	tb.Cleanup(func() {
		// Rolling back also ends the transaction of a test that left it
		// failed; a connection that cannot is closed rather than pooled.
		if _, err := conn.Exec(context.Background(), "rollback"); err != nil {
			_ = conn.Conn().Close(context.Background())
		}
		conn.Release()
	})
	r, err := uow.NewConnRunner(conn.Conn(), opts...)
	if err != nil {
		tb.Fatalf("uowtest: %v", err)
	}
	return r
}

// Cost is what a unit sent: statements (BEGIN and COMMIT included) and round
// trips. A zero field is checked like any other (Statements: 0 says the
// unit sent nothing); Any, or any negative value, leaves it unchecked.
type Cost struct {
	// Statements counts every statement sent; under this package's
	// runner, the unit's SAVEPOINT and RELEASE stand for BEGIN and COMMIT,
	// and a failing unit's ROLLBACK TO SAVEPOINT and RELEASE for its
	// ROLLBACK: one statement more than on a pool's runner.
	Statements int
	// RoundTrips counts the waits for the server: one per pipeline.
	RoundTrips int
}

// Any leaves a field of a Cost unchecked.
const Any = -1

// CheckCost returns an error, listing the statements the unit sent, unless
// the report shows exactly want.
func CheckCost(rep uow.Report, want Cost) error {
	if (want.Statements >= 0 && rep.Stats.Statements != want.Statements) ||
		(want.RoundTrips >= 0 && rep.RoundTrips != want.RoundTrips) {
		return fmt.Errorf("unit cost: got %d statements in %d round trips, want %s\n%s",
			rep.Stats.Statements, rep.RoundTrips, want, Describe(rep))
	}
	return nil
}

// CheckAtMost returns an error, listing the statements the unit sent, if it
// sent more than limit.
func CheckAtMost(rep uow.Report, limit Cost) error {
	if (limit.Statements >= 0 && rep.Stats.Statements > limit.Statements) ||
		(limit.RoundTrips >= 0 && rep.RoundTrips > limit.RoundTrips) {
		return fmt.Errorf("unit cost: got %d statements in %d round trips, want at most %s\n%s",
			rep.Stats.Statements, rep.RoundTrips, limit, Describe(rep))
	}
	return nil
}

// RequireCost fails tb at once unless the report shows exactly want.
func RequireCost(tb testing.TB, rep uow.Report, want Cost) {
	tb.Helper()
	if err := CheckCost(rep, want); err != nil {
		tb.Fatal(err)
	}
}

// RequireAtMost fails tb at once if the unit sent more than limit: the
// guard against a loop that queries once per row (N+1).
func RequireAtMost(tb testing.TB, rep uow.Report, limit Cost) {
	tb.Helper()
	if err := CheckAtMost(rep, limit); err != nil {
		tb.Fatal(err)
	}
}

// String says the cost in words, "6 statements in 2 round trips", with
// "any" for Any.
func (c Cost) String() string {
	f := func(n int) string {
		if n < 0 {
			return "any"
		}
		return fmt.Sprint(n)
	}
	return f(c.Statements) + " statements in " + f(c.RoundTrips) + " round trips"
}

// Names returns the names of the statements in the report (see
// uow.Statement.Name), in the order they were sent.
func Names(rep uow.Report) []string {
	names := make([]string, len(rep.Statements))
	for i, s := range rep.Statements {
		names[i] = s.Name()
	}
	return names
}

// Describe lists the statements of a report, one per line, with their
// round trip.
func Describe(rep uow.Report) string {
	var b strings.Builder
	for _, s := range rep.Statements {
		fmt.Fprintf(&b, "  round trip %d: %s\n", s.RoundTrip, s.Name())
	}
	return b.String()
}
