package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
)

// TestErrors sends one bad request per row and checks the problem it gets
// and that the database is exactly as it was.
func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	e.addSecurity(t, "SAP", "EUR")
	main := e.createPortfolio(t, "Main")
	e.createPortfolio(t, "Other")
	id := main.ID.String()
	e.trade(t, id, "buy", "AAPL", "10", "100", "2024-01-02")
	requireJSON[tracker.SecurityView](t, e.do(t, "PUT", "/securities/AAPL/price", `{"price":"120","date":"2024-03-01"}`), http.StatusOK)
	missing := uuid.Must(uuid.NewV7()).String()
	trades := "/portfolios/" + id + "/trades"
	tradeBody := func(side, symbol, quantity, price, date string) string {
		return `{"side":"` + side + `","symbol":"` + symbol + `","quantity":"` + quantity +
			`","price":"` + price + `","date":"` + date + `"}`
	}
	buy := func(quantity string) string { return tradeBody("buy", "AAPL", quantity, "1", "2024-03-01") }
	sold := e.createPortfolio(t, "Sold").ID.String()
	e.trade(t, sold, "buy", "AAPL", "10", "100", "2024-01-02")
	e.trade(t, sold, "sell", "AAPL", "5", "100", "2024-02-01")
	soldTrades := "/portfolios/" + sold + "/trades"

	const (
		malformed   = "malformed-request"
		malformedT  = "Malformed request"
		invalid     = "invalid-value"
		invalidT    = "Invalid value"
		notFound    = "not-found"
		notFoundT   = "Not found"
		method      = "method-not-allowed"
		methodT     = "Method not allowed"
		exists      = "already-exists"
		existsT     = "Already exists"
		media       = "unsupported-media-type"
		mediaT      = "Unsupported media type"
		tooLarge    = "body-too-large"
		tooLargeT   = "Request body too large"
		precond     = "precondition-failed"
		precondT    = "Precondition failed"
		insuff      = "insufficient-quantity"
		insuffT     = "Insufficient quantity"
		twoMiB      = 2 << 20
		json        = "application/json"
		contentType = "Content-Type"
	)
	cases := []struct {
		name         string
		method, path string
		body         string
		header       []string
		status       int
		slug, title  string
		field        string
		detail       string // a part of it
	}{
		// 400: the request is not what the API reads.
		{"truncated JSON", "POST", "/portfolios", `{"name":`, nil, 400, malformed, malformedT, "", "ends in the middle"},
		{"bad JSON syntax", "POST", "/portfolios", `{"name" "X"}`, nil, 400, malformed, malformedT, "", "not valid JSON"},
		{"nested past the decoder's depth", "POST", "/portfolios", `{"name":` + strings.Repeat("[", 10001), nil, 400, malformed, malformedT, "",
			"the request body nests JSON arrays or objects too deeply (at byte 10008); the API reads flat objects"},
		{"unknown field", "POST", "/portfolios", `{"name":"X","colour":"red"}`, nil, 400, malformed, malformedT, "colour", `unknown field "colour"; use name, currency`},
		{"trailing garbage", "POST", "/portfolios", `{"name":"X"} trailing`, nil, 400, malformed, malformedT, "", "data after its JSON object"},
		{"two objects", "POST", "/portfolios", `{"name":"X"}{"name":"Y"}`, nil, 400, malformed, malformedT, "", "data after its JSON object"},
		{"number for a quantity", "POST", trades, `{"side":"buy","symbol":"AAPL","quantity":5,"price":"1"}`, nil, 400, malformed, malformedT, "quantity", "quantity must be a string, not a number"},
		{"number for a price", "PUT", "/securities/AAPL/price", `{"price":12.5}`, nil, 400, malformed, malformedT, "price", "price must be a string"},
		{"number for a date", "PUT", "/securities/AAPL/price", `{"price":"12.5","date":20240301}`, nil, 400, malformed, malformedT, "date", "date must be a string"},
		{"object for a name", "POST", "/portfolios", `{"name":{"first":"X"}}`, nil, 400, malformed, malformedT, "name", "name must be a string, not an object"},
		{"boolean for a name", "POST", "/portfolios", `{"name":true}`, nil, 400, malformed, malformedT, "name", "name must be a string, not a boolean"},
		{"array body", "POST", "/portfolios", `[{"name":"X"}]`, nil, 400, malformed, malformedT, "", "must be a JSON object, not an array"},
		{"empty body", "POST", "/portfolios", "", []string{contentType, json}, 400, malformed, malformedT, "", "body is empty"},
		{"null body", "POST", "/portfolios", `null`, nil, 400, malformed, malformedT, "", "must be a JSON object, not null"},
		{"no body nor Content-Type", "POST", "/portfolios", "", nil, 400, malformed, malformedT, "", "the request body is empty; send a JSON object"},
		{"upper-case members", "POST", "/portfolios", `{"NAME":"x","CURRENCY":"EUR"}`, nil, 400, malformed, malformedT, "NAME", `unknown field "NAME": member names are case-sensitive; use "name"`},
		{"long s in a member name", "POST", "/securities", `{"ſymbol":"LONGS","name":"x"}`, nil, 400, malformed, malformedT, "ſymbol", `use "symbol"`},
		{"two names differing in case", "POST", "/portfolios", `{"name":"a","Name":"b"}`, nil, 400, malformed, malformedT, "Name", `unknown field "Name"`},
		{"a member twice", "PATCH", "/portfolios/" + id, `{"name":"a","name":"b"}`, nil, 400, malformed, malformedT, "name", "name is given more than once"},
		{"a member twice, once escaped", "POST", trades, `{"side":"buy","symbol":"AAPL","quantity":"1","price":"1","sym\u0062ol":"SAP"}`, nil, 400, malformed, malformedT, "symbol", "symbol is given more than once"},
		{"missing name", "POST", "/portfolios", `{"currency":"USD"}`, nil, 400, malformed, malformedT, "name", "name is required"},
		{"null name", "PATCH", "/portfolios/" + id, `{"name":null}`, nil, 400, malformed, malformedT, "name", "name is required"},
		{"missing symbol", "POST", "/securities", `{"name":"X"}`, nil, 400, malformed, malformedT, "symbol", "symbol is required"},
		{"missing side", "POST", trades, `{"symbol":"AAPL","quantity":"1","price":"1"}`, nil, 400, malformed, malformedT, "side", "side is required"},
		{"missing price", "PUT", "/securities/AAPL/price", `{"date":"2024-03-01"}`, nil, 400, malformed, malformedT, "price", "price is required"},
		{"malformed id on GET", "GET", "/portfolios/not-a-uuid", "", nil, 400, malformed, malformedT, "", "malformed id"},
		{"malformed id on PATCH", "PATCH", "/portfolios/123", `{"name":"X"}`, nil, 400, malformed, malformedT, "", "malformed id"},
		{"malformed id on DELETE", "DELETE", "/portfolios/" + id + "x", "", nil, 400, malformed, malformedT, "", "malformed id"},
		{"malformed id on trades", "POST", "/portfolios/nope/trades", buy("1"), nil, 400, malformed, malformedT, "", "malformed id"},
		{"malformed id on report", "GET", "/portfolios/nope/report", "", nil, 400, malformed, malformedT, "", "malformed id"},
		{"id without dashes", "GET", "/portfolios/" + strings.ReplaceAll(id, "-", ""), "", nil, 400, malformed, malformedT, "", "malformed id"},
		{"malformed symbol in path", "PUT", "/securities/no%20such!/price", `{"price":"1"}`, nil, 400, malformed, malformedT, "", "malformed symbol"},
		{"limit not a number", "GET", "/portfolios?limit=abc", "", nil, 400, malformed, malformedT, "limit", "positive integer"},
		{"limit zero", "GET", "/securities?limit=0", "", nil, 400, malformed, malformedT, "limit", "positive integer"},
		{"limit negative", "GET", "/portfolios?limit=-1", "", nil, 400, malformed, malformedT, "limit", "positive integer"},
		{"limit empty", "GET", "/securities?limit=", "", nil, 400, malformed, malformedT, "limit", `positive integer up to 1000, not ""`},
		{"limit without a value", "GET", "/portfolios?limit", "", nil, 400, malformed, malformedT, "limit", `positive integer up to 1000, not ""`},
		{"unknown parameter", "GET", "/portfolios?limt=5", "", nil, 400, malformed, malformedT, "limt", "unknown query parameter"},
		{"repeated parameter", "GET", "/portfolios?limit=1&limit=2", "", nil, 400, malformed, malformedT, "limit", "given 2 times"},
		{"query on a portfolio", "GET", "/portfolios/" + id + "?x=1", "", nil, 400, malformed, malformedT, "x", `unknown query parameter "x": this request takes none`},
		{"query on a report", "GET", "/portfolios/" + id + "/report?as_of=2024-01-01", "", nil, 400, malformed, malformedT, "as_of", "takes none"},
		{"query on a security", "GET", "/securities/AAPL?x", "", nil, 400, malformed, malformedT, "x", "takes none"},
		{"query on a rename", "PATCH", "/portfolios/" + id + "?name=Other", `{"name":"Other"}`, nil, 400, malformed, malformedT, "name", "takes none"},
		{"query on a create", "POST", "/portfolios?name=Other", `{"name":"Other"}`, nil, 400, malformed, malformedT, "name", "takes none"},
		{"query on a trade", "POST", trades + "?dry_run=1", buy("1"), nil, 400, malformed, malformedT, "dry_run", "takes none"},
		{"bad escape in query", "GET", "/portfolios?q=%zz", "", nil, 400, malformed, malformedT, "", `malformed query string: invalid URL escape "%zz"`},
		{"semicolon in query", "GET", "/portfolios?limit=1;q=a", "", nil, 400, malformed, malformedT, "", "malformed query string: invalid semicolon separator in query"},
		{"malformed after symbol", "GET", "/securities?after=no+such!", "", nil, 400, malformed, malformedT, "after", "after must be a symbol"},
		{"unquoted If-Match", "DELETE", "/portfolios/" + id, "", []string{"If-Match", `2`}, 400, malformed, malformedT, "", "malformed If-Match"},
		{"unterminated If-Match", "DELETE", "/portfolios/" + id, "", []string{"If-Match", `"2`}, 400, malformed, malformedT, "", "malformed If-Match"},
		{"If-Match without commas", "DELETE", "/portfolios/" + id, "", []string{"If-Match", `"2" "3"`}, 400, malformed, malformedT, "", "separate entity tags with commas"},
		{"star and tag If-Match", "DELETE", "/portfolios/" + id, "", []string{"If-Match", `*, "2"`}, 400, malformed, malformedT, "", "cannot be combined"},
		{"empty If-Match", "DELETE", "/portfolios/" + id, "", []string{"If-Match", ""}, 400, malformed, malformedT, "", "empty If-Match"},

		// 404: nothing there.
		{"unknown id on GET", "GET", "/portfolios/" + missing, "", nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown id on PATCH", "PATCH", "/portfolios/" + missing, `{"name":"X"}`, nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown id on DELETE", "DELETE", "/portfolios/" + missing, "", nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown id with If-Match", "DELETE", "/portfolios/" + missing, "", []string{"If-Match", `"1"`}, 404, notFound, notFoundT, "", "not found"},
		{"unknown id with a foreign If-Match", "PATCH", "/portfolios/" + missing, `{"name":"X"}`, []string{"If-Match", `"abc"`}, 404, notFound, notFoundT, "", "not found"},
		{"unknown symbol with If-Match", "PUT", "/securities/NOPE/price", `{"price":"1"}`, []string{"If-Match", `"1"`}, 404, notFound, notFoundT, "", "NOPE"},
		{"unknown symbol with If-Match *", "PUT", "/securities/NOPE/price", `{"price":"1"}`, []string{"If-Match", `*`}, 404, notFound, notFoundT, "", "NOPE"},
		{"unknown id on trades", "POST", "/portfolios/" + missing + "/trades", buy("1"), nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown id on report", "GET", "/portfolios/" + missing + "/report", "", nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown symbol on price", "PUT", "/securities/NOPE/price", `{"price":"1"}`, nil, 404, notFound, notFoundT, "", "NOPE"},
		{"unknown symbol on a bad price", "PUT", "/securities/NOPE/price", `{"price":"-1"}`, nil, 404, notFound, notFoundT, "", "NOPE"},
		{"unknown symbol on a price in the future", "PUT", "/securities/NOPE/price", `{"price":"1","date":"2999-01-01"}`, nil, 404, notFound, notFoundT, "", "NOPE"},
		{"unknown id on a bad rename", "PATCH", "/portfolios/" + missing, `{"name":""}`, nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown id on a bad trade", "POST", "/portfolios/" + missing + "/trades", buy("-5"), nil, 404, notFound, notFoundT, "", "not found"},
		{"unknown id and symbol in trade", "POST", "/portfolios/" + missing + "/trades", tradeBody("buy", "NOPE", "1", "1", "2024-03-01"), nil, 404, notFound, notFoundT, "", "portfolio " + missing + ": not found"},
		{"unknown route", "GET", "/nope", "", nil, 404, notFound, notFoundT, "", "no resource at /nope"},
		{"unknown sub-route", "GET", "/portfolios/" + id + "/lots", "", nil, 404, notFound, notFoundT, "", "no resource"},
		{"trailing slash", "GET", "/portfolios/", "", nil, 404, notFound, notFoundT, "", "no resource"},

		// 405: the route exists, the method does not.
		{"DELETE securities", "DELETE", "/securities", "", nil, 405, method, methodT, "", "DELETE is not allowed here"},
		{"PUT portfolio", "PUT", "/portfolios/" + id, `{"name":"X"}`, nil, 405, method, methodT, "", "PUT is not allowed"},
		{"POST healthz", "POST", "/healthz", `{}`, nil, 405, method, methodT, "", "POST is not allowed"},

		// 409: clashes with what is stored.
		{"duplicate portfolio name", "POST", "/portfolios", `{"name":"Main","currency":"EUR"}`, nil, 409, exists, existsT, "name", "already exists"},
		{"rename onto a taken name", "PATCH", "/portfolios/" + id, `{"name":"Other"}`, nil, 409, exists, existsT, "name", "already exists"},
		{"duplicate symbol", "POST", "/securities", `{"symbol":"aapl","name":"Apple again"}`, nil, 409, exists, existsT, "symbol", "already exists"},

		// 412: If-Match names an old version.
		{"stale If-Match on PATCH", "PATCH", "/portfolios/" + id, `{"name":"X"}`, []string{"If-Match", `"1"`}, 412, precond, precondT, "", `portfolio "Main": precondition failed: its ETag is "2", which If-Match does not list`},
		{"weak If-Match", "PATCH", "/portfolios/" + id, `{"name":"X"}`, []string{"If-Match", `W/"2"`}, 412, precond, precondT, "", `its ETag is "2", which If-Match lists only as the weak W/"2", and If-Match matches strong entity tags only; send "2"`},
		{"foreign If-Match", "POST", trades, buy("1"), []string{"If-Match", `"abc"`}, 412, precond, precondT, "", `its ETag is "2", which If-Match does not list`},
		{"leading zero If-Match", "DELETE", "/portfolios/" + id, "", []string{"If-Match", `"02"`}, 412, precond, precondT, "", `its ETag is "2", which If-Match does not list`},
		{"empty entity tag", "DELETE", "/portfolios/" + id, "", []string{"If-Match", `""`}, 412, precond, precondT, "", `its ETag is "2", which If-Match does not list`},
		{"If-Match on a price", "PUT", "/securities/AAPL/price", `{"price":"1"}`, []string{"If-Match", `"1"`}, 412, precond, precondT, "", "has no ETag"},
		{"If-Match on a new security", "POST", "/securities", `{"symbol":"NEW","name":"New"}`, []string{"If-Match", `"1"`}, 412, precond, precondT, "", "has no ETag"},
		{"If-Match on a new portfolio", "POST", "/portfolios", `{"name":"New"}`, []string{"If-Match", `W/"1"`}, 412, precond, precondT, "", "has no ETag"},

		// 413, 415: the body is refused unread.
		{"body over the limit", "POST", "/portfolios", `{"name":"` + strings.Repeat("a", twoMiB) + `"}`, nil, 413, tooLarge, tooLargeT, "", "limit is 1048576"},
		{"text/plain", "POST", "/portfolios", `{"name":"X"}`, []string{contentType, "text/plain"}, 415, media, mediaT, "", "send application/json"},
		{"gzip", "POST", "/portfolios", `{"name":"X"}`, []string{"Content-Encoding", "gzip"}, 415, media, mediaT, "", `Content-Encoding "gzip" is not accepted; send the body uncompressed`},
		{"identity then br", "PATCH", "/portfolios/" + id, `{"name":"X"}`, []string{"Content-Encoding", "identity, br"}, 415, media, mediaT, "", `Content-Encoding "br" is not accepted`},
		{"no Content-Type on POST", "POST", "/securities", `{"symbol":"X","name":"X"}`, []string{contentType, ""}, 415, media, mediaT, "", "has a body but no Content-Type"},
		{"no Content-Type", "PATCH", "/portfolios/" + id, `{"name":"X"}`, []string{contentType, ""}, 415, media, mediaT, "", "no Content-Type"},
		{"form", "POST", trades, "side=buy", []string{contentType, "application/x-www-form-urlencoded"}, 415, media, mediaT, "", "not accepted"},
		{"latin1 JSON", "PUT", "/securities/AAPL/price", `{"price":"1"}`, []string{contentType, "application/json; charset=latin1"}, 415, media, mediaT, "", "not accepted"},

		// 422: well-formed, but against the rules.
		// The portfolio is there; the security the body names is not.
		{"unknown symbol in trade", "POST", trades, tradeBody("buy", "NOPE", "1", "1", "2024-03-01"), nil, 422, invalid, invalidT, "symbol", "security NOPE: not found"},
		{"negative quantity", "POST", trades, buy("-5"), nil, 422, invalid, invalidT, "quantity", "must be greater than 0"},
		{"zero quantity", "POST", trades, buy("0"), nil, 422, invalid, invalidT, "quantity", "must be greater than 0"},
		{"quantity with 11 decimals", "POST", trades, buy("1.00000000001"), nil, 422, invalid, invalidT, "quantity", "10 after it"},
		{"40-digit quantity", "POST", trades, buy(strings.Repeat("9", 40)), nil, 422, invalid, invalidT, "quantity", "18 digits"},
		{"exponent quantity", "POST", trades, buy("1e3"), nil, 422, invalid, invalidT, "quantity", "without sign, exponent"},
		{"negative price", "PUT", "/securities/AAPL/price", `{"price":"-1"}`, nil, 422, invalid, invalidT, "price", "must not be negative"},
		{"price not a number", "POST", trades, tradeBody("buy", "AAPL", "1", "abc", "2024-03-01"), nil, 422, invalid, invalidT, "price", "invalid price"},
		{"empty name", "POST", "/portfolios", `{"name":""}`, nil, 422, invalid, invalidT, "name", "must not be empty"},
		{"blank name", "PATCH", "/portfolios/" + id, `{"name":"   "}`, nil, 422, invalid, invalidT, "name", "must not be empty"},
		{"name too long", "POST", "/portfolios", `{"name":"` + strings.Repeat("é", 101) + `"}`, nil, 422, invalid, invalidT, "name", "at most 100 characters"},
		{"name with a tab", "POST", "/portfolios", `{"name":"a\tb"}`, nil, 422, invalid, invalidT, "name", "control characters"},
		{"empty security name", "POST", "/securities", `{"symbol":"X","name":""}`, nil, 422, invalid, invalidT, "name", "must not be empty"},
		{"invalid currency", "POST", "/portfolios", `{"name":"X","currency":"US"}`, nil, 422, invalid, invalidT, "currency", "three letters"},
		{"invalid security currency", "POST", "/securities", `{"symbol":"X","name":"X","currency":"€"}`, nil, 422, invalid, invalidT, "currency", "three letters"},
		{"invalid symbol", "POST", "/securities", `{"symbol":"no such!","name":"X"}`, nil, 422, invalid, invalidT, "symbol", "invalid symbol"},
		{"invalid symbol in trade", "POST", trades, tradeBody("buy", "a b", "1", "1", "2024-03-01"), nil, 422, invalid, invalidT, "symbol", "invalid symbol"},
		{"invalid side", "POST", trades, tradeBody("hold", "AAPL", "1", "1", "2024-03-01"), nil, 422, invalid, invalidT, "side", "use buy or sell"},
		{"February 30th in a trade", "POST", trades, tradeBody("buy", "AAPL", "1", "1", "2024-02-30"), nil, 422, invalid, invalidT, "date", `"2024-02-30"`},
		{"February 30th for a price", "PUT", "/securities/AAPL/price", `{"price":"1","date":"2024-02-30"}`, nil, 422, invalid, invalidT, "date", "invalid date"},
		{"American date", "PUT", "/securities/AAPL/price", `{"price":"1","date":"03/01/2024"}`, nil, 422, invalid, invalidT, "date", "YYYY-MM-DD"},
		{"currency mismatch", "POST", trades, tradeBody("buy", "SAP", "1", "1", "2024-03-01"), nil, 422, invalid, invalidT, "symbol", "currency"},
		{"trade dated in the future", "POST", trades, tradeBody("buy", "AAPL", "1", "1", "2999-01-01"), nil, 422, invalid, invalidT, "date", "invalid date 2999-01-01: it is in the future"},
		{"price dated in the future", "PUT", "/securities/AAPL/price", `{"price":"1","date":"2999-01-01"}`, nil, 422, invalid, invalidT, "date", "invalid date 2999-01-01: it is in the future"},
		{"price older than the current one", "PUT", "/securities/AAPL/price", `{"price":"1","date":"2024-02-01"}`, nil, 422, invalid, invalidT, "date", "older than the current price of 2024-03-01"},
		{"page too large", "GET", "/portfolios?limit=1001", "", nil, 400, malformed, malformedT, "limit", "up to 1000"},
		{"sell more than held", "POST", trades, tradeBody("sell", "AAPL", "10.5", "1", "2024-03-01"), nil, 422, insuff, insuffT, "quantity", "insufficient quantity"},
		{"sell before the buy", "POST", trades, tradeBody("sell", "AAPL", "1", "1", "2024-01-01"), nil, 422, insuff, insuffT, "quantity", "insufficient quantity"},
		{"buy before the latest sale", "POST", soldTrades, tradeBody("buy", "AAPL", "1", "1", "2024-01-31"), nil, 422, "out-of-order", "Trade out of date order", "date",
			"the latest sale from this portfolio is dated 2024-02-01, and a buy dated 2024-01-31, before it,"},
		{"sell before the latest sale", "POST", soldTrades, tradeBody("sell", "AAPL", "1", "1", "2024-01-15"), nil, 422, "out-of-order", "Trade out of date order", "date",
			"a sale dated 2024-01-15, before it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.dump(t)
			res := e.do(t, c.method, c.path, c.body, c.header...)
			p := requireProblem(t, res, c.status, c.slug, c.title)
			assert.Equal(t, c.field, p.Field)
			assert.Contains(t, p.Detail, c.detail)
			assert.Equal(t, before, e.dump(t), "nothing written")
			switch c.status {
			case http.StatusMethodNotAllowed:
				assert.NotEmpty(t, res.Header().Get("Allow"))
			case http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
				assert.Empty(t, res.Header().Get("ETag"), "an ETag only comes with a portfolio")
			case http.StatusUnsupportedMediaType:
				// What the route accepts instead: a media type, or no
				// content coding.
				accept := map[string]string{"POST": "Accept-Post", "PATCH": "Accept-Patch"}
				coded := strings.Contains(c.detail, "Content-Encoding")
				if coded {
					assert.Equal(t, "identity", res.Header().Get("Accept-Encoding"))
				} else {
					assert.Empty(t, res.Header().Get("Accept-Encoding"))
				}
				for _, h := range []string{"Accept-Post", "Accept-Patch"} {
					if h == accept[c.method] && !coded {
						assert.Equal(t, "application/json", res.Header().Get(h), h)
					} else {
						assert.Empty(t, res.Header().Get(h), h)
					}
				}
			}
			assert.Empty(t, res.Header().Get("Retry-After"), "only a 503 says when to retry")
		})
	}
}

// A method a route does not have is 405 with the ones it has in Allow;
// OPTIONS is 204 with the same Allow, and the body type its POST or PATCH
// takes.
func TestMethodNotAllowedListsTheMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	for path, want := range map[string]struct{ allow, post, patch string }{
		"/healthz":                        {"GET, HEAD, OPTIONS", "", ""},
		"/securities":                     {"GET, HEAD, POST, OPTIONS", "application/json", ""},
		"/securities/AAPL/price":          {"PUT, OPTIONS", "", ""},
		"/portfolios/" + uuid.NewString(): {"DELETE, GET, HEAD, PATCH, OPTIONS", "", "application/json"},
		"/portfolios/" + uuid.NewString() + "/trades": {"POST, OPTIONS", "application/json", ""},
		"/portfolios/" + uuid.NewString() + "/report": {"GET, HEAD, OPTIONS", "", ""},
	} {
		res := e.do(t, "TRACE", path, "")
		requireProblem(t, res, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed")
		assert.Equal(t, want.allow, res.Header().Get("Allow"), path)

		res = e.do(t, "OPTIONS", path, "")
		assert.Equal(t, http.StatusNoContent, res.Code, path)
		assert.Empty(t, res.Body.String(), path)
		assert.Equal(t, want.allow, res.Header().Get("Allow"), path)
		assert.Equal(t, want.post, res.Header().Get("Accept-Post"), path)
		assert.Equal(t, want.patch, res.Header().Get("Accept-Patch"), path)
	}
}

func TestRequestTimeoutIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RequestTimeout: time.Nanosecond})
	before := e.dump(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/portfolios", ""},
		{"POST", "/portfolios", `{"name":"Late"}`},
	} {
		res := e.do(t, c.method, c.path, c.body)
		p := requireProblem(t, res, http.StatusServiceUnavailable, "timeout", "Request timed out")
		assert.Equal(t, "the request took longer than the server allows; try again later", p.Detail)
		assert.Equal(t, "5", res.Header().Get("Retry-After"))
	}
	assert.Equal(t, before, e.dump(t))
}

// TestContentHeadersOfABody: two Content-Type headers are malformed (which
// would the body be?); Content-Encoding identity, which is no coding, is
// accepted.
func TestContentHeadersOfABody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	for _, types := range [][]string{{"application/json", "text/plain"}, {"text/plain", "application/json"}, {"application/json", "application/json"}} {
		req := httptest.NewRequest("POST", "/portfolios", strings.NewReader(`{"name":"Two types"}`))
		req.Header["Content-Type"] = types
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		res := result{rec, "/portfolios"}
		requireExactProblem(t, res, http.StatusBadRequest, "malformed-request", "Malformed request",
			"the request has 2 Content-Type headers; send one, application/json", "")
	}
	assert.Zero(t, e.count(t, "portfolio"))
	res := e.do(t, "POST", "/portfolios", `{"name":"Plain"}`, "Content-Encoding", "identity")
	assert.Equal(t, "Plain", requireJSON[tracker.PortfolioView](t, res, http.StatusCreated).Name)
}

// TestPriceWithoutDateBeforeTheCurrentOne: a price sent without a date is
// today's, in UTC; a current price dated later (tomorrow is allowed: it is
// tomorrow somewhere) refuses it, and the problem names no field, since
// the client sent no date, and says which today it was.
func TestPriceWithoutDateBeforeTheCurrentOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	today := time.Now().UTC()
	tomorrow := today.AddDate(0, 0, 1).Format(time.DateOnly)
	_, err := e.pool.Exec(ctx, "update security set last_price = 10, price_date = $1 where symbol = 'AAPL'", tomorrow)
	require.NoError(t, err)
	before := e.dump(t)
	res := e.do(t, "PUT", "/securities/AAPL/price", `{"price":"11"}`)
	p := requireProblem(t, res, http.StatusUnprocessableEntity, "invalid-value", "Invalid value")
	assert.Empty(t, p.Field)
	_, hasField := problemMembers(t, res)["field"]
	assert.False(t, hasField)
	assert.Equal(t, "AAPL on "+today.Format(time.DateOnly)+" (today in UTC, as no date was given): invalid price: older than the current price of "+tomorrow, p.Detail)
	assert.Equal(t, before, e.dump(t), "nothing written")
}

// A stored row the domain refuses (written by another tool) is the
// server's problem, not the client's: 500 with the fixed detail, the real
// error in the log, not a 422 that blames the request.
func TestCorruptStoredRowIs500(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	p := e.createPortfolio(t, "Main")
	_, err := e.pool.Exec(ctx, `alter table portfolio drop constraint portfolio_name_plain`)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `update portfolio set name = 'Main'||chr(9)`)
	require.NoError(t, err)
	for _, target := range []string{"/portfolios/" + p.ID.String(), "/portfolios"} {
		res := e.do(t, "GET", target, "")
		requireExactProblem(t, res, http.StatusInternalServerError, "internal-error", "Internal error", "internal error", "")
	}
}
