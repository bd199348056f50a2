package folio_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/pgtest"
)

// lastQuery is a tracer that keeps the last statement a connection sent,
// with its arguments, so a test can ask for the plan of a generated query.
type lastQuery struct {
	sql  string
	args []any
}

func (l *lastQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.sql, l.args = d.SQL, d.Args
	return ctx
}

func (*lastQuery) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The name searches of the list queries (a substring of the lower-cased,
// normalized name, or symbol) can be answered from the trigram indexes,
// not only by reading every row: with sequential and plain index scans
// ruled out, the plan of each generated query reads the index built on the
// very expression it compares, where an index on another expression (the
// name as stored, say) would leave it a sequential scan. Which plan the
// server picks is its choice by the table's size: the planner prices
// normalize() low, so on this machine it still read every row of 20,000
// securities, and read the trigram indexes for 100,000 (10 ms a search
// there, against 195 ms without the indexes).
func TestNameSearchesUseTrigramIndexes(t *testing.T) {
	t.Parallel()
	last := &lastQuery{}
	// Direct: the SETs below hold for the session, which a pooler in
	// transaction mode would not keep.
	pool := pgtest.OpenPool(t, pgtest.DirectURL(t), func(c *pgxpool.Config) { c.ConnConfig.Tracer = last })
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()

	_, err = conn.Exec(ctx, `
		INSERT INTO security (id, symbol, name, currency)
		SELECT gen_random_uuid(), 'S' || g, 'Security ' || md5(g::text), 'USD' FROM generate_series(1, 2000) g;
		INSERT INTO portfolio (id, name, currency, version)
		SELECT gen_random_uuid(), 'Portfolio ' || md5(g::text), 'USD', 1 FROM generate_series(1, 2000) g;
		ANALYZE security; ANALYZE portfolio;
		SET enable_seqscan = off; SET enable_indexscan = off`)
	require.NoError(t, err)
	q := dbgen.New(conn)
	search := pgtype.Text{String: "81DC9BDB", Valid: true} // md5('1234') begins so

	// plan returns the plan of the statement call sends, checking first
	// that it finds the one row named.
	plan := func(t *testing.T, call func() (int, error)) string {
		t.Helper()
		n, err := call()
		require.NoError(t, err)
		require.Equal(t, 1, n, "rows found")
		rows, err := conn.Query(ctx, "EXPLAIN "+last.sql, last.args...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return fmt.Sprintln(lines)
	}

	t.Run("ListPortfolios", func(t *testing.T) {
		p := plan(t, func() (int, error) {
			ps, err := q.ListPortfolios(ctx, dbgen.ListPortfoliosParams{NameContains: search, PageSize: 50})
			return len(ps), err
		})
		assert.Contains(t, p, "portfolio_name_trgm_idx")
		assert.NotContains(t, p, "Seq Scan on portfolio")
	})
	t.Run("ListSecurities", func(t *testing.T) {
		p := plan(t, func() (int, error) {
			ss, err := q.ListSecurities(ctx, dbgen.ListSecuritiesParams{NameContains: search, PageSize: 50})
			return len(ss), err
		})
		assert.Contains(t, p, "security_name_trgm_idx")
		assert.Contains(t, p, "security_symbol_trgm_idx")
		assert.NotContains(t, p, "Seq Scan on security")
	})
	t.Run("ListSecurities by symbol", func(t *testing.T) {
		p := plan(t, func() (int, error) {
			ss, err := q.ListSecurities(ctx, dbgen.ListSecuritiesParams{NameContains: pgtype.Text{String: "s1999", Valid: true}, PageSize: 50})
			return len(ss), err
		})
		assert.Contains(t, p, "security_symbol_trgm_idx")
		assert.NotContains(t, p, "Seq Scan on security")
	})
}

// Revaluing every security updates each row in place (HOT: no index gets
// an entry), since their pages are only half filled (00015): without
// that, full pages leave no room and every update writes to every index,
// the trigram ones included. The counts are the transaction's own.
func TestRevaluingUpdatesRowsInPlace(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	const n = 2000
	_, err := pool.Exec(ctx, `
		INSERT INTO security (id, symbol, name, currency, last_price, price_date)
		SELECT gen_random_uuid(), 'S' || g, 'Security ' || md5(g::text), 'USD', 1, date '2024-01-02'
		FROM generate_series(1, $1::int) g`, n)
	require.NoError(t, err)
	arg := dbgen.UpdateSecurityPricesParams{}
	for i := 1; i <= n; i++ {
		arg.Symbols = append(arg.Symbols, fmt.Sprintf("S%d", i))
		arg.Prices = append(arg.Prices, dec(fmt.Sprintf("%d.25", i)))
		arg.PriceDates = append(arg.PriceDates, day)
	}
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	require.NoError(t, dbgen.New(tx).UpdateSecurityPrices(ctx, arg))
	var updated, hot int
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('security'::regclass),
		pg_stat_get_xact_tuples_hot_updated('security'::regclass)`).Scan(&updated, &hot))
	assert.Equal(t, n, updated)
	assert.Equal(t, n, hot, "every update in place")
}
