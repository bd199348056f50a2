package httpapi_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

const unavailableDetail = "the database is unavailable; try again later"

func TestHealthzClosedPool(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r, err := uow.NewRunner(pool)
	require.NoError(t, err)
	h := httpapi.New(tracker.New(r), httpapi.Options{})
	requireJSON[map[string]string](t, do(t, h, "GET", "/healthz", ""), http.StatusOK)

	pool.Close()
	res := do(t, h, "GET", "/healthz", "")
	p := requireProblem(t, res, http.StatusServiceUnavailable, "unavailable", "Service unavailable")
	assert.Equal(t, unavailableDetail, p.Detail, "the cause is for the log only")
	assert.Equal(t, "5", res.Header().Get("Retry-After"))
}

// TestUnreachableDatabase points the API at a port where nothing listens.
func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg, err := pgxpool.ParseConfig("postgres://folio@" + addr + "/folio?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	uow.ConfigurePool(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	r, err := uow.NewRunner(pool, uow.WithAttempts(1))
	require.NoError(t, err)
	h := httpapi.New(tracker.New(r), httpapi.Options{RequestTimeout: 5 * time.Second})

	for _, c := range []struct{ method, target, body string }{
		{"GET", "/healthz", ""},
		{"GET", "/portfolios", ""},
		{"POST", "/portfolios", `{"name":"X"}`},
	} {
		res := do(t, h, c.method, c.target, c.body)
		p := requireProblem(t, res, http.StatusServiceUnavailable, "unavailable", "Service unavailable")
		assert.Equal(t, unavailableDetail, p.Detail)
		assert.Equal(t, "5", res.Header().Get("Retry-After"), "a 503 says when to try again")
	}
}
