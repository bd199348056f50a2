package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
)

// TestIfMatch shows lost-update protection on each conditional route: a
// stale ETag is refused with 412 and writes nothing; the current one
// succeeds and hands back the next.
func TestIfMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	id := p.ID.String()
	path := "/portfolios/" + id
	stale := func(t *testing.T, method, target, body, tag string) {
		t.Helper()
		before := e.dump(t)
		res := e.do(t, method, target, body, "If-Match", tag)
		pr := requireProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed")
		assert.Contains(t, pr.Detail, "precondition failed")
		assert.Empty(t, pr.Field)
		assert.Equal(t, before, e.dump(t), "nothing written")
	}

	// Someone renames the portfolio: version 1 → 2.
	res := e.do(t, "PATCH", path, `{"name":"Main 2"}`, "If-Match", `"1"`)
	p = requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
	assert.Equal(t, `"2"`, res.Header().Get("ETag"))
	assert.EqualValues(t, 2, e.version(t, id))

	t.Run("PATCH", func(t *testing.T) {
		stale(t, "PATCH", path, `{"name":"Lost update"}`, `"1"`)
		res := e.do(t, "PATCH", path, `{"name":"Main 3"}`, "If-Match", `"2"`)
		p := requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
		assert.Equal(t, "Main 3", p.Name)
		assert.Equal(t, `"3"`, res.Header().Get("ETag"))
		var name string
		require.NoError(t, e.pool.QueryRow(ctx, "select name from portfolio where id = $1", id).Scan(&name))
		assert.Equal(t, "Main 3", name)
		assert.EqualValues(t, 3, e.version(t, id))
	})

	t.Run("trades", func(t *testing.T) {
		body := `{"side":"buy","symbol":"AAPL","quantity":"1","price":"10","date":"2024-03-01"}`
		stale(t, "POST", path+"/trades", body, `"2"`)
		res := e.do(t, "POST", path+"/trades", body, "If-Match", `"3"`)
		v := requireJSON[tracker.TradeView](t, res, http.StatusCreated)
		assert.EqualValues(t, 4, v.Version)
		assert.Equal(t, `"4"`, res.Header().Get("ETag"))
		assert.Equal(t, 1, e.count(t, "investment"))
		assert.EqualValues(t, 4, e.version(t, id))
	})

	t.Run("lists and star", func(t *testing.T) {
		// Any tag of a list may match, wherever it stands.
		stale(t, "PATCH", path, `{"name":"X"}`, `"1", "2","3"`)
		res := e.do(t, "PATCH", path, `{"name":"Listed"}`, "If-Match", `"1", "4" ,"9"`)
		requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
		assert.Equal(t, `"5"`, res.Header().Get("ETag"))
		// * matches any version of a portfolio that exists.
		res = e.do(t, "PATCH", path, `{"name":"Starred"}`, "If-Match", "*")
		requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
		assert.Equal(t, `"6"`, res.Header().Get("ETag"))
		assert.EqualValues(t, 6, e.version(t, id))
	})

	t.Run("DELETE", func(t *testing.T) {
		stale(t, "DELETE", path, "", `"5"`)
		res := e.do(t, "DELETE", path, "", "If-Match", `"6"`)
		assert.Equal(t, http.StatusNoContent, res.Code, res.Body.String())
		assert.Zero(t, e.count(t, "portfolio"))
		assert.Zero(t, e.count(t, "investment"))
	})
}

// TestNoIfMatchMeansNoCheck: without If-Match a change is made whatever the
// version, which is what a client that does not opt in expects.
func TestNoIfMatchMeansNoCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	for i, name := range []string{"A", "B", "C"} {
		res := e.do(t, "PATCH", path, `{"name":"`+name+`"}`)
		requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
		assert.Equal(t, `"`+string(rune('2'+i))+`"`, res.Header().Get("ETag"))
	}
	res := e.do(t, "DELETE", path, "")
	assert.Equal(t, http.StatusNoContent, res.Code)
	assert.Zero(t, e.count(t, "portfolio"))
}
