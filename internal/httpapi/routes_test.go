package httpapi_test

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	res := e.do(t, "GET", "/healthz", "")
	assert.Equal(t, map[string]string{"status": "ok"}, requireJSON[map[string]string](t, res, http.StatusOK))
	assert.Equal(t, "{\"status\":\"ok\"}\n", res.Body.String())
	// Probes add parameters of their own (cache busters, a probe name).
	res = e.do(t, "GET", "/healthz?probe=lb&t=1732600000", "")
	assert.Equal(t, map[string]string{"status": "ok"}, requireJSON[map[string]string](t, res, http.StatusOK))
}

// A database that takes connections and never answers (hung, or a
// network that drops packets) gets a 503 within the health check's own
// bound, not the request's, so that a probe hears it before giving up.
func TestHealthzOfAHungDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5432"))
	require.NoError(t, err)
	var held []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	cfg, err := pgxpool.ParseConfig("host=" + dir + " user=folio dbname=folio sslmode=disable")
	require.NoError(t, err)
	uow.ConfigurePool(cfg)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	r, err := uow.NewRunner(pool)
	require.NoError(t, err)
	h := httpapi.New(tracker.New(r), httpapi.Options{RequestTimeout: time.Minute})

	start := time.Now()
	res := do(t, h, "GET", "/healthz", "")
	requireProblem(t, res, http.StatusServiceUnavailable, "unavailable", "Service unavailable")
	assert.Less(t, time.Since(start), 10*time.Second, "the check is bounded by seconds, not the request's minute")
}

func TestSecurities(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})

	// POST: symbol and currency canonicalized, currency defaulted.
	res := e.do(t, "POST", "/securities", `{"symbol":" aapl ","name":"Apple Inc."}`)
	var created map[string]any
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &created))
	sec := requireJSON[tracker.SecurityView](t, res, http.StatusCreated)
	assert.Equal(t, "/securities/AAPL", res.Header().Get("Location"))
	assert.Equal(t, map[string]any{
		"id": sec.ID.String(), "symbol": "AAPL", "name": "Apple Inc.", "currency": "USD",
		"last_price": nil, "price_date": nil,
	}, created)
	var symbol, name, currency string
	require.NoError(t, e.pool.QueryRow(ctx, "select symbol, name, currency from security where id = $1", sec.ID).
		Scan(&symbol, &name, &currency))
	assert.Equal(t, []string{"AAPL", "Apple Inc.", "USD"}, []string{symbol, name, currency})

	// GET at the Location.
	got := requireJSON[tracker.SecurityView](t, e.do(t, "GET", res.Header().Get("Location"), ""), http.StatusOK)
	assert.Equal(t, sec, got)
	assert.Equal(t, http.StatusNotFound, e.do(t, "GET", "/securities/NOPE", "").Code)
	assert.Equal(t, http.StatusBadRequest, e.do(t, "GET", "/securities/A$B", "").Code)

	sap := requireJSON[tracker.SecurityView](t, e.do(t, "POST", "/securities", `{"symbol":"SAP","name":"SAP SE","currency":"eur"}`), http.StatusCreated)
	assert.Equal(t, "EUR", sap.Currency)
	e.addSecurity(t, "MSFT", "USD")

	// GET: symbol order, keyset pages.
	list := func(target string) []string {
		secs := requireJSON[[]tracker.SecurityView](t, e.do(t, "GET", target, ""), http.StatusOK)
		out := make([]string, len(secs))
		for i, s := range secs {
			out[i] = s.Symbol
		}
		return out
	}
	assert.Equal(t, []string{"AAPL", "MSFT", "SAP"}, list("/securities"))
	assert.Equal(t, []string{"AAPL", "MSFT"}, list("/securities?limit=2"))
	assert.Equal(t, []string{"SAP"}, list("/securities?after=msft&limit=2"))
	assert.Equal(t, "[]\n", e.do(t, "GET", "/securities?after=SAP", "").Body.String())
	// q: a part of the name or symbol, in any case.
	assert.Equal(t, []string{"SAP"}, list("/securities?q=sap+se"))
	assert.Equal(t, []string{"MSFT"}, list("/securities?q=msf"))
	assert.Equal(t, []string{"AAPL", "SAP"}, list("/securities?q=A"))
	assert.Equal(t, []string{"SAP"}, list("/securities?q=a&after=AAPL&limit=1"))

	// PUT price: on a day, then today.
	res = e.do(t, "PUT", "/securities/aapl/price", `{"price":"187.50","date":"2024-03-01"}`)
	var priced map[string]any
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &priced))
	requireJSON[tracker.SecurityView](t, res, http.StatusOK)
	assert.Equal(t, "187.5", priced["last_price"], "decimals are strings")
	assert.Equal(t, "2024-03-01", priced["price_date"])
	var price, day string
	require.NoError(t, e.pool.QueryRow(ctx, "select last_price::text, price_date::text from security where symbol = 'AAPL'").Scan(&price, &day))
	assert.Equal(t, []string{"187.5000000000", "2024-03-01"}, []string{price, day})

	today := tracker.NewDate(time.Now()).String()
	sec = requireJSON[tracker.SecurityView](t, e.do(t, "PUT", "/securities/AAPL/price", `{"price":"190"}`), http.StatusOK)
	assert.Equal(t, today, sec.PriceDate.String())
	require.NoError(t, e.pool.QueryRow(ctx, "select last_price::text, price_date::text from security where symbol = 'AAPL'").Scan(&price, &day))
	assert.Equal(t, []string{"190.0000000000", today}, []string{price, day})
}

func TestPortfolioLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.addSecurity(t, "AAPL", "USD")
	e.addSecurity(t, "MSFT", "USD")
	require.Equal(t, http.StatusOK, e.do(t, "PUT", "/securities/AAPL/price", `{"price":"120","date":"2024-03-01"}`).Code)

	// POST creates version 1.
	res := e.do(t, "POST", "/portfolios", `{"name":"  Growth  "}`)
	p := requireJSON[tracker.PortfolioView](t, res, http.StatusCreated)
	id := p.ID.String()
	assert.Equal(t, "/portfolios/"+id, res.Header().Get("Location"))
	assert.Equal(t, `"1"`, res.Header().Get("ETag"))
	assert.Equal(t, tracker.PortfolioView{ID: p.ID, Name: "Growth", Currency: "USD", Version: 1, Lots: []tracker.LotView{}}, p)
	assert.JSONEq(t, `{"id":"`+id+`","name":"Growth","currency":"USD","version":1,"lots":[]}`, res.Body.String())
	var name, currency string
	require.NoError(t, e.pool.QueryRow(ctx, "select name, currency from portfolio where id = $1", id).Scan(&name, &currency))
	assert.Equal(t, []string{"Growth", "USD"}, []string{name, currency})
	assert.EqualValues(t, 1, e.version(t, id))

	// GET.
	res = e.do(t, "GET", "/portfolios/"+id, "")
	assert.Equal(t, p, requireJSON[tracker.PortfolioView](t, res, http.StatusOK))
	assert.Equal(t, `"1"`, res.Header().Get("ETag"))

	// PATCH renames and bumps the version.
	res = e.do(t, "PATCH", "/portfolios/"+id, `{"name":"Growth & Income"}`)
	p = requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
	assert.Equal(t, "Growth & Income", p.Name)
	assert.EqualValues(t, 2, p.Version)
	assert.Equal(t, `"2"`, res.Header().Get("ETag"))
	require.NoError(t, e.pool.QueryRow(ctx, "select name from portfolio where id = $1", id).Scan(&name))
	assert.Equal(t, "Growth & Income", name)
	assert.EqualValues(t, 2, e.version(t, id))

	// POST trades: a buy makes a lot, a sell takes from it.
	res = e.do(t, "POST", "/portfolios/"+id+"/trades", `{"side":"buy","symbol":"aapl","quantity":"10","price":"100.50","date":"2024-01-02"}`)
	buy := requireJSON[tracker.TradeView](t, res, http.StatusOK)
	assert.Equal(t, `"3"`, res.Header().Get("ETag"))
	require.NotNil(t, buy.LotID)
	assert.JSONEq(t, `{"portfolio":"Growth & Income","side":"buy","symbol":"AAPL","quantity":"10","price":"100.5",
		"date":"2024-01-02","lot_id":"`+buy.LotID.String()+`","version":3}`, res.Body.String())
	var lotQty, lotCost, lotDay string
	require.NoError(t, e.pool.QueryRow(ctx, "select quantity::text, unit_cost::text, acquired_on::text from investment where id = $1", *buy.LotID).
		Scan(&lotQty, &lotCost, &lotDay))
	assert.Equal(t, []string{"10.0000000000", "100.5000000000", "2024-01-02"}, []string{lotQty, lotCost, lotDay})

	res = e.do(t, "POST", "/portfolios/"+id+"/trades", `{"side":"SELL","symbol":"AAPL","quantity":"4","price":"110","date":"2024-02-01"}`)
	sell := requireJSON[tracker.TradeView](t, res, http.StatusOK)
	assert.Equal(t, `"4"`, res.Header().Get("ETag"))
	assert.JSONEq(t, `{"portfolio":"Growth & Income","side":"sell","symbol":"AAPL","quantity":"4","price":"110",
		"date":"2024-02-01","cost_basis":"402","realized_gain":"38","version":4}`, res.Body.String())
	assert.Equal(t, "402", sell.CostBasis.String())
	require.NoError(t, e.pool.QueryRow(ctx, "select quantity::text from investment where id = $1", *buy.LotID).Scan(&lotQty))
	assert.Equal(t, "6.0000000000", lotQty)
	assert.EqualValues(t, 4, e.version(t, id))

	// A buy without a date is dated today.
	e.trade(t, id, "buy", "MSFT", "2", "400", "")
	res = e.do(t, "POST", "/portfolios/"+id+"/trades", `{"side":"buy","symbol":"MSFT","quantity":"1","price":"400"}`)
	today := requireJSON[tracker.TradeView](t, res, http.StatusOK)
	assert.Equal(t, tracker.NewDate(time.Now()), today.Date)

	// GET shows the lots in FIFO order.
	res = e.do(t, "GET", "/portfolios/"+id, "")
	p = requireJSON[tracker.PortfolioView](t, res, http.StatusOK)
	assert.Equal(t, `"6"`, res.Header().Get("ETag"))
	require.Len(t, p.Lots, 3)
	assert.Equal(t, *buy.LotID, p.Lots[0].ID)
	assert.Equal(t, "AAPL", p.Lots[0].Symbol)
	assert.Equal(t, "6", p.Lots[0].Quantity.String())
	assert.Equal(t, "603", p.Lots[0].Cost.String())
	assert.Equal(t, "2024-01-02", p.Lots[0].AcquiredOn.String())
	assert.Equal(t, "MSFT", p.Lots[1].Symbol)

	// GET report values what is priced.
	res = e.do(t, "GET", "/portfolios/"+id+"/report", "")
	rep := requireJSON[tracker.ReportView](t, res, http.StatusOK)
	assert.Empty(t, res.Header().Get("ETag"), "the report changes with prices and the day, not only with the version")
	assert.Equal(t, p.ID, rep.ID)
	assert.Equal(t, "Growth & Income", rep.Portfolio)
	assert.EqualValues(t, 6, rep.Version)
	assert.Equal(t, "1803", rep.CostBasis.String()) // 603 + 3 × 400
	assert.Equal(t, "720", rep.MarketValue.String(), "MSFT has no price")
	assert.Equal(t, 1, rep.Unpriced)
	require.Len(t, rep.Holdings, 2)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &raw))
	assert.Equal(t, "1803", raw["cost_basis"])
	assert.EqualValues(t, 6, raw["version"], "the version, for If-Match on the portfolio")

	// A new price changes the report, not the portfolio's version.
	require.Equal(t, http.StatusOK, e.do(t, "PUT", "/securities/MSFT/price", `{"price":"410","date":"2024-03-01"}`).Code)
	res = e.do(t, "GET", "/portfolios/"+id+"/report", "")
	repriced := requireJSON[tracker.ReportView](t, res, http.StatusOK)
	assert.Empty(t, res.Header().Get("ETag"))
	assert.EqualValues(t, 6, repriced.Version)
	assert.Equal(t, "1950", repriced.MarketValue.String()) // 720 + 3 × 410
	assert.EqualValues(t, 6, e.version(t, id))

	// GET list: summaries, filter and pages.
	e.createPortfolio(t, "Retirement")
	e.createPortfolio(t, "Alpha")
	sums := requireJSON[[]tracker.PortfolioSummary](t, e.do(t, "GET", "/portfolios", ""), http.StatusOK)
	require.Len(t, sums, 3)
	assert.Equal(t, []string{"Alpha", "Growth & Income", "Retirement"}, []string{sums[0].Name, sums[1].Name, sums[2].Name})
	assert.Equal(t, tracker.PortfolioSummary{ID: p.ID, Name: "Growth & Income", Currency: "USD", Version: 6, Lots: 3, CostBasis: rep.CostBasis}, sums[1])
	sums = requireJSON[[]tracker.PortfolioSummary](t, e.do(t, "GET", "/portfolios?q=RETIRE", ""), http.StatusOK)
	require.Len(t, sums, 1)
	assert.Equal(t, "Retirement", sums[0].Name)
	sums = requireJSON[[]tracker.PortfolioSummary](t, e.do(t, "GET", "/portfolios?after=Alpha&limit=1", ""), http.StatusOK)
	require.Len(t, sums, 1)
	assert.Equal(t, "Growth & Income", sums[0].Name)
	assert.Equal(t, "[]\n", e.do(t, "GET", "/portfolios?q=nothing+like+it", "").Body.String())

	// DELETE removes the portfolio and its lots.
	res = e.do(t, "DELETE", "/portfolios/"+id, "")
	assert.Equal(t, http.StatusNoContent, res.Code)
	assert.Empty(t, res.Body.String())
	requireAPIHeaders(t, result{res.ResponseRecorder, ""})
	assert.Equal(t, 2, e.count(t, "portfolio"))
	var lots int
	require.NoError(t, e.pool.QueryRow(ctx, "select count(*) from investment where portfolio_id = $1", id).Scan(&lots))
	assert.Zero(t, lots)
	requireProblem(t, e.do(t, "GET", "/portfolios/"+id, ""), http.StatusNotFound, "not-found", "Not found")
}

func TestHeadAndRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	res := e.do(t, "HEAD", "/healthz", "")
	assert.Equal(t, http.StatusOK, res.Code)

	// A sane incoming id is echoed; anything else is replaced.
	res = e.do(t, "GET", "/healthz", "", "X-Request-Id", "trace-42_abc")
	assert.Equal(t, "trace-42_abc", res.Header().Get("X-Request-Id"))
	for _, bad := range []string{"has space", "new\\nline", strings.Repeat("a", 65), "é"} {
		res = e.do(t, "GET", "/healthz", "", "X-Request-Id", bad)
		got := res.Header().Get("X-Request-Id")
		assert.NotEqual(t, bad, got)
		assert.Regexp(t, `^[A-Za-z0-9_-]{1,64}$`, got)
	}
	a, b := e.do(t, "GET", "/healthz", ""), e.do(t, "GET", "/healthz", "")
	assert.NotEqual(t, a.Header().Get("X-Request-Id"), b.Header().Get("X-Request-Id"))
}

// TestUncleanPathsRedirect: the mux's redirect to a cleaned path passes
// through the API's handling of requests without a route.
func TestUncleanPathsRedirect(t *testing.T) {
	t.Parallel()
	h := httpapi.New(nil, httpapi.Options{}) // never reaches the tracker
	res := do(t, h, "GET", "/portfolios/../healthz", "")
	assert.Equal(t, http.StatusTemporaryRedirect, res.Code)
	assert.Equal(t, "/healthz", res.Header().Get("Location"))
	requireAPIHeaders(t, res)
}

// JSON has no byte order mark, but some clients send one; RFC 8259 lets a
// parser ignore it, and the API does, rather than call the body garbled.
func TestBodyWithAByteOrderMark(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	res := e.do(t, "POST", "/portfolios", "\ufeff"+`{"name":"Marked"}`)
	p := requireJSON[tracker.PortfolioView](t, res, http.StatusCreated)
	assert.Equal(t, "Marked", p.Name)
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), "select count(*) from portfolio where name = 'Marked'").Scan(&n))
	assert.Equal(t, 1, n)
	// Only one, and only in front; offsets count it.
	p2 := requireProblem(t, e.do(t, "POST", "/portfolios", "\ufeff\ufeff"+`{"name":"Twice"}`), http.StatusBadRequest, "malformed-request", "Malformed request")
	assert.Contains(t, p2.Detail, "(at byte 4)")
}
