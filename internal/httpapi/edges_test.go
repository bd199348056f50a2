package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// TestRequestEdges: the edges of what a request may be, each on its right
// side: a body of exactly the limit, an escaped surrogate pair (as
// Python's json.dumps writes an emoji), an empty element of a header list
// (RFC 9110, 5.6.1) are accepted; a broken surrogate pair, a NUL in a
// query value, a signed limit and a space inside an entity tag are not.
func TestRequestEdges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	main := e.createPortfolio(t, "Main")
	path := "/portfolios/" + main.ID.String()

	pf := requireJSON[tracker.PortfolioView](t, e.do(t, "POST", "/portfolios", `{"name":"\ud83d\udcc8 Growth"}`), http.StatusCreated)
	assert.Equal(t, "📈 Growth", pf.Name)
	pf = requireJSON[tracker.PortfolioView](t, e.do(t, "POST", "/portfolios", `{"name":"Plain"}`, "Content-Encoding", ", identity"), http.StatusCreated)
	assert.Equal(t, "Plain", pf.Name)

	r, err := uow.NewRunner(e.pool)
	assert.NoError(t, err)
	small := httpapi.New(tracker.New(r), httpapi.Options{MaxBodyBytes: 16})
	pf = requireJSON[tracker.PortfolioView](t, do(t, small, "POST", "/portfolios", `{"name":"Sixte"}`), http.StatusCreated)
	assert.Equal(t, "Sixte", pf.Name, "a body of 16 bytes, the limit")
	requireProblem(t, do(t, small, "POST", "/portfolios", `{"name":"Seven"} `), http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large")

	before := e.dump(t)
	requireExactProblem(t, e.do(t, "POST", "/portfolios", `{"name":"\ud800\ue000"}`), http.StatusBadRequest, "malformed-request", "Malformed request",
		"the request body has a \\u escape at byte 9 that is half of a UTF-16 surrogate pair; send valid Unicode text", "")
	requireExactProblem(t, e.do(t, "GET", "/portfolios?after=%00", ""), http.StatusBadRequest, "malformed-request", "Malformed request",
		`query parameter after must be UTF-8 text without NUL characters, not "\x00"`, "after")
	requireExactProblem(t, e.do(t, "GET", "/portfolios?limit=%2B5", ""), http.StatusBadRequest, "malformed-request", "Malformed request",
		`limit must be a positive integer up to 1000, not "+5"`, "limit")
	requireExactProblem(t, e.do(t, "PATCH", path, `{"name":"X"}`, "If-Match", `"a b"`), http.StatusBadRequest, "malformed-request", "Malformed request",
		`malformed If-Match "\"a b\"": use the ETag of a response, a number in double quotes, or *`, "")
	// A stale tag is found before the content is checked, and the 412
	// names the portfolio.
	requireExactProblem(t, e.do(t, "PATCH", path, `{"name":""}`, "If-Match", `"7"`), http.StatusPreconditionFailed, "precondition-failed", "Precondition failed",
		`portfolio "Main": precondition failed: its ETag is "1", which If-Match does not list`, "")
	assert.Equal(t, before, e.dump(t), "nothing written")
}
