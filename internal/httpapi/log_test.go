package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
)

// logLines decodes JSON log lines.
func logLines(t testing.TB, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out
}

func loggedAPI(t testing.TB) (*env, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	e := newEnv(t, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return e, &buf
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	e, buf := loggedAPI(t)
	const secretName = "Secret Fund 4711"
	reqs := []struct {
		method, target, body string
		header               []string
		status               int
		route                string
	}{
		{"POST", "/portfolios", `{"name":"` + secretName + `"}`,
			[]string{"Authorization", "Bearer secret-token", "Cookie", "session=cookie-value", "X-Request-Id", "client-id-1"},
			201, "POST /portfolios"},
		{"GET", "/portfolios?q=Secret+Fund", "", []string{"Authorization", "Bearer secret-token"}, 200, "GET /portfolios"},
		{"POST", "/portfolios", `{"name":"` + secretName + `"}`, nil, 409, "POST /portfolios"},
		{"GET", "/nowhere", "", nil, 404, ""},
	}
	var ids []string
	for _, r := range reqs {
		res := e.do(t, r.method, r.target, r.body, r.header...)
		require.Equal(t, r.status, res.Code, res.Body.String())
		ids = append(ids, res.Header().Get("X-Request-Id"))
	}
	assert.Equal(t, "client-id-1", ids[0])

	lines := logLines(t, buf)
	require.Len(t, lines, len(reqs), "one line per request:\n%s", buf)
	for i, r := range reqs {
		l := lines[i]
		assert.Equal(t, "request", l["msg"])
		assert.Equal(t, r.method, l["method"])
		assert.Equal(t, strings.Split(r.target, "?")[0], l["path"], "no query string")
		assert.Equal(t, r.route, l["route"])
		assert.EqualValues(t, r.status, l["status"])
		assert.Equal(t, ids[i], l["request_id"])
		assert.Greater(t, l["duration"], 0.0)
		assert.Greater(t, l["bytes"], 0.0)
		assert.Equal(t, "INFO", l["level"], "4xx is the client's problem")
		assert.NotContains(t, l, "error")
	}
	assert.Equal(t, "already-exists", lines[2]["problem"])
	assert.Equal(t, "not-found", lines[3]["problem"])
	// Nothing of the bodies, query strings and headers those requests
	// carried.
	require.Contains(t, buf.String(), "client-id-1", "the log is the one the requests wrote")
	for _, secret := range []string{secretName, "Secret", "secret-token", "Bearer", "cookie-value", "session="} {
		assert.NotContains(t, buf.String(), secret)
	}

	// A long path is cut in the log line, at a character boundary.
	buf.Reset()
	long := "/" + strings.Repeat("é", 30000)
	require.Equal(t, http.StatusNotFound, e.do(t, "GET", long, "").Code)
	cut := logLines(t, buf)
	require.Len(t, cut, 1)
	assert.Equal(t, "/"+strings.Repeat("é", 127)+"… (60001 bytes)", cut[0]["path"])
	assert.Less(t, buf.Len(), 1000, "the whole line")

	// So is a long method.
	buf.Reset()
	require.Equal(t, http.StatusMethodNotAllowed, e.do(t, strings.Repeat("M", 60000), "/portfolios", "").Code)
	cut = logLines(t, buf)
	require.Len(t, cut, 1)
	assert.Less(t, buf.Len(), 1000, "the whole line")

	// HEAD sends no body, and the log says so.
	buf.Reset()
	require.Equal(t, http.StatusOK, e.do(t, "HEAD", "/healthz", "").Code)
	head := logLines(t, buf)
	require.Len(t, head, 1)
	assert.EqualValues(t, 0, head[0]["bytes"])
}

// TestPanicIs500: a panicking handler yields a 500 problem and an error line
// with the stack, and the server goes on serving.
func TestPanicIs500(t *testing.T) {
	t.Parallel()
	e, buf := loggedAPI(t)
	httpapi.Route(e.h, "GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom: internal detail") })
	srv := httptest.NewServer(e.h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	res := result{httptest.NewRecorder(), "/boom"}
	res.Code = resp.StatusCode
	for k, v := range resp.Header {
		res.Header()[k] = v
	}
	res.Body.Write(body)
	p := requireProblem(t, res, http.StatusInternalServerError, "internal-error", "Internal error")
	assert.Equal(t, "internal error", p.Detail)
	assert.NotContains(t, string(body), "kaboom")
	assert.Empty(t, resp.Header.Get("Retry-After"), "a bug does not go away by waiting")

	// Still serving.
	resp, err = http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	srv.Close() // the log lines are written once the handlers returned
	lines := logLines(t, buf)
	require.Len(t, lines, 2, buf.String())
	l := lines[0]
	assert.Equal(t, "ERROR", l["level"])
	assert.EqualValues(t, 500, l["status"])
	assert.Equal(t, "GET /boom", l["route"])
	assert.Equal(t, "panic: kaboom: internal detail", l["error"])
	assert.Contains(t, l["stack"], "log_test.go", "the stack shows where it panicked")
	assert.Equal(t, "INFO", lines[1]["level"])
}

// TestServerErrorsAreLogged: a 5xx line is an error with its cause.
func TestServerErrorsAreLogged(t *testing.T) {
	t.Parallel()
	e, buf := loggedAPI(t)
	e.pool.Close()
	requireProblem(t, e.do(t, "GET", "/healthz", ""), http.StatusServiceUnavailable, "unavailable", "Service unavailable")
	lines := logLines(t, buf)
	require.Len(t, lines, 1)
	assert.Equal(t, "ERROR", lines[0]["level"])
	assert.Contains(t, lines[0]["error"], "closed pool")
	assert.Equal(t, "unavailable", lines[0]["problem"])
}

// TestConcurrentChangeDetail: a change that kept colliding with others
// (here a trigger makes every save of a portfolio or security fail as a
// concurrent one would) is a 409 whose detail tells the client what was
// changed and to try again, without the runner's attempts or the
// database's words, which go to the log line.
func TestConcurrentChangeDetail(t *testing.T) {
	t.Parallel()
	e, buf := loggedAPI(t)
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	const (
		portfolio = "the portfolio was changed by another request at the same time; try again"
		security  = "the security was changed by another request at the same time; try again"
	)
	for _, c := range []struct {
		name, sqlstate, table, method, target, body string
		detail, logged                              string
	}{
		{"serialization failure", "40001", "portfolio", "PATCH", path, `{"name":"Renamed"}`, portfolio, "could not serialize"},
		{"deadlock", "40P01", "portfolio", "POST", path + "/trades", `{"side":"buy","symbol":"AAPL","quantity":"1","price":"1","date":"2024-03-01"}`, portfolio, "could not serialize"},
		{"version conflict", "FOL01", "portfolio", "PATCH", path, `{"name":"Renamed"}`, portfolio, "changed concurrently"},
		{"price", "40001", "security", "PUT", "/securities/AAPL/price", `{"price":"2","date":"2024-03-01"}`, security, "could not serialize"},
		{"new security", "40001", "security", "POST", "/securities", `{"symbol":"MSFT","name":"Microsoft"}`, security, "could not serialize"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.pool.Exec(ctx, `
				drop trigger if exists collide on portfolio;
				drop trigger if exists collide on security;
				create or replace function collide() returns trigger language plpgsql as $$
				begin
					raise exception using errcode = '`+c.sqlstate+`';
				end $$;
				create trigger collide before insert or update on `+c.table+` for each row execute function collide();`)
			require.NoError(t, err)
			before := e.dump(t)
			buf.Reset()
			res := e.do(t, c.method, c.target, c.body)
			requireExactProblem(t, res, http.StatusConflict, "concurrent-change", "Changed concurrently", c.detail, "")
			assert.Equal(t, before, e.dump(t), "nothing written")

			lines := logLines(t, buf)
			require.Len(t, lines, 1, buf.String())
			assert.Equal(t, "INFO", lines[0]["level"], "4xx is the client's problem")
			assert.Equal(t, "concurrent-change", lines[0]["problem"])
			assert.Contains(t, lines[0]["error"], "gave up after 5 attempts", "the log keeps the whole error")
			assert.Contains(t, lines[0]["error"], c.logged)
		})
	}
}
