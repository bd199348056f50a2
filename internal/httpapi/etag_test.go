package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
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
		v := requireJSON[tracker.TradeView](t, res, http.StatusOK)
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

// TestIfMatchTagsThatCannotMatch: a well-formed entity tag that this API
// never issues (weak, opaque, a version with a leading zero) simply does
// not match, as If-Match compares strongly: 412, not 400, and nothing is
// written. In a list, it does not keep the current tag from matching.
func TestIfMatchTagsThatCannotMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	trade := `{"side":"buy","symbol":"AAPL","quantity":"1","price":"10","date":"2024-03-01"}`
	const detail = `portfolio "Main": precondition failed: its ETag is "1", which If-Match does not list`
	const weak = `portfolio "Main": precondition failed: its ETag is "1", which If-Match lists only as the weak W/"1", ` +
		`and If-Match matches strong entity tags only; send "1"`

	for _, c := range []struct{ method, target, body, tag, detail string }{
		{"PATCH", path, `{"name":"Weak"}`, `W/"1"`, weak},
		{"PATCH", path, `{"name":"Weak"}`, `W/"2"`, detail},
		{"POST", path + "/trades", trade, `"abc"`, detail},
		{"DELETE", path, "", `"01"`, detail},
		{"DELETE", path, "", `W/"1", "", "a,b", "+1"`, weak},
	} {
		t.Run(c.method+" "+c.tag, func(t *testing.T) {
			before := e.dump(t)
			res := e.do(t, c.method, c.target, c.body, "If-Match", c.tag)
			requireExactProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", c.detail, "")
			assert.Empty(t, res.Header().Get("ETag"))
			assert.Equal(t, before, e.dump(t), "nothing written")
		})
	}

	// The current tag matches wherever it stands among ones that cannot,
	// including an opaque tag with a comma inside.
	res := e.do(t, "PATCH", path, `{"name":"Listed"}`, "If-Match", `W/"1", "a,b", "1"`)
	assert.Equal(t, "Listed", requireJSON[tracker.PortfolioView](t, res, http.StatusOK).Name)
	assert.Equal(t, `"2"`, res.Header().Get("ETag"))
	assert.EqualValues(t, 2, e.version(t, p.ID.String()))

	// Eight distinct tags are accepted; a ninth is too many.
	eight := `"1", "2", "3", "4", "5", "6", "7", "8"`
	res = e.do(t, "POST", path+"/trades", trade, "If-Match", eight+`, "2"`)
	assert.EqualValues(t, 3, requireJSON[tracker.TradeView](t, res, http.StatusOK).Version)
	assert.Equal(t, `"3"`, res.Header().Get("ETag"))
	assert.Equal(t, 1, e.count(t, "investment"))
	before := e.dump(t)
	res = e.do(t, "POST", path+"/trades", trade, "If-Match", eight+`, W/"3"`)
	requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
		"If-Match lists more than 8 distinct entity tags; at most 8 are accepted", "")
	assert.Equal(t, before, e.dump(t), "nothing written")
}

// TestIfMatchManyTags: a long If-Match is refused at its ninth distinct
// tag, without going through the rest (each tag was compared with every
// one before it), and repeating a tag does not count against the limit.
func TestIfMatchManyTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	trade := `{"side":"buy","symbol":"AAPL","quantity":"1","price":"10","date":"2024-03-01"}`
	before := e.dump(t)

	// The tags past the ninth are never read: had they been, the
	// malformed last one would be what the 400 says.
	tags := make([]string, 20000)
	for i := range tags {
		tags[i] = `"` + strconv.Itoa(i+2) + `"`
	}
	tags[len(tags)-1] = "unquoted"
	res := e.do(t, "POST", path+"/trades", trade, "If-Match", strings.Join(tags, ", "))
	requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
		"If-Match lists more than 8 distinct entity tags; at most 8 are accepted", "")
	assert.Equal(t, before, e.dump(t), "nothing written")

	same := strings.Repeat(`"2", `, 50000) + `"1"`
	res = e.do(t, "POST", path+"/trades", trade, "If-Match", same)
	assert.EqualValues(t, 2, requireJSON[tracker.TradeView](t, res, http.StatusOK).Version)
	assert.Equal(t, 1, e.count(t, "investment"))
}

// TestIfMatchWithoutETag: the routes whose resource has no ETag (a
// security's price, and the collections POST adds to) take If-Match: *
// when the resource exists, and refuse any entity tag with 412, as none
// can match; a missing security is 404 all the same.
func TestIfMatchWithoutETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	const detail = "precondition failed: it has no ETag, so no entity tag in If-Match can match; send If-Match: * or none"

	// *: the collections exist, and so does the security.
	sec := requireJSON[tracker.SecurityView](t, e.do(t, "POST", "/securities", `{"symbol":"AAPL","name":"Apple"}`, "If-Match", "*"), http.StatusCreated)
	assert.Equal(t, "AAPL", sec.Symbol)
	p := requireJSON[tracker.PortfolioView](t, e.do(t, "POST", "/portfolios", `{"name":"Main"}`, "If-Match", "*"), http.StatusCreated)
	assert.Equal(t, "Main", p.Name)
	sec = requireJSON[tracker.SecurityView](t, e.do(t, "PUT", "/securities/AAPL/price", `{"price":"12","date":"2024-03-01"}`, "If-Match", "*"), http.StatusOK)
	assert.Equal(t, "12", sec.LastPrice.String())
	assert.Equal(t, 1, e.count(t, "security"))
	assert.Equal(t, 1, e.count(t, "portfolio"))
	var price string
	require.NoError(t, e.pool.QueryRow(ctx, "select last_price::text from security where symbol = 'AAPL'").Scan(&price))
	assert.Equal(t, "12.0000000000", price)

	// Entity tags: 412, whatever they are.
	for _, c := range []struct{ method, target, body, tag, what string }{
		{"POST", "/securities", `{"symbol":"MSFT","name":"Microsoft"}`, `"1"`, "/securities"},
		{"POST", "/portfolios", `{"name":"Other"}`, `W/"1"`, "/portfolios"},
		{"PUT", "/securities/AAPL/price", `{"price":"13","date":"2024-03-02"}`, `"1", "2"`, "security AAPL"},
	} {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			before := e.dump(t)
			res := e.do(t, c.method, c.target, c.body, "If-Match", c.tag)
			requireExactProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", c.what+": "+detail, "")
			assert.Equal(t, before, e.dump(t), "nothing written")
		})
	}

	res := e.do(t, "PUT", "/securities/NOPE/price", `{"price":"1"}`, "If-Match", `"1"`)
	requireExactProblem(t, res, http.StatusNotFound, "not-found", "Not found", "security NOPE: not found", "")
	// A broken If-Match is still malformed.
	res = e.do(t, "POST", "/portfolios", `{"name":"Other"}`, "If-Match", `"1`)
	requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
		`malformed If-Match "\"1": use the ETag of a response, a number in double quotes, or *`, "")
	assert.Equal(t, 1, e.count(t, "portfolio"))
}

// TestIfNoneMatchOnWrites: If-None-Match makes a write conditional on the
// resource not being at the listed versions (compared weakly), or, with *,
// on there being none: the portfolio, a collection and a security all
// exist, so * fails on each with 412 and nothing written.
func TestIfNoneMatchOnWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	trade := `{"side":"buy","symbol":"AAPL","quantity":"1","price":"10","date":"2024-03-01"}`

	for _, c := range []struct{ method, target, body, tags, detail string }{
		{"PATCH", path, `{"name":"X"}`, "*", `portfolio "Main": precondition failed: it exists, and If-None-Match: * asks that it not`},
		{"DELETE", path, "", `"1"`, `portfolio "Main": precondition failed: its ETag is "1", which If-None-Match lists`},
		{"POST", path + "/trades", trade, `"7", W/"1"`, `portfolio "Main": precondition failed: its ETag is "1", which If-None-Match lists`},
		{"POST", "/portfolios", `{"name":"Other"}`, "*", `/portfolios: precondition failed: it exists, and If-None-Match: * asks that it not`},
		{"POST", "/securities", `{"symbol":"MSFT","name":"Microsoft"}`, "*", `/securities: precondition failed: it exists, and If-None-Match: * asks that it not`},
		{"PUT", "/securities/AAPL/price", `{"price":"13","date":"2024-03-02"}`, "*", `security AAPL: precondition failed: it exists, and If-None-Match: * asks that it not`},
	} {
		t.Run(c.method+" "+c.target+" "+c.tags, func(t *testing.T) {
			before := e.dump(t)
			res := e.do(t, c.method, c.target, c.body, "If-None-Match", c.tags)
			requireExactProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", c.detail, "")
			assert.Empty(t, res.Header().Get("ETag"))
			assert.Equal(t, before, e.dump(t), "nothing written")
		})
	}

	// Tags that are not the current one hold, and so do tags on a
	// resource without ETag.
	res := e.do(t, "PATCH", path, `{"name":"Renamed"}`, "If-None-Match", `"2", W/"3"`)
	assert.Equal(t, "Renamed", requireJSON[tracker.PortfolioView](t, res, http.StatusOK).Name)
	assert.Equal(t, `"2"`, res.Header().Get("ETag"))
	res = e.do(t, "PUT", "/securities/AAPL/price", `{"price":"13","date":"2024-03-02"}`, "If-None-Match", `"1"`)
	assert.Equal(t, "13", requireJSON[tracker.SecurityView](t, res, http.StatusOK).LastPrice.String())
	// With If-Match: both must hold.
	res = e.do(t, "POST", path+"/trades", trade, "If-Match", `"2"`, "If-None-Match", `"2"`)
	requireExactProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed",
		`portfolio "Renamed": precondition failed: its ETag is "2", which If-None-Match lists`, "")
	res = e.do(t, "POST", path+"/trades", trade, "If-Match", `"2"`, "If-None-Match", `"1"`)
	assert.EqualValues(t, 3, requireJSON[tracker.TradeView](t, res, http.StatusOK).Version)
	assert.Equal(t, 1, e.count(t, "investment"))
	assert.EqualValues(t, 3, e.version(t, p.ID.String()))
	// A missing portfolio is 404, as with If-Match.
	res = e.do(t, "DELETE", "/portfolios/0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f60", "", "If-None-Match", "*")
	requireProblem(t, res, http.StatusNotFound, "not-found", "Not found")
}

// TestConditionalGET: a GET (or HEAD) of a portfolio whose ETag
// If-None-Match lists, weakly compared, is 304 with the ETag and no body;
// If-Match that does not list it is 412. The resources without ETag
// answer If-None-Match: * with 304 (they exist) and any If-Match tag with
// 412. A malformed header is 400 on every route but /healthz.
func TestConditionalGET(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	e.trade(t, p.ID.String(), "buy", "AAPL", "1", "10", "2024-03-01") // version 2

	for _, method := range []string{"GET", "HEAD"} {
		for _, tags := range []string{`"2"`, `W/"2"`, `"1", "2"`, "*"} {
			res := e.do(t, method, path, "", "If-None-Match", tags)
			require.Equal(t, http.StatusNotModified, res.Code, "%s If-None-Match %s: %s", method, tags, res.Body)
			assert.Equal(t, `"2"`, res.Header().Get("ETag"))
			assert.Empty(t, res.Body.String())
			assert.Empty(t, res.Header().Get("Content-Type"))
		}
	}
	res := e.do(t, "GET", path, "", "If-None-Match", `"1"`)
	assert.Equal(t, "Main", requireJSON[tracker.PortfolioView](t, res, http.StatusOK).Name)
	assert.Equal(t, `"2"`, res.Header().Get("ETag"))
	res = e.do(t, "GET", path, "", "If-Match", `"2"`)
	assert.Len(t, requireJSON[tracker.PortfolioView](t, res, http.StatusOK).Lots, 1)
	res = e.do(t, "GET", path, "", "If-Match", `"1"`)
	requireExactProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed",
		`portfolio "Main": precondition failed: its ETag is "2", which If-Match does not list`, "")
	assert.Empty(t, res.Header().Get("ETag"))

	// Without ETag.
	for _, target := range []string{path + "/report", "/securities/AAPL", "/securities", "/portfolios"} {
		res := e.do(t, "GET", target, "", "If-None-Match", "*")
		assert.Equal(t, http.StatusNotModified, res.Code, target)
		assert.Empty(t, res.Body.String(), target)
		assert.Empty(t, res.Header().Get("ETag"), target)
		res = e.do(t, "GET", target, "", "If-None-Match", `"2"`)
		assert.Equal(t, http.StatusOK, res.Code, target)
		res = e.do(t, "GET", target, "", "If-Match", `"2"`)
		pr := requireProblem(t, res, http.StatusPreconditionFailed, "precondition-failed", "Precondition failed")
		assert.Contains(t, pr.Detail, "precondition failed: it has no ETag", target)
		res = e.do(t, "GET", target, "", "If-Match", "*")
		assert.Equal(t, http.StatusOK, res.Code, target)
	}
	// Something missing is 404 whatever the conditions.
	res = e.do(t, "GET", "/securities/NOPE", "", "If-None-Match", "*")
	requireProblem(t, res, http.StatusNotFound, "not-found", "Not found")

	for _, h := range []string{"If-Match", "If-None-Match"} {
		res := e.do(t, "GET", path, "", h, "2")
		requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
			"malformed "+h+`: 2 without the double quotes of an entity tag; send the ETag as a response gave it, quotes included ("2"), or *`, "")
		res = e.do(t, "GET", path, "", h, `"2", W/3 `)
		requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
			"malformed "+h+`: W/3 without the double quotes of an entity tag; send the ETag as a response gave it, quotes included (W/"3"), or *`, "")
		res = e.do(t, "GET", "/portfolios", "", h, `*, "2"`)
		requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
			h+" * cannot be combined with entity tags", "")
	}
	res = e.do(t, "GET", "/healthz", "", "If-Match", "garbage")
	assert.Equal(t, http.StatusOK, res.Code, res.Body.String())
}

// TestPreconditionsBeforeContent: a precondition that fails is 412 even
// when a value of the body would be refused too (RFC 9110 evaluates
// preconditions before the content is processed); when it holds, or
// without one, the value's 422 stands, and a missing portfolio is 404.
func TestPreconditionsBeforeContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	p := e.createPortfolio(t, "Main")
	path := "/portfolios/" + p.ID.String()
	missing := "/portfolios/0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f60"
	badTrade := `{"side":"buy","symbol":"AAPL","quantity":"-1","price":"10"}`
	before := e.dump(t)

	for _, c := range []struct {
		desc, method, target, body string
		header                     []string
		status                     int
		field                      string
	}{
		{"stale rename to nothing", "PATCH", path, `{"name":""}`, []string{"If-Match", `"9"`}, 412, ""},
		{"current rename to nothing", "PATCH", path, `{"name":""}`, []string{"If-Match", `"1"`}, 422, "name"},
		{"rename to nothing", "PATCH", path, `{"name":""}`, nil, 422, "name"},
		{"stale bad trade", "POST", path + "/trades", badTrade, []string{"If-Match", `"9"`}, 412, ""},
		{"bad trade, If-None-Match current", "POST", path + "/trades", badTrade, []string{"If-None-Match", `"1"`}, 412, ""},
		{"current bad trade", "POST", path + "/trades", badTrade, []string{"If-Match", `"1"`}, 422, "quantity"},
		{"bad trade on a missing portfolio, with If-Match", "POST", missing + "/trades", badTrade, []string{"If-Match", `"1"`}, 404, ""},
		{"bad trade on a missing portfolio", "POST", missing + "/trades", badTrade, nil, 404, ""},
		{"bad portfolio, If-Match a tag", "POST", "/portfolios", `{"name":""}`, []string{"If-Match", `"1"`}, 412, ""},
		{"bad portfolio, If-Match *", "POST", "/portfolios", `{"name":""}`, []string{"If-Match", `*`}, 422, "name"},
		{"bad security, If-None-Match *", "POST", "/securities", `{"symbol":"a b","name":"X"}`, []string{"If-None-Match", "*"}, 412, ""},
		{"bad price, If-Match a tag", "PUT", "/securities/AAPL/price", `{"price":"-1"}`, []string{"If-Match", `"1"`}, 412, ""},
		{"bad price of a missing security, If-Match a tag", "PUT", "/securities/NOPE/price", `{"price":"-1"}`, []string{"If-Match", `"1"`}, 404, ""},
		{"bad price", "PUT", "/securities/AAPL/price", `{"price":"-1"}`, nil, 422, "price"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			res := e.do(t, c.method, c.target, c.body, c.header...)
			require.Equal(t, c.status, res.Code, res.Body.String())
			field, _ := problemMembers(t, res)["field"].(string)
			assert.Equal(t, c.field, field)
		})
	}
	assert.Equal(t, before, e.dump(t), "nothing written")
}
