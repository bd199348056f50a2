package uow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgbouncer"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
)

// PgBouncer ends a client that waited for a server connection longer than
// query_wait_timeout with a FATAL of its own (08P01), in answer to the
// unit's first round trip: BEGIN and, in a unit that only adds, the
// INSERT and COMMIT behind it. None of it reached a server, so the unit
// is not of unknown outcome: it is run again, and saved once.
func TestPoolerWaitTimeoutIsRetried(t *testing.T) {
	if _, err := pgbouncer.Find(); errors.Is(err, pgbouncer.ErrNotFound) {
		if os.Getenv("TEST_PGBOUNCER") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Parallel()
	srv, direct, _, _ := ownServer(t, nil)
	dir, err := os.MkdirTemp("/tmp", "folio-bouncer-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	b, err := pgbouncer.Start(ctx, pgbouncer.Options{
		Dir:             filepath.Join(dir, "b"),
		ServerHost:      srv.SocketDir(),
		ServerPort:      srv.Port(),
		Users:           map[string]string{"postgres": ""},
		DefaultPoolSize: 1,
		Settings:        map[string]string{"query_wait_timeout": "1"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	url := b.URL("postgres", "", "postgres")

	// Another client holds the pool's only server connection in a
	// transaction.
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	holder, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Close(context.Background()) })
	_, err = holder.Exec(ctx, "begin; select 1")
	require.NoError(t, err)

	pool := pgtest.OpenPool(t, url, uow.ConfigurePool, func(c *pgxpool.Config) {
		c.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	})
	r, err := uow.NewRunner(pool)
	require.NoError(t, err)
	var rep uow.Report
	attempts := 0
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		if attempts++; attempts == 2 {
			_, err := holder.Exec(ctx, "commit") // the server is free for the rerun
			require.NoError(t, err)
		}
		p, err := domain.NewPortfolio("Waited", "USD")
		require.NoError(t, err)
		u.Portfolios().Add(p)
		return nil
	}, uow.WithReport(&rep))
	require.NoError(t, err)
	require.Len(t, rep.Retries, 1)
	t.Logf("retried after: %v", rep.Retries[0])
	var pgErr *pgconn.PgError
	require.ErrorAs(t, rep.Retries[0], &pgErr)
	assert.Equal(t, "query_wait_timeout", pgErr.Message)
	assert.ErrorIs(t, rep.Retries[0], uow.ErrSessionEnded)
	assert.NotErrorIs(t, rep.Retries[0], uow.ErrCommitUnknown)
	assert.Equal(t, 2, rep.Attempts)
	assert.Equal(t, 1, count(t, direct, "portfolio"), "saved once")
}
