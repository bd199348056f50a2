package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
)

// TestMemberNamesAreExact: a member is read only under its exact name,
// and only once. encoding/json alone would take "NAME", "Name" and
// "ſymbol" (with a long s, U+017F) for "name" and "symbol", and the last
// of two members with one name.
func TestMemberNamesAreExact(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	id := p.ID.String()
	for _, c := range []struct {
		name, method, target, body string
		field, detail              string
	}{
		{"upper case", "POST", "/portfolios", `{"NAME":"x","CURRENCY":"EUR"}`,
			"NAME", `unknown field "NAME": member names are case-sensitive; use "name"`},
		{"long s", "POST", "/securities", `{"ſymbol":"LONGS","name":"Long S","currency":"USD"}`,
			"ſymbol", `unknown field "ſymbol": member names are case-sensitive; use "symbol"`},
		{"long s escaped", "POST", "/securities", `{"name":"Long S","\u017fymbol":"LONGS"}`,
			"ſymbol", `unknown field "ſymbol": member names are case-sensitive; use "symbol"`},
		{"two cases", "PATCH", "/portfolios/" + id, `{"name":"a","Name":"b"}`,
			"Name", `unknown field "Name": member names are case-sensitive; use "name"`},
		{"twice", "POST", "/portfolios", `{"name":"a","currency":"USD","name":"b"}`,
			"name", "name is given more than once"},
		{"twice, once escaped", "PUT", "/securities/AAPL/price", `{"price":"1","pr\u0069ce":"2"}`,
			"price", "price is given more than once"},
		{"twice as null", "POST", "/portfolios/" + id + "/trades", `{"side":"buy","symbol":"AAPL","quantity":"1","price":"1","date":null,"date":"2024-03-01"}`,
			"date", "date is given more than once"},
		{"unknown", "POST", "/portfolios/" + id + "/trades", `{"side":"buy","symbol":"AAPL","quantity":"1","price":"1","lot":"x"}`,
			"lot", `unknown field "lot"; use side, symbol, quantity, price, date`},
		{"null", "POST", "/securities", `null`, "", "the request body must be a JSON object, not null"},
		{"null with space", "PATCH", "/portfolios/" + id, " null\n", "", "the request body must be a JSON object, not null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.dump(t)
			res := e.do(t, c.method, c.target, c.body)
			requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request", c.detail, c.field)
			assert.Equal(t, before, e.dump(t), "nothing written")
		})
	}

	// An escape is the same name: JSON compares names after unescaping.
	q := requireJSON[tracker.PortfolioView](t, e.do(t, "POST", "/portfolios", `{"n\u0061me":"Escaped"}`), http.StatusCreated)
	var name string
	require.NoError(t, e.pool.QueryRow(ctx, "select name from portfolio where id = $1", q.ID).Scan(&name))
	assert.Equal(t, "Escaped", name)
}

// TestFieldIsTheMemberName: a problem's field is the name of the member
// or query parameter at fault exactly as sent, however long (the detail
// quotes it cut short), and present when that name is empty, which the
// detail says in words.
func TestFieldIsTheMemberName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	long := strings.Repeat("n", 70) + "日本"
	for _, c := range []struct {
		name, method, target, body string
		field, detail              string
	}{
		{"empty member", "POST", "/portfolios", `{"":"x","name":"Main"}`,
			"", `unknown field: an empty member name ""; use name, currency`},
		{"long member", "POST", "/portfolios", `{"` + long + `":"x"}`,
			long, `unknown field "` + strings.Repeat("n", 64) + `…"; use name, currency`},
		{"empty parameter", "GET", "/portfolios?=x", "",
			"", `unknown query parameter: an empty parameter name ""; use q, after, limit`},
		{"long parameter", "GET", "/securities?" + long + "=x", "",
			long, `unknown query parameter "` + strings.Repeat("n", 64) + `…"; use q, after, limit`},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.dump(t)
			res := e.do(t, c.method, c.target, c.body)
			p := requireProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request")
			assert.Equal(t, c.detail, p.Detail)
			assert.Equal(t, map[string]any{
				"type": httpapi.ProblemTypeBase + "malformed-request", "title": "Malformed request", "status": 400.0,
				"detail": c.detail, "instance": res.path, "field": c.field,
			}, problemMembers(t, res))
			assert.Equal(t, before, e.dump(t), "nothing written")
		})
	}
}

// TestEmptyBodies: a request without a body is told that its body is
// missing, not that it lacks a Content-Type; a body without one is still
// 415, with what the route accepts.
func TestEmptyBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	const empty = "the request body is empty; send a JSON object"
	before := e.dump(t)

	// Content-Length: 0, no Content-Type.
	for _, c := range []struct{ method, target string }{{"POST", "/portfolios"}, {"PATCH", path}, {"PUT", "/securities/X/price"}} {
		res := e.do(t, c.method, c.target, "")
		requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request", empty, "")
	}
	// Streamed, of unknown length, and empty.
	res := doReader(t, e.h, "POST", "/securities", io.MultiReader(strings.NewReader("")), false)
	requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request", empty, "")
	// Streamed, not empty, without Content-Type.
	res = doReader(t, e.h, "POST", "/securities", io.MultiReader(strings.NewReader(`{"symbol":"X","name":"X"}`)), false)
	requireExactProblem(t, res, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
		"the request has a body but no Content-Type; send application/json", "")
	assert.Equal(t, "application/json", res.Header().Get("Accept-Post"))
	res = e.do(t, "PATCH", path, `{"name":"X"}`, "Content-Type", "text/plain")
	requireExactProblem(t, res, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
		`Content-Type "text/plain" is not accepted; send application/json (UTF-8)`, "")
	assert.Equal(t, "application/json", res.Header().Get("Accept-Patch"))
	assert.Empty(t, res.Header().Get("Accept-Post"))

	// Over a real connection, as curl -XPOST sends it.
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	req, err := http.NewRequest("POST", srv.URL+"/portfolios", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), `"detail":"`+empty+`"`)

	assert.Equal(t, before, e.dump(t), "nothing written")
}
