package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// env is an API on a database of the test's own.
type env struct {
	pool *pgxpool.Pool
	h    http.Handler
}

func newEnv(t testing.TB, opts httpapi.Options) *env {
	t.Helper()
	pool := pgtest.NewPool(t, uow.ConfigurePool)
	r, err := uow.NewRunner(pool, uow.WithBackoff(time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	return &env{pool: pool, h: httpapi.New(tracker.New(r), opts)}
}

// result is a response together with the path it answered.
type result struct {
	*httptest.ResponseRecorder
	path string
}

// do sends a request straight to the handler. A non-empty body is sent as
// application/json unless header (name, value pairs) says otherwise; an
// empty value removes a header.
func do(t testing.TB, h http.Handler, method, target, body string, header ...string) result {
	t.Helper()
	return doReader(t, h, method, target, strings.NewReader(body), body != "", header...)
}

func doReader(t testing.TB, h http.Handler, method, target string, body io.Reader, isJSON bool, header ...string) result {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	require.Zero(t, len(header)%2, "header comes in pairs")
	for i := 0; i < len(header); i += 2 {
		if header[i+1] == "" && header[i] != "If-Match" && header[i] != "If-None-Match" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return result{rec, req.URL.EscapedPath()}
}

func (e *env) do(t testing.TB, method, target, body string, header ...string) result {
	t.Helper()
	return do(t, e.h, method, target, body, header...)
}

// requireJSON checks a success response and decodes its body into a T.
func requireJSON[T any](t testing.TB, res result, status int) T {
	t.Helper()
	require.Equal(t, status, res.Code, res.Body.String())
	assert.Equal(t, "application/json", res.Header().Get("Content-Type"))
	requireAPIHeaders(t, res)
	body := res.Body.Bytes()
	require.True(t, bytes.HasSuffix(body, []byte("}\n")) || bytes.HasSuffix(body, []byte("]\n")), "compact JSON and a newline: %q", body)
	assert.Equal(t, 1, bytes.Count(body, []byte("\n")), "compact JSON: %q", body)
	var v T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v))
	return v
}

func requireAPIHeaders(t testing.TB, res result) {
	t.Helper()
	assert.Equal(t, "nosniff", res.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", res.Header().Get("Cache-Control"))
	assert.NotEmpty(t, res.Header().Get("X-Request-Id"))
}

// problem is an RFC 9457 body as the API writes it.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	Field    string `json:"field"`
}

// requireProblem checks a problem response field by field.
func requireProblem(t testing.TB, res result, status int, slug, title string) problem {
	t.Helper()
	require.Equal(t, status, res.Code, res.Body.String())
	assert.Equal(t, "application/problem+json", res.Header().Get("Content-Type"))
	requireAPIHeaders(t, res)
	var p problem
	dec := json.NewDecoder(bytes.NewReader(res.Body.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), res.Body.String())
	assert.Equal(t, httpapi.ProblemTypeBase+slug, p.Type)
	assert.Equal(t, title, p.Title)
	assert.Equal(t, status, p.Status)
	assert.NotEmpty(t, p.Detail)
	assert.Equal(t, res.path, p.Instance)
	return p
}

// dump is every row of every table, to show that a request wrote nothing.
func (e *env) dump(t testing.TB) string {
	t.Helper()
	var s string
	require.NoError(t, e.pool.QueryRow(ctx, `select concat_ws(e'\n',
		(select coalesce(json_agg(s order by s.id), '[]')::text from security s),
		(select coalesce(json_agg(p order by p.id), '[]')::text from portfolio p),
		(select coalesce(json_agg(i order by i.id), '[]')::text from investment i))`).Scan(&s))
	return s
}

func (e *env) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, "select count(*) from "+table).Scan(&n))
	return n
}

// Fixtures made through the API.

func (e *env) addSecurity(t testing.TB, symbol, currency string) tracker.SecurityView {
	t.Helper()
	body, err := json.Marshal(map[string]string{"symbol": symbol, "name": symbol + " Corp.", "currency": currency})
	require.NoError(t, err)
	return requireJSON[tracker.SecurityView](t, e.do(t, "POST", "/securities", string(body)), http.StatusCreated)
}

func (e *env) createPortfolio(t testing.TB, name string) tracker.PortfolioView {
	t.Helper()
	body, err := json.Marshal(map[string]string{"name": name})
	require.NoError(t, err)
	return requireJSON[tracker.PortfolioView](t, e.do(t, "POST", "/portfolios", string(body)), http.StatusCreated)
}

func (e *env) trade(t testing.TB, id, side, symbol, quantity, price, date string) tracker.TradeView {
	t.Helper()
	req := map[string]string{"side": side, "symbol": symbol, "quantity": quantity, "price": price}
	if date != "" {
		req["date"] = date
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	return requireJSON[tracker.TradeView](t, e.do(t, "POST", "/portfolios/"+id+"/trades", string(body)), http.StatusOK)
}

func (e *env) version(t testing.TB, id string) int64 {
	t.Helper()
	var v int64
	require.NoError(t, e.pool.QueryRow(ctx, "select version from portfolio where id = $1", id).Scan(&v))
	return v
}

// requireExactProblem checks a problem response and that its body is
// exactly the problem of this status, slug and title with detail and
// field; a field of "" is one the body does not have.
func requireExactProblem(t testing.TB, res result, status int, slug, title, detail, field string) {
	t.Helper()
	got := requireProblem(t, res, status, slug, title)
	assert.Equal(t, problem{
		Type: httpapi.ProblemTypeBase + slug, Title: title, Status: status,
		Detail: detail, Instance: res.path, Field: field,
	}, got)
	if field == "" {
		assert.NotContains(t, problemMembers(t, res), "field", "a problem about no member has no field")
	}
}

// problemMembers decodes a problem's body as it is, to tell a member that
// is absent from one that is empty.
func problemMembers(t testing.TB, res result) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &m), res.Body.String())
	return m
}
