package httpapi_test

// Fuzz tests of the request decoders, through the real handler on a real
// database: hostile bodies, headers, paths and query strings never cause a
// panic or a 5xx; every refusal is a problem whose detail says what is
// wrong, briefly; every accepted value reads back as it was sent.
//
// `go test` runs the seeds below and those in testdata/fuzz; to fuzz, run
// one target at a time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzTrade$' -fuzztime 2m -parallel 2 ./internal/httpapi/
//
// Each fuzzing worker is its own process with its own server and database.
// Every iteration starts from the same fixtures (reset), so that an input
// behaves the same whenever it runs.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
)

// Fixtures, restored before every iteration: a portfolio (version 1) with
// one lot of FIX, FIX with a price, a security in another currency, and a
// few portfolios with awkward names for searches.
var (
	fixtureID      = uuid.MustParse("0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f60")
	fixtureLot     = uuid.MustParse("0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f63")
	fixtureName    = "Fixture"
	fixtureLotQty  = decimal.RequireFromString("100")
	searchFixtures = []string{
		fixtureName,
		`100% _under_ \back\slash`,
		"Épargne 日本 📈",
		"'; DROP TABLE portfolio; --",
		"ǅ Titlecase ß straße",
	}
)

const resetSQL = `
delete from investment;
delete from portfolio;
delete from security;
insert into security (id, symbol, name, currency, last_price, price_date) values
	('0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f61', 'FIX', 'Fixture Corp.', 'USD', 12.5, '2024-01-02'),
	('0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f62', 'EURO', 'Euro SE', 'EUR', null, null);
insert into portfolio (id, name, currency, version) values
	('0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f60', 'Fixture', 'USD', 1),
	(gen_random_uuid(), '100% _under_ \back\slash', 'USD', 1),
	(gen_random_uuid(), 'Épargne 日本 📈', 'EUR', 1),
	(gen_random_uuid(), '''; DROP TABLE portfolio; --', 'USD', 1),
	(gen_random_uuid(), 'ǅ Titlecase ß straße', 'USD', 1);
insert into investment (id, portfolio_id, security_id, quantity, unit_cost, acquired_on) values
	('0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f63', '0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f60',
	 '0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f61', 100, 10, '2000-01-03');
`

func newFuzzEnv(f *testing.F) *env {
	f.Helper()
	return newEnv(f, httpapi.Options{})
}

func (e *env) reset(t *testing.T) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), resetSQL); err != nil {
		t.Fatalf("reset: %v", err)
	}
}

// send sends a request to the handler: unlike do, with any path and query
// (already escaped, as on the wire) and headers as given; an empty value
// leaves a header out.
func (e *env) send(t *testing.T, method, path, rawQuery, body string, header ...string) result {
	t.Helper()
	req := httptest.NewRequest(method, "/", strings.NewReader(body))
	u, err := url.ParseRequestURI(path) // as a server reads it: "//x" is a path
	if err != nil {
		t.Fatalf("bad test path %q: %v", path, err)
	}
	u.RawQuery = rawQuery
	req.URL, req.RequestURI = u, u.RequestURI()
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return result{rec, req.URL.EscapedPath()}
}

// validHeaderValue reports whether a server would pass v on to a handler:
// no control characters but tab (RFC 9110, 5.5). Other values are refused
// before the API sees them, so fuzzing them tests nothing.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Bounds on what a problem echoes of the request. The field is a member's
// name exactly as sent, bounded by the body's limit only.
const (
	maxDetail = 1024
	maxField  = httpapi.DefaultMaxBodyBytes
)

// checkResponse checks what every response must satisfy: a status among
// allowed (never 5xx), the API's headers, and for an error a well-formed
// problem whose detail says, briefly, what is wrong.
func checkResponse(t *testing.T, res result, allowed ...int) {
	t.Helper()
	if res.Code >= 500 || !slices.Contains(allowed, res.Code) {
		t.Fatalf("status %d, want one of %v: %s", res.Code, allowed, res.Body)
	}
	h := res.Header()
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" || h.Get("X-Request-Id") == "" {
		t.Fatalf("headers missing: %v", h)
	}
	body := res.Body.Bytes()
	if !utf8.Valid(body) {
		t.Fatalf("the body is not UTF-8: %q", body)
	}
	if res.Code < 400 {
		if res.Code != http.StatusNoContent && res.Code < 300 && h.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d with Content-Type %q", res.Code, h.Get("Content-Type"))
		}
		return
	}
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q: %s", res.Code, ct, body)
	}
	var p problem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem %q: %v", body, err)
	}
	switch {
	case p.Status != res.Code:
		t.Fatalf("problem status %d in a %d response", p.Status, res.Code)
	case !strings.HasPrefix(p.Type, httpapi.ProblemTypeBase) || p.Title == "":
		t.Fatalf("problem type %q, title %q", p.Type, p.Title)
	case p.Instance != res.path:
		t.Fatalf("problem instance %q for path %q", p.Instance, res.path)
	case strings.TrimSpace(p.Detail) == "":
		t.Fatalf("problem without detail: %s", body)
	case len(p.Field) > maxField:
		t.Fatalf("problem field of %d bytes: %.200q…", len(p.Field), p.Field)
	case len(p.Detail) > maxDetail:
		t.Fatalf("problem detail of %d bytes: %.200q…", len(p.Detail), p.Detail)
	case strings.Contains(p.Detail, "\n"):
		t.Fatalf("problem detail on several lines: %q", p.Detail)
	}
}

// sentString is what a client meant by a string member it sent: nil if it
// is absent or null. ok is false if the body is not one JSON object, if the
// member is given twice (which does the client mean?) or is not a string,
// or if its value is not exactly representable, because the body is not
// UTF-8 or a \u escape is a lone surrogate, which encoding/json silently
// turns into U+FFFD: an API that accepts such a body stores something else
// than was sent.
func sentString(t *testing.T, body, member string) (s *string, ok bool) {
	t.Helper()
	body = strings.TrimPrefix(body, "\ufeff") // the API ignores a byte order mark
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	// Member names are exact: "NAME" is not "name".
	var raw json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if k, _ := tok.(string); k == member {
			if raw != nil {
				return nil, false
			}
			raw = v
		}
	}
	if raw == nil || bytes.Equal(raw, []byte("null")) {
		return nil, utf8.ValidString(body)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	return &v, utf8.ValidString(body) && (!strings.ContainsRune(v, utf8.RuneError) || sendsReplacementChar(raw))
}

// sendsReplacementChar reports whether a JSON string holds U+FFFD itself,
// raw or escaped, rather than by replacement.
func sendsReplacementChar(raw []byte) bool {
	return bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}

// Seeds shared by the body targets.
var hostileStrings = []string{
	"", " ", "x", "'; DROP TABLE portfolio; --", "Épargne 日本 📈", "\u00a0nbsp\u00a0", "a\u200db",
	"\u202egnp.exe", "e\u0301", "a\u2028b", "a\x00b", "\x1b[2J", "NaN", "1e400", "-0", "0.0000000000",
	"999999999999999999.9999999999", "1000000000000000000", " 1", "2024-02-29", "2024-02-30", "fix", " aapl ",
	strings.Repeat("x", 101), strings.Repeat("9", 65),
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func addBodySeeds(f *testing.F, objects ...string) {
	for _, o := range objects {
		f.Add(o)
	}
	for _, b := range []string{
		"", " ", "null", "[]", "{}", `"x"`, "1", "{", "}", `{"name":}`, `{"name":"x"`, `{"name":"x"}{}`,
		`{"name":"x"} x`, `{"name":"x"}` + strings.Repeat(" ", 1000), `{"name":1}`, `{"name":null}`,
		`{"name":["x"]}`, `{"name":{"x":1}}`, `{"name":true}`, `{"name":"\ud800"}`, `{"name":"\udc00x"}`,
		`{"name":"\ud83d\udcc8"}`, `{"name":"\ufffd"}`, "{\"name\":\"\xff\"}", "{\"name\":\"a\xc3\"}",
		`{"name":"\u0000"}`, `{"NAME":"x"}`, `{"name":"x","Name":"y"}`, `{"name":"x","name":"y"}`,
		`{"nom":"x"}`, `{"` + strings.Repeat("k", 100000) + `":1}`, `{"name":"` + strings.Repeat("x", 1<<20) + `"}`,
		"\ufeff{\"name\":\"bom\"}", `{"name":"x"}` + "\x00", strings.Repeat("[", 100000),
	} {
		f.Add(b)
	}
}

// FuzzCreatePortfolio: POST /portfolios.
func FuzzCreatePortfolio(f *testing.F) {
	var seeds []string
	for _, s := range hostileStrings {
		seeds = append(seeds, `{"name":`+jsonString(s)+`}`, `{"name":"P","currency":`+jsonString(s)+`}`)
	}
	addBodySeeds(f, seeds...)
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		e.reset(t)
		before := e.dump(t)
		res := e.send(t, "POST", "/portfolios", "", body, "Content-Type", "application/json")
		checkResponse(t, res, 201, 400, 409, 413, 422)
		if res.Code != http.StatusCreated {
			e.wroteNothing(t, before, res)
			return
		}
		sent, ok := sentString(t, body, "name")
		cur, curOK := sentString(t, body, "currency")
		if sent == nil || !ok || !curOK {
			t.Fatalf("created from %q, which does not hold exactly one name", body)
		}
		want, err := domain.ParsePortfolioName(*sent)
		if err != nil {
			t.Fatalf("created with name %q: %v", *sent, err)
		}
		want = norm.NFC.String(want) // names are stored in NFC
		wantCur := "USD"
		if cur != nil {
			if wantCur, err = domain.ParseCurrency(*cur); err != nil {
				t.Fatalf("created with currency %q: %v", *cur, err)
			}
		}
		p := decodeJSON[tracker.PortfolioView](t, res)
		if p.Name != want || p.Currency != wantCur || p.Version != 1 || len(p.Lots) != 0 {
			t.Fatalf("sent %q, created %+v", body, p)
		}
		if res.Header().Get("Location") != "/portfolios/"+p.ID.String() || res.Header().Get("ETag") != `"1"` {
			t.Fatalf("headers %v", res.Header())
		}
		e.checkPortfolio(t, p)
	})
}

// wroteNothing fails the test unless every table is as it was before the
// request: one refused, redirected or that only reads writes nothing.
func (e *env) wroteNothing(t *testing.T, before string, res result) {
	t.Helper()
	if after := e.dump(t); after != before {
		t.Fatalf("%d %s, but the database changed:\nbefore %s\nafter  %s", res.Code, res.Body, before, after)
	}
}

// checkPortfolio reads a portfolio back through the API and the database.
func (e *env) checkPortfolio(t *testing.T, want tracker.PortfolioView) {
	t.Helper()
	res := e.send(t, "GET", "/portfolios/"+want.ID.String(), "", "")
	checkResponse(t, res, 200)
	got := decodeJSON[tracker.PortfolioView](t, res)
	if got.Name != want.Name || got.Currency != want.Currency || got.Version != want.Version {
		t.Fatalf("GET gives %+v after %+v", got, want)
	}
	var name string
	if err := e.pool.QueryRow(context.Background(), "select name from portfolio where id = $1", want.ID).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != want.Name {
		t.Fatalf("stored %q, answered %q", name, want.Name)
	}
}

func etagOf(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func decodeJSON[T any](t *testing.T, res result) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(res.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("response %q: %v", res.Body, err)
	}
	return v
}

// ifMatchSeeds are If-Match values for the fixture portfolio at version 1.
var ifMatchSeeds = []string{"", `"1"`, `"2"`, "*", `*, "1"`, `W/"1"`, `W/"1", "1"`, `"a,b", "1"`, `"01"`, `"+1"`, `"1", "2"`, `,,`, `"1"x`,
	`"9223372036854775808"`, `"0"`, `"-1"`, "1", `"`, `""`, `"1` + strings.Repeat(`, "1"`, 1000), `"\u00e9"`, "\"1\"\xff"}

// listsStrong1 reports whether an If-Match value lists the strong tag of
// version 1, which the fixture portfolio is at: `"1"`, but not as `W/"1"`,
// which never matches.
func listsStrong1(ifMatch string) bool {
	return strings.Contains(strings.ReplaceAll(ifMatch, `W/"1"`, ""), `"1"`) && !strings.Contains(ifMatch, "*")
}

// FuzzRenamePortfolio: PATCH /portfolios/{id} with If-Match.
func FuzzRenamePortfolio(f *testing.F) {
	for _, s := range hostileStrings {
		for _, im := range []string{"", `"1"`, `"2"`} {
			f.Add(`{"name":`+jsonString(s)+`}`, im)
		}
	}
	for _, im := range ifMatchSeeds {
		f.Add(`{"name":"Renamed"}`, im)
	}
	f.Add(`{"name":"Fixture"}`, "")
	f.Add(`{"name":"Épargne 日本 📈"}`, `"1"`)
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body, ifMatch string) {
		if !validHeaderValue(ifMatch) {
			return
		}
		e.reset(t)
		before := e.dump(t)
		res := e.send(t, "PATCH", "/portfolios/"+fixtureID.String(), "", body, "Content-Type", "application/json", "If-Match", ifMatch)
		checkResponse(t, res, 200, 400, 409, 412, 413, 422)
		if res.Code == http.StatusPreconditionFailed && (ifMatch == "" || listsStrong1(ifMatch)) {
			t.Fatalf("412 for If-Match %q at version 1", ifMatch)
		}
		if res.Code != http.StatusOK {
			e.wroteNothing(t, before, res)
			return
		}
		sent, ok := sentString(t, body, "name")
		if sent == nil || !ok {
			t.Fatalf("renamed from %q", body)
		}
		want, err := domain.ParsePortfolioName(*sent)
		if err != nil {
			t.Fatalf("renamed to %q: %v", *sent, err)
		}
		want = norm.NFC.String(want)
		// Renaming to the same name changes nothing, not even the version.
		version := int64(2)
		if want == fixtureName {
			version = 1
		}
		p := decodeJSON[tracker.PortfolioView](t, res)
		if p.Name != want || p.Version != version || res.Header().Get("ETag") != etagOf(version) || len(p.Lots) != 1 {
			t.Fatalf("sent %q, got %+v", body, p)
		}
		e.checkPortfolio(t, p)
	})
}

// FuzzAddSecurity: POST /securities.
func FuzzAddSecurity(f *testing.F) {
	var seeds []string
	for _, s := range hostileStrings {
		seeds = append(seeds,
			`{"symbol":`+jsonString(s)+`,"name":"N"}`,
			`{"symbol":"NEW","name":`+jsonString(s)+`}`,
			`{"symbol":"NEW","name":"N","currency":`+jsonString(s)+`}`)
	}
	seeds = append(seeds, `{"symbol":"brk.b","name":"Berkshire","currency":"usd"}`, `{"symbol":"FIX","name":"Twice"}`,
		`{"symbol":"NEW"}`, `{"name":"N"}`, `{"symbol":"NEW","name":"`+strings.Repeat("é", 200)+`"}`)
	addBodySeeds(f, seeds...)
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		e.reset(t)
		before := e.dump(t)
		res := e.send(t, "POST", "/securities", "", body, "Content-Type", "application/json")
		checkResponse(t, res, 201, 400, 409, 413, 422)
		if res.Code != http.StatusCreated {
			e.wroteNothing(t, before, res)
			return
		}
		sym, ok1 := sentString(t, body, "symbol")
		name, ok2 := sentString(t, body, "name")
		cur, ok3 := sentString(t, body, "currency")
		if sym == nil || name == nil || !ok1 || !ok2 || !ok3 {
			t.Fatalf("created from %q", body)
		}
		wantSym, err1 := domain.ParseSymbol(*sym)
		wantName, err2 := domain.ParseSecurityName(*name)
		wantName = norm.NFC.String(wantName)
		wantCur := "USD"
		var err3 error
		if cur != nil {
			wantCur, err3 = domain.ParseCurrency(*cur)
		}
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("created from %q: %v", body, err)
		}
		s := decodeJSON[tracker.SecurityView](t, res)
		if s.Symbol != wantSym || s.Name != wantName || s.Currency != wantCur || s.LastPrice != nil || s.PriceDate != nil {
			t.Fatalf("sent %q, created %+v", body, s)
		}
		if res.Header().Get("Location") != "/securities/"+wantSym {
			t.Fatalf("Location %q", res.Header().Get("Location"))
		}
		got := e.security(t, wantSym)
		if got.ID != s.ID || got.Name != wantName || got.Currency != wantCur {
			t.Fatalf("created %+v, listed %+v", s, got)
		}
	})
}

// security finds a security through GET /securities.
func (e *env) security(t *testing.T, symbol string) tracker.SecurityView {
	t.Helper()
	// The page after the symbol just before it: "" sorts first.
	res := e.send(t, "GET", "/securities", "limit=1000", "")
	checkResponse(t, res, 200)
	for _, s := range decodeJSON[[]tracker.SecurityView](t, res) {
		if s.Symbol == symbol {
			return s
		}
	}
	t.Fatalf("security %q not listed", symbol)
	return tracker.SecurityView{}
}

// FuzzSetPrice: PUT /securities/{symbol}/price.
func FuzzSetPrice(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add("FIX", `{"price":`+jsonString(s)+`}`)
		f.Add("FIX", `{"price":"1","date":`+jsonString(s)+`}`)
		f.Add(s, `{"price":"1"}`)
	}
	for _, sym := range []string{"fix", " FIX", "EURO", "NONE", ".", "..", "/", "FIX/price", "%2F", "FIX?x=1", "\xff"} {
		f.Add(sym, `{"price":"1","date":"2024-03-01"}`)
	}
	f.Add("FIX", `{"price":"0","date":null}`)
	f.Add("FIX", `{"price":"1","date":"9999-12-31"}`)
	f.Add("FIX", `{"price":"1","date":"`+time.Now().AddDate(0, 0, 2).Format(time.DateOnly)+`"}`)
	f.Add("FIX", `{"price":1}`)
	f.Add("FIX", `{"date":"2024-01-01"}`)
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, symbol, body string) {
		e.reset(t)
		stored := e.dump(t)
		before := time.Now().UTC()
		res := e.send(t, "PUT", "/securities/"+url.PathEscape(symbol)+"/price", "", body, "Content-Type", "application/json")
		// The mux redirects paths with empty, . or .. segments.
		checkResponse(t, res, 200, 301, 307, 308, 400, 404, 413, 422)
		if res.Code != http.StatusOK {
			e.wroteNothing(t, stored, res)
			return
		}
		price, ok1 := sentString(t, body, "price")
		date, ok2 := sentString(t, body, "date")
		if price == nil || !ok1 || !ok2 {
			t.Fatalf("priced from %q", body)
		}
		wantSym, err := domain.ParseSymbol(symbol)
		if err != nil {
			t.Fatalf("priced %q: %v", symbol, err)
		}
		wantPrice, err := domain.ParsePrice(*price)
		if err != nil {
			t.Fatalf("priced at %q: %v", *price, err)
		}
		s := decodeJSON[tracker.SecurityView](t, res)
		if s.Symbol != wantSym || s.LastPrice == nil || !s.LastPrice.Equal(wantPrice) || s.PriceDate == nil {
			t.Fatalf("sent %q, got %+v", body, s)
		}
		checkDay(t, date, *s.PriceDate, before)
		got := e.security(t, wantSym)
		if got.LastPrice == nil || !got.LastPrice.Equal(wantPrice) || got.PriceDate == nil || !got.PriceDate.Equal(s.PriceDate.Time) {
			t.Fatalf("priced %+v, listed %+v", s, got)
		}
	})
}

// checkDay checks the day of a change: the one sent, or today; never a
// day in the future, after today where it is latest (UTC+14).
func checkDay(t *testing.T, sent *string, got tracker.Date, before time.Time) {
	t.Helper()
	if err := domain.CheckDate(got.Time); err != nil {
		t.Fatalf("a change dated %s accepted: %v", got, err)
	}
	if got.After(domain.Day(time.Now().In(time.FixedZone("UTC+14", 14*60*60)))) {
		t.Fatalf("a change dated %s, in the future", got)
	}
	if sent != nil {
		want, err := domain.ParseDate(*sent)
		if err != nil || !got.Equal(want) {
			t.Fatalf("sent date %q, got %s (%v)", *sent, got, err)
		}
		return
	}
	if got.Before(domain.Day(before)) || got.After(domain.Day(time.Now().UTC())) {
		t.Fatalf("no date sent, got %s", got)
	}
}

// FuzzTrade: POST /portfolios/{id}/trades with If-Match.
func FuzzTrade(f *testing.F) {
	trade := func(side, symbol, qty, price, date string) string {
		m := map[string]string{"side": side, "symbol": symbol, "quantity": qty, "price": price}
		if date != "" {
			m["date"] = date
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, s := range hostileStrings {
		f.Add(trade("buy", "FIX", s, "10", "2024-03-01"), "")
		f.Add(trade("buy", "FIX", "1", s, "2024-03-01"), "")
		f.Add(trade("sell", "FIX", s, "10", "2024-03-01"), "")
		f.Add(trade("buy", s, "1", "10", ""), "")
		f.Add(trade(s, "FIX", "1", "10", "2024-03-01"), "")
		f.Add(trade("buy", "FIX", "1", "10", s), "")
	}
	for _, im := range ifMatchSeeds {
		f.Add(trade("buy", "FIX", "1", "10", "2024-03-01"), im)
	}
	for _, body := range []string{
		trade("BUY", "fix", "0.0000000001", "0", "1900-01-01"),
		trade("sell", "FIX", "100", "999999999999999999.9999999999", "2024-03-01"),
		trade("sell", "FIX", "100.0000000001", "1", "2024-03-01"),
		trade("sell", "FIX", "1", "1", "1999-12-31"),
		trade("buy", "EURO", "1", "1", "2024-03-01"),
		trade("buy", "NONE", "1", "1", "2024-03-01"),
		trade("buy", "FIX", "999999999999999999.9999999999", "999999999999999999.9999999999", "9999-12-31"),
		trade("buy", "FIX", "1", "1", "9999-12-31"),
		trade("buy", "FIX", "1", "1", time.Now().AddDate(0, 0, 2).Format(time.DateOnly)),
		trade("sell", "FIX", "1", "-0", "2024-03-01"),
		`{"side":"buy","symbol":"FIX","quantity":1,"price":"1"}`,
		`{"side":"buy","symbol":"FIX","quantity":"1","price":"1","date":null}`,
		`{"side":"buy","symbol":"FIX","quantity":"1"}`,
		`{"side":"buy","symbol":"FIX","quantity":"1","price":"1","lot":"x"}`,
		`{"side":"` + strings.Repeat("s", 100000) + `","symbol":"FIX","quantity":"1","price":"1"}`,
	} {
		f.Add(body, "")
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body, ifMatch string) {
		if !validHeaderValue(ifMatch) {
			return
		}
		e.reset(t)
		stored := e.dump(t)
		before := time.Now().UTC()
		res := e.send(t, "POST", "/portfolios/"+fixtureID.String()+"/trades", "", body, "Content-Type", "application/json", "If-Match", ifMatch)
		checkResponse(t, res, 200, 400, 412, 413, 422)
		if res.Code == http.StatusPreconditionFailed && (ifMatch == "" || listsStrong1(ifMatch)) {
			t.Fatalf("412 for If-Match %q at version 1", ifMatch)
		}
		if res.Code != http.StatusOK {
			e.wroteNothing(t, stored, res)
			return
		}
		var sent [5]*string
		for i, m := range []string{"side", "symbol", "quantity", "price", "date"} {
			var ok bool
			if sent[i], ok = sentString(t, body, m); !ok || (sent[i] == nil && m != "date") {
				t.Fatalf("traded from %q", body)
			}
		}
		side, err := tracker.ParseSide(*sent[0])
		if err != nil {
			t.Fatalf("traded with side %q: %v", *sent[0], err)
		}
		sym, err1 := domain.ParseSymbol(*sent[1])
		qty, err2 := domain.ParseQuantity(*sent[2])
		price, err3 := domain.ParsePrice(*sent[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("traded from %q: %v", body, err)
		}
		v := decodeJSON[tracker.TradeView](t, res)
		if v.Side != side || v.Symbol != sym || !v.Quantity.Equal(qty) || !v.Price.Equal(price) ||
			v.Portfolio != fixtureName || v.Version != 2 || res.Header().Get("ETag") != `"2"` {
			t.Fatalf("sent %q, got %+v", body, v)
		}
		checkDay(t, sent[4], v.Date, before)

		// Read back: the lot bought, or what the sale left of the fixture's.
		get := e.send(t, "GET", "/portfolios/"+fixtureID.String(), "", "")
		checkResponse(t, get, 200)
		p := decodeJSON[tracker.PortfolioView](t, get)
		if p.Version != 2 {
			t.Fatalf("version %d after a trade", p.Version)
		}
		lot := func(id uuid.UUID) *tracker.LotView {
			for i := range p.Lots {
				if p.Lots[i].ID == id {
					return &p.Lots[i]
				}
			}
			return nil
		}
		if side == tracker.Buy {
			if v.LotID == nil {
				t.Fatalf("a buy without a lot: %+v", v)
			}
			l := lot(*v.LotID)
			if l == nil || l.Symbol != sym || !l.Quantity.Equal(qty) || !l.UnitCost.Equal(price) || !l.AcquiredOn.Equal(v.Date.Time) {
				t.Fatalf("bought %s × %s on %s, read back %+v", qty, price, v.Date, l)
			}
			var q, c decimal.Decimal
			if err := e.pool.QueryRow(context.Background(), "select quantity, unit_cost from investment where id = $1", *v.LotID).Scan(&q, &c); err != nil {
				t.Fatal(err)
			}
			if !q.Equal(qty) || !c.Equal(price) {
				t.Fatalf("bought %s × %s, stored %s × %s", qty, price, q, c)
			}
			return
		}
		left := fixtureLotQty.Sub(qty)
		l := lot(fixtureLot)
		switch {
		case left.IsZero() && l != nil:
			t.Fatalf("sold all, the lot is left: %+v", l)
		case !left.IsZero() && (l == nil || !l.Quantity.Equal(left)):
			t.Fatalf("sold %s of %s, left %+v", qty, fixtureLotQty, l)
		}
	})
}

// FuzzListQuery: GET /portfolios and GET /securities with any query.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{
		"", "q=fix", "q=FIX", "q=%25", "q=_", "q=%5C", "q=%5Cback", "q=100%25+_", "q=%27", "q=%C3%A9", "q=%C3%89",
		"q=%FF", "q=%00", "q=a%00", "q=%ED%A0%80", "after=%FF", "after=%00", "after=Fixture", "after=", "limit=0",
		"limit=1", "limit=1000", "limit=1001", "limit=-1", "limit=+1", "limit=1e3", "limit=99999999999999999999",
		"limit=1&limit=2", "q=a&q=b", "Q=x", "limit", "q", "&&", "=", "%", "q=%", "q=%zz", "q;x=1", "q=x;y",
		"after=brk.b", "after=%C5%BFpy", "q=%C7%85", "q=SS", "q=" + strings.Repeat("x", 10000),
		strings.Repeat("x", 10000) + "=1", "q=" + strings.Repeat("%E6%97%A5", 200),
	} {
		f.Add(true, q)
		f.Add(false, q)
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, portfolios bool, rawQuery string) {
		e.reset(t)
		path := "/securities"
		if portfolios {
			path = "/portfolios"
		}
		if _, err := url.Parse(path + "?" + rawQuery); err != nil || strings.ContainsAny(rawQuery, "# \t") || !validHeaderValue(rawQuery) {
			return // not a request line a server would pass on
		}
		before := e.dump(t)
		res := e.send(t, "GET", path, rawQuery, "")
		checkResponse(t, res, 200, 400, 422)
		e.wroteNothing(t, before, res) // a read, answered or refused
		if res.Code != http.StatusOK || !portfolios {
			return
		}
		q, _ := url.ParseQuery(rawQuery)
		list := decodeJSON[[]tracker.PortfolioSummary](t, res)
		if q.Get("after") != "" || q.Get("limit") != "" || q.Get("q") == "" {
			return
		}
		// Every portfolio whose name holds q is found, and only ASCII
		// letters are compared without regard to case: %, _ and \ match
		// only themselves.
		contains := q.Get("q")
		names := make([]string, len(list))
		for i, p := range list {
			names[i] = p.Name
		}
		for _, n := range searchFixtures {
			if strings.Contains(n, contains) && !slices.Contains(names, n) {
				t.Fatalf("?%s does not find %q: %q", rawQuery, n, names)
			}
		}
		for _, n := range names {
			if !strings.Contains(strings.ToLower(n), strings.ToLower(contains)) && isASCII(contains) {
				t.Fatalf("?%s finds %q", rawQuery, n)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzRequest sends anything to any path: routing, path parameters and
// media types. "{id}" in the path stands for the fixture portfolio.
func FuzzRequest(f *testing.F) {
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", strings.Repeat("M", 10000)}
	for _, p := range []string{
		"/", "/healthz", "/securities", "/securities/FIX/price", "/securities/fix/price", "/securities/%FF/price",
		"/securities/%2F/price", "/securities/../portfolios", "/portfolios", "/portfolios/{id}", "/portfolios/{id}/",
		"/portfolios/{id}/trades", "/portfolios/{id}/report", "/portfolios/" + strings.ToUpper(fixtureID.String()),
		"/portfolios/{" + fixtureID.String() + "}", "/portfolios/urn:uuid:" + fixtureID.String(),
		"/portfolios/" + strings.ReplaceAll(fixtureID.String(), "-", ""), "/portfolios/00000000-0000-0000-0000-000000000000",
		"/portfolios/%00", "/portfolios/x%2Fy", "//portfolios", "/portfolios/{id}/trades/extra", "/PORTFOLIOS",
		"/portfolios/" + strings.Repeat("a", 10000), "/portfolios/{id}%00",
	} {
		for i := range methods {
			f.Add(uint8(i), p, "application/json", `{"name":"x"}`)
		}
	}
	for _, ct := range []string{"", "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json; charset=latin1",
		"text/plain", "application/json;", "application/json; charset", "application/problem+json", "APPLICATION/JSON", "application/json\x00",
		"application/json; charset=\"utf-8\"", "multipart/form-data; boundary=x", strings.Repeat("a", 10000)} {
		f.Add(uint8(1), "/portfolios", ct, `{"name":"x"}`)
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, method uint8, path, contentType, body string) {
		path = strings.ReplaceAll(path, "{id}", fixtureID.String())
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(path, "/") || u.RawQuery != "" || u.Fragment != "" || !validHeaderValue(contentType) ||
			strings.ContainsAny(path, " \t") || !validHeaderValue(path) {
			return // not a request a server would pass on
		}
		e.reset(t)
		before := e.dump(t)
		m := methods[int(method)%len(methods)]
		res := e.send(t, m, u.EscapedPath(), "", body, "Content-Type", contentType)
		checkResponse(t, res, 200, 201, 204, 301, 307, 308, 400, 404, 405, 409, 412, 413, 415, 422)
		if res.Code >= 300 || m == "GET" || m == "HEAD" || m == "OPTIONS" {
			e.wroteNothing(t, before, res)
		}
		if res.Code == http.StatusMethodNotAllowed && res.Header().Get("Allow") == "" {
			t.Fatalf("405 without Allow")
		}
	})
}
