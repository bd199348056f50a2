package httpapi_test

import (
	"bytes"
	"log/slog"
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

// TestGate: a server still starting answers every route with 503 and
// writes nothing, answers what names no route as ever, and serves the API
// once opened.
func TestGate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	var logs bytes.Buffer
	g := httpapi.NewGate(httpapi.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const detail = "the service is starting and its database is not ready yet; try again shortly"
	for _, c := range []struct{ method, target, body string }{
		{"GET", "/healthz", ""},
		{"GET", "/healthz?probe=1", ""},
		{"GET", "/portfolios?limit=0", ""}, // a 400 once open: starting comes first
		{"POST", "/portfolios", `{"name":"Early"}`},
		{"PUT", "/securities/AAPL/price", `{"price":"1"}`},
	} {
		res := do(t, g, c.method, c.target, c.body)
		requireExactProblem(t, res, http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail, "")
		assert.Equal(t, "5", res.Header().Get("Retry-After"), "a 503 says when to try again")
		assert.NotEmpty(t, res.Header().Get("X-Request-Id"))
	}
	requireProblem(t, do(t, g, "GET", "/nowhere", ""), http.StatusNotFound, "not-found", "Not found")
	res := do(t, g, "DELETE", "/healthz", "")
	requireProblem(t, res, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed")
	assert.Equal(t, "GET, HEAD, OPTIONS", res.Header().Get("Allow"))
	assert.Contains(t, logs.String(), "level=INFO msg=request", "a service starting is no error")
	assert.Contains(t, logs.String(), "status=503")
	assert.NotContains(t, logs.String(), "level=ERROR")

	g.Open(e.h)
	requireJSON[map[string]string](t, do(t, g, "GET", "/healthz", ""), http.StatusOK)
	assert.Zero(t, e.count(t, "portfolio"), "nothing the gate refused was written")
	requireJSON[map[string]any](t, do(t, g, "POST", "/portfolios", `{"name":"Early"}`), http.StatusCreated)
}
