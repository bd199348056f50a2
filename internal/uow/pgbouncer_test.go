package uow_test

import (
	"bytes"
	"context"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

// Behind PgBouncer in transaction pooling a client has a server connection
// for one transaction at a time, and not always the same one. pgx's default
// query exec mode (cache_statement) prepares each statement once per client
// connection, under a name derived from its SQL, and from then on only
// binds that name: on another server connection the name is unknown, or
// was prepared there by another client. PgBouncer before 1.21 cannot track
// prepared statements (Debian 12 ships 1.18), so the documented setting is
// default_query_exec_mode=exec: every statement is parsed unnamed, bound
// and executed in the same pipeline.
//
// These tests run only with TEST_PGBOUNCER set (make test-pgbouncer).

// bouncerURLs skips the test unless PgBouncer is in use, and returns for a
// database of the test's own its connection string through PgBouncer with
// default_query_exec_mode=exec, as pgtest.URL hands them out, and the same
// with pgx's default exec mode.
func bouncerURLs(t *testing.T) (execMode, defaultMode string) {
	t.Helper()
	if !pgtest.UsingBouncer(t) {
		t.Skipf("PgBouncer is not in use: set %s=1 to run this test (make test-pgbouncer)", pgtest.EnvBouncer)
	}
	defaultMode, _ = pgtest.BouncerURL(t, pgtest.DirectURL(t))
	cfg, err := pgx.ParseConfig(defaultMode)
	require.NoError(t, err)
	require.Equal(t, pgx.QueryExecModeCacheStatement, cfg.DefaultQueryExecMode, "BouncerURL keeps pgx's default")
	u, err := url.Parse(defaultMode)
	require.NoError(t, err)
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	u.RawQuery = q.Encode()
	return u.String(), defaultMode
}

// sell1 is a read-modify-write unit: load a portfolio, sell one share.
func sell1(sec *domain.Security, id uuid.UUID) func(context.Context, *uow.Unit) error {
	return func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, id)
		if err != nil {
			return err
		}
		_, err = p.Sell(sec, dec("1"), day)
		return err
	}
}

// With pgx's default exec mode, a client's cached statements do not follow
// it to another server connection.
func TestPgBouncerDefaultExecModeFails(t *testing.T) {
	t.Parallel()
	_, defaultMode := bouncerURLs(t)
	t.Logf("through %s with pgx's default exec mode", pgtest.BouncerVersion(t))

	pool := pgtest.OpenPool(t, defaultMode, uow.ConfigurePool, func(c *pgxpool.Config) { c.MaxConns = 1 })
	r, err := uow.NewRunner(pool, uow.WithAttempts(1))
	require.NoError(t, err)
	// Another client, in a transaction: it holds a server connection of
	// its own meanwhile.
	other, err := pgx.Connect(ctx, defaultMode)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "select 1")
	require.NoError(t, err)

	// The pool's one client prepares its statements on the server
	// connection PgBouncer hands it, and (PgBouncer reusing the connection
	// released last) keeps getting that one: this works.
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	require.NoError(t, r.Do(ctx, sell1(secs["AAPL"], ids["Main"])))

	// The other client's transaction ends: its server connection is now
	// the one released last, and the next transaction gets it. The
	// statements the pool's client prepared are not there.
	require.NoError(t, tx.Commit(ctx))
	err = r.Do(ctx, sell1(secs["AAPL"], ids["Main"]))
	require.Error(t, err)
	t.Logf("the unit failed: %v", err)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "26000", pgErr.Code, "invalid_sql_statement_name")
	assert.Regexp(t, `^prepared statement "stmtcache_[0-9a-f]+" does not exist$`, pgErr.Message)

	// And a second client preparing the same statements on a server
	// connection where the first prepared them finds the name taken.
	other2, err := pgx.Connect(ctx, defaultMode)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other2.Close(context.Background()) })
	const q = "select count(*) from portfolio where id = $1"
	var n int
	require.NoError(t, other.QueryRow(ctx, q, ids["Main"]).Scan(&n))
	err = other2.QueryRow(ctx, q, ids["Main"]).Scan(&n)
	require.Error(t, err)
	t.Logf("a second client preparing the same statement: %v", err)
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42P05", pgErr.Code, "duplicate_prepared_statement")
	assert.Regexp(t, `^prepared statement "stmtcache_[0-9a-f]+" already exists$`, pgErr.Message)
}

// The same units with default_query_exec_mode=exec, as pgtest.URL and
// pgtest.NewPool hand them out through PgBouncer, succeed and store what
// they should, and a read-modify-write unit still costs two round trips:
// on the wire, not just in the unit's report.
func TestPgBouncerExecModeWorks(t *testing.T) {
	t.Parallel()
	execMode, _ := bouncerURLs(t)
	t.Logf("through %s with default_query_exec_mode=exec", pgtest.BouncerVersion(t))
	cfg, err := pgx.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	require.Equal(t, pgx.QueryExecModeExec, cfg.DefaultQueryExecMode, "pgtest.URL through PgBouncer sets exec mode")

	var wire wireLog
	pool := pgtest.OpenPool(t, execMode, uow.ConfigurePool, func(c *pgxpool.Config) {
		c.MaxConns = 1
		c.AfterConnect = chain(c.AfterConnect, func(_ context.Context, c *pgx.Conn) error {
			c.PgConn().Frontend().Trace(&wire, pgproto3.TracerOptions{SuppressTimestamps: true})
			return nil
		})
	})
	r, err := uow.NewRunner(pool, uow.WithAttempts(1))
	require.NoError(t, err)
	other, err := pgx.Connect(ctx, execMode)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "select 1")
	require.NoError(t, err)

	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	buy(t, r, ids["Main"], secs["AAPL"], "10")
	require.NoError(t, r.Do(ctx, sell1(secs["AAPL"], ids["Main"])))
	require.NoError(t, tx.Commit(ctx)) // as above: the next unit gets another server connection

	v0, _ := stored(t, pool, ids["Main"])
	for i := range 3 {
		var rep uow.Report
		wire.reset()
		require.NoError(t, r.Do(ctx, sell1(secs["AAPL"], ids["Main"]), uow.WithReport(&rep)), "unit %d", i)
		assert.Equal(t, []string{
			"begin isolation level repeatable read", "GetPortfolio", "ListInvestmentsByPortfolio",
			"BumpPortfolioVersion", "UpdateInvestmentQuantity", "commit",
		}, uowtest.Names(rep))
		uowtest.RequireCost(t, rep, uowtest.Cost{Statements: 6, RoundTrips: 2})
		// The server answers each round trip's Sync with a ReadyForQuery.
		// Exec mode prepares nothing ahead: each statement is parsed in
		// the pipeline, and none is described before it (no
		// ParameterDescription, which a Describe of a statement returns).
		assert.Equal(t, 2, wire.count(`B\tReadyForQuery\t`), "round trips on the wire:\n%s", wire.summary())
		assert.Equal(t, 6, wire.count(`B\tParseComplete\t`), "each statement parsed in the pipeline")
		assert.Zero(t, wire.count(`B\tParameterDescription\t`), "no statement described ahead")
		if i == 0 {
			t.Logf("a read-modify-write unit on the wire:\n%s", wire.summary())
		}
	}

	// Four units sold one share each, the last three a version each.
	v1, lots := stored(t, pool, ids["Main"])
	assert.Equal(t, v0+3, v1)
	require.Len(t, lots, 1)
	for _, q := range lots {
		assert.Equal(t, "6.0000000000", q)
	}
}

// chain runs f after an existing AfterConnect.
func chain(existing, f func(context.Context, *pgx.Conn) error) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, c *pgx.Conn) error {
		if existing != nil {
			if err := existing(ctx, c); err != nil {
				return err
			}
		}
		return f(ctx, c)
	}
}

// wireLog collects pgproto3's trace of what a connection receives from the
// server (B), one message per line. (What pgx sends in a batch bypasses
// the tracer.)
type wireLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *wireLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *wireLog) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Reset()
}

func (w *wireLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// count returns how many lines of the trace begin with a match of re.
func (w *wireLog) count(re string) int {
	return len(regexp.MustCompile(`(?m)^`+re).FindAllStringIndex(w.String(), -1))
}

// summary returns the messages the server sent, a line per round trip.
func (w *wireLog) summary() string {
	var b strings.Builder
	for _, line := range strings.Split(w.String(), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 || f[0] != "B" {
			continue
		}
		b.WriteString(f[1])
		if f[1] == "ReadyForQuery" {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}
