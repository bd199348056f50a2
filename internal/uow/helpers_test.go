package uow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	ctx = context.Background()
	day = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
)

// newDB returns a pool on a database of the test's own and a runner on it
// with fast retries.
func newDB(t testing.TB, opts ...uow.Option) (*pgxpool.Pool, *uow.Runner) {
	t.Helper()
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	opts = append([]uow.Option{uow.WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)
	r, err := uow.NewRunner(pool, opts...)
	require.NoError(t, err)
	return pool, r
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// seed creates the securities (USD) and an empty USD portfolio per name.
func seed(t testing.TB, r *uow.Runner, symbols []string, names ...string) (map[string]*domain.Security, map[string]uuid.UUID) {
	t.Helper()
	secs := make(map[string]*domain.Security)
	ids := make(map[string]uuid.UUID)
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		for _, sym := range symbols {
			s, err := domain.NewSecurity(sym, sym+" Inc.", "USD")
			require.NoError(t, err)
			require.NoError(t, s.SetPrice(dec("10"), day))
			u.Securities().Add(s)
			secs[sym] = s
		}
		for _, n := range names {
			p, err := domain.NewPortfolio(n, "USD")
			require.NoError(t, err)
			u.Portfolios().Add(p)
			ids[n] = p.ID()
		}
		return nil
	}))
	return secs, ids
}

// buy adds lots to a portfolio in a unit of its own.
func buy(t testing.TB, r *uow.Runner, id uuid.UUID, sec *domain.Security, quantities ...string) {
	t.Helper()
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, id)
		if err != nil {
			return err
		}
		for i, q := range quantities {
			if _, err := p.Buy(sec, dec(q), dec("10"), day.AddDate(0, 0, i)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// stored reads a portfolio's lots straight from the database, bypassing the
// unit of work: quantity per lot id, plus the version.
// storedLastSale returns the portfolio's stored last_sale_on as
// YYYY-MM-DD, "" for NULL.
func storedLastSale(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) string {
	t.Helper()
	var day string
	require.NoError(t, pool.QueryRow(ctx, "select coalesce(last_sale_on::text, '') from portfolio where id = $1", id).Scan(&day))
	return day
}

func stored(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) (version int64, lots map[uuid.UUID]string) {
	t.Helper()
	require.NoError(t, pool.QueryRow(ctx, "select version from portfolio where id = $1", id).Scan(&version))
	rows, err := pool.Query(ctx, "select id, quantity::text from investment where portfolio_id = $1", id)
	require.NoError(t, err)
	defer rows.Close()
	lots = make(map[uuid.UUID]string)
	for rows.Next() {
		var lot uuid.UUID
		var q string
		require.NoError(t, rows.Scan(&lot, &q))
		lots[lot] = q
	}
	require.NoError(t, rows.Err())
	return version, lots
}

func count(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf("select count(*) from %s", table)).Scan(&n))
	return n
}

// pgtestPool is a pool that did not pass through uow.ConfigurePool.
func pgtestPool(t testing.TB) *pgxpool.Pool { return pgtest.NewPool(t) }

// changeBehind commits, outside any unit, a save of the portfolio by
// someone else: its version goes up by one, as another unit's would.
func changeBehind(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) {
	t.Helper()
	_, err := pool.Exec(context.Background(), "update portfolio set version = version + 1 where id = $1", id)
	require.NoError(t, err)
}
