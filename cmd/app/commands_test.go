package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// The --json shapes, with decimals as strings: decoding a JSON number into
// one of these fails, so a decimal printed as a number fails the test.

type securityJSON struct {
	ID        uuid.UUID `json:"id"`
	Symbol    string    `json:"symbol"`
	Name      string    `json:"name"`
	Currency  string    `json:"currency"`
	LastPrice *string   `json:"last_price"`
	PriceDate *string   `json:"price_date"`
}

type lotJSON struct {
	ID         uuid.UUID `json:"id"`
	SecurityID uuid.UUID `json:"security_id"`
	Symbol     string    `json:"symbol"`
	Quantity   string    `json:"quantity"`
	UnitCost   string    `json:"unit_cost"`
	Cost       string    `json:"cost"`
	AcquiredOn string    `json:"acquired_on"`
}

type portfolioJSON struct {
	ID       uuid.UUID  `json:"id"`
	Name     string     `json:"name"`
	Currency string     `json:"currency"`
	Version  int64      `json:"version"`
	Lots     []*lotJSON `json:"lots"`
}

type summaryJSON struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Currency  string    `json:"currency"`
	Version   int64     `json:"version"`
	Lots      int       `json:"lots"`
	CostBasis string    `json:"cost_basis"`
}

type tradeJSON struct {
	Portfolio    string     `json:"portfolio"`
	Side         string     `json:"side"`
	Symbol       string     `json:"symbol"`
	Quantity     string     `json:"quantity"`
	Price        string     `json:"price"`
	Date         string     `json:"date"`
	LotID        *uuid.UUID `json:"lot_id"`
	CostBasis    *string    `json:"cost_basis"`
	RealizedGain *string    `json:"realized_gain"`
	Version      int64      `json:"version"`
}

type importJSON struct {
	Portfolio string `json:"portfolio"`
	Trades    int    `json:"trades"`
	Buys      int    `json:"buys"`
	Sells     int    `json:"sells"`
	Realized  string `json:"realized_gain"`
	Version   int64  `json:"version"`
}

type holdingJSON struct {
	Symbol         string  `json:"symbol"`
	Name           string  `json:"name"`
	Quantity       string  `json:"quantity"`
	CostBasis      string  `json:"cost_basis"`
	Price          *string `json:"price"`
	PriceDate      *string `json:"price_date"`
	MarketValue    *string `json:"market_value"`
	UnrealizedGain *string `json:"unrealized_gain"`
	Weight         *string `json:"weight"`
}

type reportJSON struct {
	ID             uuid.UUID     `json:"id"`
	Portfolio      string        `json:"portfolio"`
	Currency       string        `json:"currency"`
	Version        int64         `json:"version"`
	AsOf           string        `json:"as_of"`
	Holdings       []holdingJSON `json:"holdings"`
	CostBasis      string        `json:"cost_basis"`
	MarketValue    string        `json:"market_value"`
	UnrealizedGain string        `json:"unrealized_gain"`
	Unpriced       int           `json:"unpriced"`
}

func ptr[T any](v T) *T { return &v }

func TestSecurityAddListAndPriceSet(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)

	assert.Equal(t, "No securities yet: add one with 'security add SYMBOL --name NAME'.\n", c.ok(t, "security", "list"))
	var none []securityJSON
	c.okJSON(t, &none, "security", "list")
	assert.NotNil(t, none, "an empty list is [], not null")
	assert.Empty(t, none)

	assert.Equal(t, "Added AAPL (Apple Inc., USD).\n", c.ok(t, "security", "add", "aapl", "--name", "Apple Inc."))
	var msft securityJSON
	c.okJSON(t, &msft, "security", "add", "--currency", "eur", "MSFT", "--name", "Microsoft Corp.")
	assert.Equal(t, securityJSON{ID: msft.ID, Symbol: "MSFT", Name: "Microsoft Corp.", Currency: "EUR"}, msft)
	assert.NotEqual(t, uuid.Nil, msft.ID)

	assert.Equal(t, []string{
		"SYMBOL  NAME             CURRENCY  PRICE  DATE",
		"AAPL    Apple Inc.       USD           -  -",
		"MSFT    Microsoft Corp.  EUR           -  -",
	}, lines(c.ok(t, "security", "list")))

	assert.Equal(t, "AAPL: 190.50 on 2024-06-28.\n", c.ok(t, "price", "set", "aapl", "190.5", "--date", "2024-06-28"))
	var priced securityJSON
	c.okJSON(t, &priced, "price", "set", "MSFT", "415.1234", "--date", "2024-06-27")
	assert.Equal(t, securityJSON{ID: msft.ID, Symbol: "MSFT", Name: "Microsoft Corp.", Currency: "EUR",
		LastPrice: ptr("415.1234"), PriceDate: ptr("2024-06-27")}, priced)

	assert.Equal(t, []string{
		"SYMBOL  NAME             CURRENCY     PRICE  DATE",
		"AAPL    Apple Inc.       USD         190.50  2024-06-28",
		"MSFT    Microsoft Corp.  EUR       415.1234  2024-06-27",
	}, lines(c.ok(t, "security", "list")))
	assert.Equal(t, []string{
		"SYMBOL  NAME             CURRENCY     PRICE  DATE",
		"MSFT    Microsoft Corp.  EUR       415.1234  2024-06-27",
	}, lines(c.ok(t, "security", "list", "--search", "micro")))
	assert.Equal(t, "No security's name or symbol contains \"zz\".\n", c.ok(t, "security", "list", "--search", "zz"))
	var all []securityJSON
	c.okJSON(t, &all, "security", "list", "--search", "a")
	require.Len(t, all, 1, "AAPL; MSFT's name has no a")
	c.okJSON(t, &all, "security", "list")
	require.Len(t, all, 2)
	assert.Equal(t, "AAPL", all[0].Symbol)
	assert.Equal(t, ptr("190.5"), all[0].LastPrice)
	assert.Equal(t, priced, all[1])

	// Without --date the price is today's.
	began := time.Now()
	out := c.ok(t, "price", "set", "AAPL", "191")
	today := queryOne[string](t, pool, "select price_date::text from security where symbol = 'AAPL'")
	requireToday(t, today, began)
	assert.Equal(t, "AAPL: 191.00 on "+today+".\n", out)

	type row struct{ Symbol, Name, Currency, Price, Date string }
	rows, err := pool.Query(t.Context(), "select symbol, name, currency, last_price::text, price_date::text from security order by symbol")
	require.NoError(t, err)
	var got []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.Symbol, &r.Name, &r.Currency, &r.Price, &r.Date))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []row{
		{"AAPL", "Apple Inc.", "USD", "191.0000000000", today},
		{"MSFT", "Microsoft Corp.", "EUR", "415.1234000000", "2024-06-27"},
	}, got)
}

func TestPriceImport(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "security", "add", "MSFT", "--name", "Microsoft")
	c.ok(t, "security", "add", "BRK.B", "--name", "Berkshire B")

	// A header, a symbol given twice (the later day wins, whatever the
	// order), lower case and spaces around fields.
	file := writeFile(t, "prices.csv", "symbol,date,price\n"+
		"AAPL,2024-06-28,190.5\n"+
		"msft, 2024-06-28 ,415.10\n"+
		"AAPL,2024-06-27,180\n"+
		"BRK.B,2024-06-28,0.0001\n")
	assert.Equal(t, "Imported 3 prices for 3 securities.\nSkipped 1 older than a price already known for the same security.\n",
		c.ok(t, "price", "import", file))
	assert.Equal(t, "190.5000000000 2024-06-28", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'AAPL'"))
	assert.Equal(t, "415.1000000000 2024-06-28", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'MSFT'"))
	assert.Equal(t, "0.0001000000 2024-06-28", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'BRK.B'"))

	// From standard input, without a header.
	c.stdin = "AAPL,2024-07-01,200\nMSFT,2024-07-01,420\n"
	var res map[string]int
	c.okJSON(t, &res, "price", "import", "-")
	assert.Equal(t, map[string]int{"imported": 2, "securities": 2, "skipped": 0}, res)

	// Two days of one security set two prices, and leave the last.
	c.stdin = "AAPL,2024-07-02,201\nAAPL,2024-07-03,202\n"
	assert.Equal(t, "Imported 2 prices for 1 security.\n", c.ok(t, "price", "import", "-"))
	assert.Equal(t, "202.0000000000 2024-07-03", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'AAPL'"))
	_, err := pool.Exec(t.Context(), "update security set last_price = 200, price_date = '2024-07-01' where symbol = 'AAPL'")
	require.NoError(t, err)

	// A price older than the security's is refused by price set, and
	// skipped by an import.
	stderr := c.fails(t, 3, "price", "set", "AAPL", "1", "--date", "2024-06-30")
	assert.Equal(t, "folio: AAPL on 2024-06-30: invalid price: older than the current price of 2024-07-01\n", stderr)
	c.stdin = "AAPL,2024-06-30,1\n"
	c.okJSON(t, &res, "price", "import", "-")
	assert.Equal(t, map[string]int{"imported": 0, "securities": 0, "skipped": 1}, res)
	assert.Equal(t, "200.0000000000 2024-07-01", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'AAPL'"))
	assert.Equal(t, "420.0000000000 2024-07-01", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'MSFT'"))
}

func TestPortfolioLifecycle(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)

	assert.Equal(t, "No portfolios: create one with 'portfolio create NAME'.\n", c.ok(t, "portfolio", "list"))
	var empty []summaryJSON
	c.okJSON(t, &empty, "portfolio", "list")
	assert.NotNil(t, empty)
	assert.Empty(t, empty)

	assert.Equal(t, "Created portfolio \"Growth\" (USD).\n", c.ok(t, "portfolio", "create", "Growth"))
	var euro portfolioJSON
	c.okJSON(t, &euro, "portfolio", "create", "Euro Savings", "--currency", "eur")
	assert.Equal(t, portfolioJSON{ID: euro.ID, Name: "Euro Savings", Currency: "EUR", Version: 1, Lots: []*lotJSON{}}, euro)
	assert.NotEqual(t, uuid.Nil, euro.ID)

	c.ok(t, "security", "add", "VTI", "--name", "Vanguard Total")
	c.ok(t, "buy", "Growth", "VTI", "2", "--price", "201.17", "--date", "2024-01-02")

	assert.Equal(t, []string{
		"NAME          CURRENCY  LOTS  COST BASIS",
		"Euro Savings  EUR          0        0.00",
		"Growth        USD          1      402.34",
	}, lines(c.ok(t, "portfolio", "list")))
	var list []summaryJSON
	c.okJSON(t, &list, "portfolio", "list")
	require.Len(t, list, 2)
	assert.Equal(t, summaryJSON{ID: euro.ID, Name: "Euro Savings", Currency: "EUR", Version: 1, Lots: 0, CostBasis: "0"}, list[0])
	assert.Equal(t, summaryJSON{ID: list[1].ID, Name: "Growth", Currency: "USD", Version: 2, Lots: 1, CostBasis: "402.34"}, list[1])

	// --search ignores case.
	assert.Equal(t, []string{
		"NAME    CURRENCY  LOTS  COST BASIS",
		"Growth  USD          1      402.34",
	}, lines(c.ok(t, "portfolio", "list", "--search", "GROW")))
	assert.Equal(t, "No portfolio name contains \"zzzz\".\n", c.ok(t, "portfolio", "list", "--search", "zzzz"))
	// A long search is repeated cut short.
	long := strings.Repeat("é", 5000)
	assert.Equal(t, "No portfolio name contains \""+strings.Repeat("é", 64)+"\"… (10000 bytes).\n", c.ok(t, "portfolio", "list", "--search", long))
	assert.Equal(t, "No security's name or symbol contains \""+strings.Repeat("é", 64)+"\"… (10000 bytes).\n", c.ok(t, "security", "list", "--search", long))
	var none []summaryJSON
	c.okJSON(t, &none, "portfolio", "list", "--search", "zzzz")
	assert.NotNil(t, none)
	assert.Empty(t, none)

	assert.Equal(t, "Euro Savings (EUR, version 1)\n\nNo lots: buy with 'buy PORTFOLIO SYMBOL QUANTITY --price P'.\n",
		c.ok(t, "portfolio", "show", "Euro Savings"))
	assert.Equal(t, []string{
		"Growth (USD, version 2)",
		"",
		"SECURITY  QUANTITY  UNIT COST    COST  ACQUIRED",
		"VTI              2     201.17  402.34  2024-01-02",
	}, lines(c.ok(t, "portfolio", "show", "Growth")))

	assert.Equal(t, "Renamed \"Growth\" to \"Growth 2\".\n", c.ok(t, "portfolio", "rename", "Growth", "Growth 2"))
	assert.Equal(t, "\"Growth 2\" already has that name; nothing changed.\n", c.ok(t, "portfolio", "rename", "Growth 2", " Growth 2 "))
	var renamed portfolioJSON
	c.okJSON(t, &renamed, "portfolio", "rename", "Euro Savings", "Épargne")
	assert.Equal(t, "Épargne", renamed.Name)
	assert.Equal(t, euro.ID, renamed.ID)
	assert.Equal(t, int64(2), renamed.Version, "a rename bumps the version")
	assert.Equal(t, "Growth 2,Épargne", queryOne[string](t, pool, `select string_agg(name, ',' order by name collate "C") from portfolio`))

	assert.Equal(t, "Deleted portfolio \"Growth 2\" and its lots.\n", c.ok(t, "portfolio", "delete", "Growth 2"))
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from investment"), "the lots go with the portfolio")
	var deleted map[string]string
	c.okJSON(t, &deleted, "portfolio", "delete", "Épargne")
	assert.Equal(t, map[string]string{"deleted": "Épargne"}, deleted)
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from portfolio"))
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from security"), "securities stay")
}

func TestBuySellFIFO(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "portfolio", "create", "Main")

	assert.Equal(t, "Bought 10 AAPL at 100.00 on 2024-01-02 in \"Main\".\n",
		c.ok(t, "buy", "Main", "AAPL", "10", "--price", "100", "--date", "2024-01-02"))
	// Flags anywhere, global ones before the command's name.
	assert.Equal(t, "Bought 5 AAPL at 120.50 on 2024-02-01 in \"Main\".\n",
		c.ok(t, "buy", "--price=120.5", "Main", "--date", "2024-02-01", "aapl", "5"))
	var buy tradeJSON
	c.okJSON(t, &buy, "--json", "buy", "Main", "AAPL", "5", "--price", "130.00", "--date", "2024-03-01")
	require.NotNil(t, buy.LotID)
	assert.Equal(t, tradeJSON{Portfolio: "Main", Side: "buy", Symbol: "AAPL", Quantity: "5", Price: "130",
		Date: "2024-03-01", LotID: buy.LotID, Version: 4}, buy)
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from investment where id = $1", *buy.LotID))

	// 12 shares: all 10 of the first lot at 100 and 2 of the second at
	// 120.5: cost 1241, proceeds 1800.
	assert.Equal(t, "Sold 12 AAPL at 150.00 on 2024-04-01 from \"Main\": cost basis 1241.00, realized gain 559.00.\n",
		c.ok(t, "sell", "Main", "AAPL", "12", "--price", "150", "--date", "2024-04-01"))
	var show portfolioJSON
	c.okJSON(t, &show, "portfolio", "show", "Main")
	require.Len(t, show.Lots, 2)
	assert.Equal(t, int64(5), show.Version)
	assert.Equal(t, lotJSON{ID: show.Lots[0].ID, SecurityID: show.Lots[0].SecurityID, Symbol: "AAPL",
		Quantity: "3", UnitCost: "120.5", Cost: "361.5", AcquiredOn: "2024-02-01"}, *show.Lots[0])
	assert.Equal(t, lotJSON{ID: *buy.LotID, SecurityID: show.Lots[0].SecurityID, Symbol: "AAPL",
		Quantity: "5", UnitCost: "130", Cost: "650", AcquiredOn: "2024-03-01"}, *show.Lots[1])

	// 4 more at a loss, across the last two lots: 3 × 120.5 + 1 × 130 =
	// 491.5 of cost for 399.96 of proceeds.
	var sell tradeJSON
	c.okJSON(t, &sell, "sell", "Main", "AAPL", "4", "--price", "99.99", "--date", "2024-05-02")
	assert.Equal(t, tradeJSON{Portfolio: "Main", Side: "sell", Symbol: "AAPL", Quantity: "4", Price: "99.99",
		Date: "2024-05-02", CostBasis: ptr("491.5"), RealizedGain: ptr("-91.54"), Version: 6}, sell)

	// A fraction of a share, and a gain with more than two decimals.
	assert.Equal(t, "Sold 0.125 AAPL at 200.00 on 2024-05-03 from \"Main\": cost basis 16.25, realized gain 8.75.\n",
		c.ok(t, "sell", "Main", "AAPL", "0.125", "--price", "200", "--date", "2024-05-03"))
	assert.Equal(t, "Sold 0.001 AAPL at 130.0001 on 2024-05-03 from \"Main\": cost basis 0.13, realized gain 0.0000001.\n",
		c.ok(t, "sell", "Main", "AAPL", "0.001", "--price", "130.0001", "--date", "2024-05-03"))

	assert.Equal(t, []string{
		"Main (USD, version 8)",
		"",
		"SECURITY  QUANTITY  UNIT COST    COST  ACQUIRED",
		"AAPL         3.874     130.00  503.62  2024-03-01",
	}, lines(c.ok(t, "portfolio", "show", "Main")))
	assert.Equal(t, "3.8740000000 130.0000000000 2024-03-01", queryOne[string](t, pool,
		"select string_agg(quantity::text || ' ' || unit_cost::text || ' ' || acquired_on::text, ';') from investment"))
	assert.Equal(t, int64(8), queryOne[int64](t, pool, "select version from portfolio where name = 'Main'"))

	// Selling what is left closes the last lot.
	c.ok(t, "sell", "Main", "AAPL", "3.874", "--price", "1", "--date", "2024-06-01")
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from investment"))
}

func TestTradeImport(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "security", "add", "MSFT", "--name", "Microsoft")
	c.ok(t, "portfolio", "create", "Imp")

	// Applied in date order, in file order within a day: the sell comes
	// first in the file but after the buys in time.
	file := writeFile(t, "trades.csv", "date,side,symbol,quantity,price\n"+
		"2024-03-01,SELL,aapl,12,150\n"+
		"2024-01-02, buy ,AAPL,10,100\n"+
		"2024-02-01,buy,AAPL,5,120.5\n"+
		"2024-02-01,Buy,AAPL,5,130\n"+
		"2024-02-15,buy,MSFT,1.5,400\n")
	assert.Equal(t, "Imported 5 trades into \"Imp\" (4 buys, 1 sell, realized gain 559.00).\n",
		c.ok(t, "trade", "import", "Imp", file))
	var show portfolioJSON
	c.okJSON(t, &show, "portfolio", "show", "Imp")
	require.Len(t, show.Lots, 3)
	got := make([]string, len(show.Lots))
	for i, l := range show.Lots {
		got[i] = strings.Join([]string{l.Symbol, l.Quantity, l.UnitCost, l.Cost, l.AcquiredOn}, " ")
	}
	assert.Equal(t, []string{
		"AAPL 3 120.5 361.5 2024-02-01",
		"AAPL 5 130 650 2024-02-01",
		"MSFT 1.5 400 600 2024-02-15",
	}, got)

	// From standard input, with --json.
	c.stdin = "2024-04-01,sell,AAPL,4,100\n2024-04-01,sell,MSFT,0.5,300\n"
	var res importJSON
	c.okJSON(t, &res, "trade", "import", "Imp", "-")
	assert.Equal(t, importJSON{Portfolio: "Imp", Trades: 2, Buys: 0, Sells: 2, Realized: "-141.5", Version: show.Version + 1}, res)
	assert.Equal(t, "AAPL 4 130 2024-02-01;MSFT 1 400 2024-02-15", queryOne[string](t, pool, `
		select string_agg(s.symbol || ' ' || trim_scale(i.quantity)::text || ' ' || trim_scale(i.unit_cost)::text || ' ' || i.acquired_on::text,
		                  ';' order by s.symbol)
		from investment i join security s on s.id = i.security_id`))
}

func TestReport(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple Inc.")
	c.ok(t, "security", "add", "MSFT", "--name", "Microsoft Corp.")
	c.ok(t, "security", "add", "NVDA", "--name", "NVIDIA Corp.")
	c.ok(t, "price", "set", "AAPL", "300", "--date", "2024-06-28")
	c.ok(t, "price", "set", "MSFT", "200", "--date", "2024-06-27")
	c.ok(t, "portfolio", "create", "Rep")
	c.ok(t, "buy", "Rep", "AAPL", "10", "--price", "150", "--date", "2024-01-02")
	c.ok(t, "buy", "Rep", "MSFT", "2.5", "--price", "300.25", "--date", "2024-01-03")
	c.ok(t, "buy", "Rep", "NVDA", "5", "--price", "20", "--date", "2024-01-04")

	var rep reportJSON
	began := time.Now()
	c.okJSON(t, &rep, "report", "Rep")
	requireToday(t, rep.AsOf, began)
	// Weights are 3000/3500 and 500/3500, rounded to ten places.
	assert.Equal(t, reportJSON{
		ID: rep.ID, Portfolio: "Rep", Currency: "USD", Version: 4, AsOf: rep.AsOf,
		Holdings: []holdingJSON{
			{Symbol: "AAPL", Name: "Apple Inc.", Quantity: "10", CostBasis: "1500", Price: ptr("300"), PriceDate: ptr("2024-06-28"),
				MarketValue: ptr("3000"), UnrealizedGain: ptr("1500"), Weight: ptr("0.8571428571")},
			{Symbol: "MSFT", Name: "Microsoft Corp.", Quantity: "2.5", CostBasis: "750.625", Price: ptr("200"), PriceDate: ptr("2024-06-27"),
				MarketValue: ptr("500"), UnrealizedGain: ptr("-250.625"), Weight: ptr("0.1428571429")},
			{Symbol: "NVDA", Name: "NVIDIA Corp.", Quantity: "5", CostBasis: "100"},
		},
		CostBasis: "2350.625", MarketValue: "3500", UnrealizedGain: "1249.375", Unpriced: 1,
	}, rep)

	// Bars: 0.857 of 20 cells is 137 eighths (17 full and 1/8), 0.143 is
	// 23 eighths (2 full and 7/8).
	assert.Equal(t, []string{
		"Rep (USD) as of " + rep.AsOf,
		"",
		"SECURITY  QUANTITY  COST BASIS     PRICE  MARKET VALUE  UNREALIZED  WEIGHT",
		"AAPL            10     1500.00    300.00       3000.00    +1500.00  85.71%  █████████████████▏",
		"MSFT           2.5     750.625    200.00        500.00    -250.625  14.29%  ██▉",
		"NVDA             5      100.00  no price             -           -       -",
		"TOTAL                 2350.625                 3500.00   +1249.375",
		"",
		"1 holding without a price is left out of market value, gain and weights; its cost basis, 100.00, is in the total. Set its price with 'price set'.",
	}, lines(c.ok(t, "report", "Rep")))

	// Two without a price.
	c.ok(t, "security", "add", "TSLA", "--name", "Tesla")
	c.ok(t, "buy", "Rep", "TSLA", "1", "--price", "200", "--date", "2024-01-05")
	out := lines(c.ok(t, "report", "Rep"))
	assert.Equal(t, "2 holdings without a price are left out of market value, gain and weights; their cost basis, 300.00, is in the total. Set their prices with 'price set'.", out[len(out)-1])

	// An empty portfolio.
	c.ok(t, "portfolio", "create", "Empty")
	assert.Regexp(t, `^Empty \(USD\) as of \d{4}-\d{2}-\d{2}\n\nNo holdings\.\n$`, c.ok(t, "report", "Empty"))
	var empty reportJSON
	c.okJSON(t, &empty, "report", "Empty")
	assert.NotNil(t, empty.Holdings)
	assert.Empty(t, empty.Holdings)
	assert.Equal(t, "0", empty.MarketValue)
}

// TestTableWidths checks that wide characters do not break the alignment of
// a table: every column starts at the same display column on every line.
func TestTableWidths(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	names := []string{"Épargne 日本 📈", "'; DROP TABLE portfolio; --", "b"}
	for _, n := range names {
		c.ok(t, "portfolio", "create", n)
	}
	out := lines(c.ok(t, "portfolio", "list"))
	require.Len(t, out, 4)
	col := func(line, word string) int {
		i := strings.Index(line, word)
		require.GreaterOrEqual(t, i, 0, "%q in %q", word, line)
		return displayWidth(line[:i])
	}
	want := col(out[0], "CURRENCY")
	for _, l := range out[1:] {
		assert.Equal(t, want, col(l, "USD"), "%q", l)
		assert.Equal(t, displayWidth(out[0]), displayWidth(l), "%q", l)
	}
}

// TestTableUnicode pins the alignment of names a terminal draws narrower or
// wider than their count of characters: an accent written as a combining
// mark takes no column; CJK characters take two; an emoji takes two, a
// heart with the emoji selector (❤️) and a family joined by U+200D (👨‍👩‍👧)
// too. Long names are not cut short, in neither table.
func TestTableUnicode(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	const love, family = "\u2764\ufe0f Love", "\U0001f468\u200d\U0001f469\u200d\U0001f467 Family" // 7 and 9 columns
	long := strings.Repeat("株", 50)                                                               // 100 columns
	for _, n := range []string{"Cafe\u0301", "日本", "Zürich", love} {
		c.ok(t, "portfolio", "create", n)
	}
	// In a message too, the name is as it shows: joiners unescaped.
	assert.Equal(t, "Created portfolio \""+family+"\" (USD).\n", c.ok(t, "portfolio", "create", family))
	// Names as stored, in whatever normal form: the widths are the same.
	cafe := queryOne[string](t, pool, "select name from portfolio where name like 'Caf%'")
	assert.Equal(t, []string{
		"NAME       CURRENCY  LOTS  COST BASIS",
		cafe + "       USD          0        0.00",
		"Zürich     USD          0        0.00",
		love + "    USD          0        0.00",
		"日本       USD          0        0.00",
		family + "  USD          0        0.00",
	}, lines(c.ok(t, "portfolio", "list")))
	c.ok(t, "portfolio", "create", long)
	assert.Equal(t, []string{
		"NAME" + strings.Repeat(" ", 96) + "  CURRENCY  LOTS  COST BASIS",
		long + "  USD          0        0.00",
	}, lines(c.ok(t, "portfolio", "list", "--search", "株")))

	c.ok(t, "security", "add", "JP", "--name", strings.Repeat("株", 30))       // 60 columns
	c.ok(t, "security", "add", "FR", "--name", strings.Repeat("e\u0301", 40)) // 40 columns
	c.ok(t, "security", "add", "LOVE", "--name", love)
	c.ok(t, "security", "add", "FAM", "--name", family)
	fr := queryOne[string](t, pool, "select name from security where symbol = 'FR'")
	assert.Equal(t, []string{
		"SYMBOL  NAME" + strings.Repeat(" ", 56) + "  CURRENCY  PRICE  DATE",
		"FAM     " + family + strings.Repeat(" ", 51) + "  USD           -  -",
		"FR      " + fr + strings.Repeat(" ", 20) + "  USD           -  -",
		"JP      " + strings.Repeat("株", 30) + "  USD           -  -",
		"LOVE    " + love + strings.Repeat(" ", 53) + "  USD           -  -",
	}, lines(c.ok(t, "security", "list")))
}

// TestQuoted: a name in a message is quoted as %q quotes it, but for the
// invisible characters a name may hold in their place.
func TestQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"Growth": `"Growth"`,
		`a"b\c`:  `"a\"b\\c"`,
		"\U0001f468\u200d\U0001f469\u200d\U0001f467 Family":                      "\"\U0001f468\u200d\U0001f469\u200d\U0001f467 Family\"",
		"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645":                       "\"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645\"",                       // Persian, ZWNJ
		"\u05e7\u05e8\u05df!\u200f":                                              "\"\u05e7\u05e8\u05df!\u200f\"",                                              // Hebrew, RLM
		"\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f": "\"\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f\"", // Scotland
		"\u2764\ufe0f Love":                                                      "\"\u2764\ufe0f Love\"",
		// Escaped as by %q: controls, other format characters, bad bytes.
		"a\tb":     `"a\tb"`,
		"a\ufeffb": `"a\ufeffb"`,
		"a\u202eb": `"a\u202eb"`,
		"a\xffb":   `"a\xffb"`,
		// A name the rules refuse now (one stored before them): all as %q.
		"a\u200db": `"a\u200db"`,
		"":         `""`,
	} {
		assert.Equal(t, want, quoted(in), "%q", in)
	}
}

func TestDisplayWidth(t *testing.T) {
	for s, want := range map[string]int{
		"":             0,
		"abc":          3,
		"Cafe\u0301":   4, // combining acute accent
		"Café":         4, // precomposed
		"a\u200bb":     2, // zero-width space
		"\u200d\ufeff": 0, // zero-width joiner, byte order mark
		"日本":           4,
		"ＡＢ":           4, // fullwidth
		"📈":            2,
		"x\u20dd":      1, // enclosing circle
		"Épargne 日本 📈": 15,

		"\u2764":            1, // a heart as text
		"\u2764\ufe0f":      2, // as an emoji
		"\u2764\ufe0f Love": 7,
		"1\ufe0f\u20e3":     2, // keycap
		"A\ufe0f":           1, // no emoji of A
		"\U0001f468\u200d\U0001f469\u200d\U0001f467": 2, // family
		"\U0001f3f3\ufe0f\u200d\U0001f308":           2, // rainbow flag
		"\u2764\ufe0f\u200d\U0001f525":               2, // heart on fire
		"\U0001f44d\U0001f3fd":                       2, // thumbs up, medium skin tone
		"\U0001f1eb\U0001f1f7":                       2, // flag of France
		"\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea":   4, // two flags
		"a\u200db":         2, // letters do not join
		"日\u200d本":         4,
		"\U0001f468\u200d": 2, // a joiner at the end
	} {
		assert.Equal(t, want, displayWidth(s), "%q", s)
	}
}

func TestGlobalFlagsAnywhere(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	url := c.url
	c.url = "postgres://nobody@127.0.0.1:1/none" // the flag wins over the variable
	for _, args := range [][]string{
		{"--database-url", url, "--json", "portfolio", "list"},
		{"portfolio", "--json", "--database-url=" + url, "list"},
		{"portfolio", "list", "--json", "--database-url", url},
	} {
		assert.Equal(t, "[]\n", c.ok(t, args...), "%q", args)
	}
}

// TestCommandFlagsAnywhere gives a command's own flags and the global ones
// in every position after the program's name: between a group and its
// command too, and before the group.
func TestCommandFlagsAnywhere(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")

	var sec securityJSON
	out := c.ok(t, "price", "--json", "set", "AAPL", "5", "--date", "2024-01-01")
	require.NoError(t, json.Unmarshal([]byte(out), &sec), out)
	assert.Equal(t, []*string{ptr("5"), ptr("2024-01-01")}, []*string{sec.LastPrice, sec.PriceDate})
	assert.Equal(t, "AAPL: 6.00 on 2024-01-02.\n", c.ok(t, "--date", "2024-01-02", "price", "set", "AAPL", "6"))
	assert.Equal(t, "AAPL: 7.00 on 2024-01-03.\n", c.ok(t, "price", "--date=2024-01-03", "set", "AAPL", "7"))
	assert.Equal(t, "7.0000000000 2024-01-03", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'AAPL'"))

	r := c.run(t, "security", "--verbose", "add", "ZZ", "--name", "zz")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Equal(t, "Added ZZ (zz, USD).\n", r.stdout)
	verboseLog(t, r.stderr)
	assert.Equal(t, "zz", queryOne[string](t, pool, "select name from security where symbol = 'ZZ'"))

	assert.Equal(t, "Created portfolio \"Growth\" (EUR).\n", c.ok(t, "--currency", "EUR", "portfolio", "create", "Growth"))
	c.ok(t, "portfolio", "create", "Other")
	assert.Equal(t, []string{
		"NAME    CURRENCY  LOTS  COST BASIS",
		"Growth  EUR          0        0.00",
	}, lines(c.ok(t, "portfolio", "--search", "Gro", "list")))
	// A value that names a command is still the value when the command
	// comes after it.
	assert.Equal(t, "No portfolio name contains \"list\".\n", c.ok(t, "portfolio", "--search", "list", "list"))
	assert.Equal(t, "Bought 2 AAPL at 3.00 on 2024-01-02 in \"Other\".\n",
		c.ok(t, "--price", "3", "buy", "--date", "2024-01-02", "Other", "AAPL", "2"))
	assert.Equal(t, "2.0000000000 3.0000000000 2024-01-02", queryOne[string](t, pool,
		"select quantity::text || ' ' || unit_cost::text || ' ' || acquired_on::text from investment"))
}

// TestHelp asks every command, group and the root for --help (and -h): the
// usage goes to stdout with exit code 0, and nothing connects (the
// DATABASE_URL points nowhere).
func TestHelp(t *testing.T) {
	t.Parallel()
	c := &cli{url: "postgres://someone:S3cretPw@127.0.0.1:1/db"}
	var paths [][]string
	var walk func(prefix []string, cmd *command)
	walk = func(prefix []string, cmd *command) {
		paths = append(paths, prefix)
		for _, s := range cmd.sub {
			walk(append(prefix[:len(prefix):len(prefix)], s.name), s)
		}
	}
	walk(nil, commands())
	require.Greater(t, len(paths), 20)
	for _, p := range paths {
		var outs []string
		for _, args := range [][]string{
			append(p[:len(p):len(p)], "--help"),
			append(p[:len(p):len(p)], "-h"),
			append([]string{"help"}, p...),
		} {
			r := c.run(t, args...)
			name := strings.Join(append([]string{"folio"}, p...), " ")
			assert.Equal(t, 0, r.code, "%v", r)
			assert.Empty(t, r.stderr, "%v", r)
			assert.True(t, strings.HasPrefix(r.stdout, "Usage: "+name+" "), "%v", r)
			assert.NotContains(t, r.stdout, "S3cretPw", "%v", r)
			outs = append(outs, r.stdout)
		}
		assert.Equal(t, outs[0], outs[2], "folio help %v", p)
	}
	// Help first, then the command; help with arguments that would not do.
	for _, args := range [][]string{
		{"--help", "buy"},
		{"buy", "--help", "too", "many", "arguments", "here"},
		{"--json", "--help"},
		{"--date", "price", "set", "--help"},
	} {
		r := c.run(t, args...)
		assert.Equal(t, 0, r.code, "%v", r)
		assert.Contains(t, r.stdout, "Usage:", "%v", r)
	}
	// Leaf help lists the command's flags.
	out := c.ok(t, "buy", "--help")
	for _, s := range []string{"Usage: folio buy PORTFOLIO SYMBOL QUANTITY --price PRICE [flags]", "-price", "-date", "-json", "-database-url", "plain decimals"} {
		assert.Contains(t, out, s)
	}
	assert.Contains(t, c.ok(t, "sell", "--help"), "selling more than they hold is refused")
	assert.Contains(t, c.ok(t, "help"), "or 'folio help COMMAND'")
	// help where the command goes: after global flags, never after "--"
	// (where it is an argument).
	for _, args := range [][]string{
		{"--json", "help", "portfolio", "create"},
		{"--data-dir", "/nonexistent", "help", "portfolio", "create"},
		{"help", "portfolio", "create", "--data-dir", "/nonexistent", "--"},
	} {
		assert.True(t, strings.HasPrefix(c.ok(t, args...), "Usage: folio portfolio create NAME"), "%q", args)
	}
	assert.Equal(t, "folio: unknown command \"help\"; run 'folio --help'\n", c.fails(t, 2, "--", "help"))
	assert.Contains(t, c.ok(t, "serve", "--help"), "-addr")
	// Without a command, the root's usage goes to stderr: that is an error.
	r := c.run(t)
	assert.Equal(t, 2, r.code, "%v", r)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "Usage: folio COMMAND")
}

// TestUsageErrors covers command lines that do not parse: exit code 2 and a
// pointer to --help, without touching a database.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	c := &cli{url: "postgres://someone:S3cretPw@127.0.0.1:1/db"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"portfolio", "bogus"}, `unknown command "bogus"`},
		// Help for a command that does not exist is not the general
		// help with exit 0.
		{[]string{"help", "bogus"}, "folio: unknown command \"bogus\"; run 'folio --help'\n"},
		{[]string{"bogus", "--help"}, "folio: unknown command \"bogus\"; run 'folio --help'\n"},
		{[]string{"help", "portfolio", "bogus"}, "folio: unknown command \"bogus\"; run 'folio portfolio --help'\n"},
		{[]string{"portfolio", "bogus", "-h"}, "folio: unknown command \"bogus\"; run 'folio portfolio --help'\n"},
		{[]string{"portfolio", "--bogus"}, "-bogus"},
		{[]string{"--bogus", "portfolio", "list"}, "-bogus"},
		{[]string{"portfolio", "list", "--bogus"}, "-bogus"},
		{[]string{"portfolio", "create"}, "folio: portfolio create takes 1 argument (NAME), got 0\n"},
		{[]string{"portfolio", "create", "a", "b"}, "folio: portfolio create takes 1 argument (NAME), got 2\n"},
		{[]string{"portfolio", "rename", "a"}, "folio: portfolio rename takes 2 arguments (NAME NEW_NAME), got 1\n"},
		{[]string{"buy", "Main", "AAPL"}, "folio: buy takes 3 arguments (PORTFOLIO SYMBOL QUANTITY), got 2\n"},
		{[]string{"sell", "Main", "AAPL", "1", "2", "--price", "1"}, "got 4"},
		{[]string{"buy", "Main", "AAPL", "1"}, "--price is required"},
		{[]string{"sell", "Main", "AAPL", "1", "--date", "2024-01-01"}, "--price is required"},
		{[]string{"buy", "Main", "AAPL", "1", "--price"}, "flag needs an argument: --price"},
		{[]string{"security", "add", "AAPL"}, "--name is required"},
		{[]string{"report"}, "folio: report takes 1 argument (PORTFOLIO), got 0\n"},
		{[]string{"trade", "import", "Main"}, "folio: trade import takes 2 arguments (PORTFOLIO FILE.csv), got 1\n"},
		{[]string{"price", "set", "AAPL"}, "folio: price set takes 2 arguments (SYMBOL PRICE), got 1\n"},
		{[]string{"migrate", "up", "now"}, "folio: migrate up takes no arguments, got 1\n"},
		{[]string{"portfolio", "list", "--json=maybe"}, "invalid boolean value"},

		// Unknown flags wherever they are, a flag of another command
		// among them, are named.
		{[]string{"price", "--bogus", "set", "AAPL", "5"}, "folio: flag provided but not defined: --bogus\n"},
		{[]string{"--bogus", "price", "set", "AAPL", "5"}, "folio: flag provided but not defined: --bogus\n"},
		{[]string{"price", "set", "AAPL", "5", "--bogus=1"}, "folio: flag provided but not defined: --bogus\n"},
		{[]string{"price", "set", "--name", "x", "AAPL", "5"}, "folio: flag provided but not defined: --name\n"},
		{[]string{"portfolio", "--date", "2024-01-01", "list"}, "folio: flag provided but not defined: --date\n"},
		{[]string{"--search", "x", "portfolio", "create", "P"}, "folio: flag provided but not defined: --search\n"},
		// ... as they were typed.
		{[]string{"-x"}, "folio: flag provided but not defined: -x\nRun with --help for usage.\n"},
		{[]string{"buy", "Main", "AAPL", "1", "-q", "--price", "1"}, "folio: flag provided but not defined: -q\n"},
		{[]string{"price", "set", "AAPL", "5", "-bogus=1"}, "folio: flag provided but not defined: -bogus\n"},
		{[]string{"-name", "portfolio", "list"}, "folio: flag provided but not defined: -name\n"},
		{[]string{"price", "-date", "set", "AAPL", "1"}, "folio: flag needs an argument: -date (\"set\" after it is the command)\n"},
		{[]string{"price", "set", "AAPL", "1", "-date"}, "folio: flag needs an argument: -date\n"},
		{[]string{"price", "--json", "set", "AAPL", "5", "--date"}, "flag needs an argument: --date"},
		{[]string{"portfolio", "--json", "bogus", "--date", "x"}, `folio: unknown command "bogus"; run 'folio portfolio --help'`},
		// A flag that needs a value, followed by the command's name: the
		// flag is what is wrong, not the command.
		{[]string{"portfolio", "--name", "list"}, "folio: flag provided but not defined: --name\nRun with --help for usage.\n"},
		{[]string{"--name", "portfolio", "list"}, "folio: flag provided but not defined: --name\nRun with --help for usage.\n"},
		{[]string{"--date", "price", "set", "AAPL", "1"}, "folio: flag needs an argument: --date (\"price\" after it is the command)\nRun with --help for usage.\n"},
		{[]string{"price", "--date", "set", "AAPL", "1"}, "folio: flag needs an argument: --date (\"set\" after it is the command)\nRun with --help for usage.\n"},
		{[]string{"--database-url", "portfolio", "list"}, "folio: flag needs an argument: --database-url (\"portfolio\" after it is the command)\nRun with --help for usage.\n"},
		{[]string{"--date", "price"}, "folio: flag provided but not defined: --date\nRun with --help for usage.\n"},
		// A flag whose value was forgotten, followed by another flag:
		// the next flag is not its value (a security called "--json").
		{[]string{"security", "add", "ZZ", "--name", "--json"}, "folio: flag needs an argument: --name (--json after it is a flag; write --name=VALUE for a value that starts with -)\n"},
		{[]string{"buy", "Main", "AAPL", "1", "--price", "--date", "2024-01-01"}, "folio: flag needs an argument: --price (--date after it is a flag"},
		{[]string{"sell", "Main", "AAPL", "1", "-price", "--json"}, "folio: flag needs an argument: -price (--json after it is a flag"},
		{[]string{"--database-url", "--json=postgres://u:S3cretPw@h/d", "portfolio", "list"}, "folio: flag needs an argument: --database-url (--json after it is a flag"},
		{[]string{"security", "add", "ZZ", "--name", "--bogus"}, "folio: flag needs an argument: --name (--bogus after it is a flag"},
		// Nor is the "--" that ends the flags.
		{[]string{"buy", "Main", "AAPL", "--price", "--", "1"}, "folio: flag needs an argument: --price (the -- after it ends the flags; write --price=-- for a value of --)\n"},
		{[]string{"portfolio", "create", "--currency", "--", "X"}, "folio: flag needs an argument: --currency (the -- after it ends the flags"},
		{[]string{"--database-url", "--", "portfolio", "list"}, "folio: flag needs an argument: --database-url (the -- after it ends the flags"},
		// A flag with a value given twice: the flag package would keep
		// the last, and a trade would be recorded at a price the user may
		// not have meant.
		{[]string{"buy", "Main", "AAPL", "1", "--price", "1", "--price=2"}, "folio: --price is given more than once; give it once\n"},
		{[]string{"--database-url", "x", "security", "list", "--database-url", "y"}, "folio: --database-url is given more than once; give it once\n"},
		{[]string{"price", "set", "AAPL", "1", "--date", "2024-01-02", "-date", "2024-01-03"}, "folio: --date is given more than once"},
		// --addr is read when the command line is.
		{[]string{"serve", "--addr", "localhost"}, "folio: invalid value \"localhost\" for flag --addr: missing port in address; give host:port, such as 127.0.0.1:8080 or :8080\n"},
		{[]string{"serve", "--addr", "127.0.0.1:99999"}, `port "99999" is neither a number from 0 to 65535 nor a service name`},
		{[]string{"serve", "--addr", "127.0.0.1:"}, "the port is missing"},
		{[]string{"serve", "--addr", "a:b:c"}, "too many colons in address"},
		// After "--", words are arguments, not flags.
		{[]string{"portfolio", "create", "--", "--json", "x"}, "folio: portfolio create takes 1 argument (NAME), got 2\n"},
		{[]string{"portfolio", "list", "--", "--json"}, "folio: portfolio list takes no arguments, got 1\n"},
	} {
		stderr := c.fails(t, 2, tc.args...)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
		assert.NotContains(t, stderr, "S3cretPw")
	}
}

// TestAValueThatStartsWithADash: a flag's value that looks like a flag
// goes in the flag's word (--name=--json), and a negative number after a
// flag is its value, refused as input, not as usage.
func TestAValueThatStartsWithADash(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	assert.Contains(t, c.ok(t, "security", "add", "X", "--name", "--help"), "Usage: folio security add SYMBOL --name NAME [flags]", "--help after a flag is still --help")
	assert.Equal(t, "Added DASH (--json, USD).\n", c.ok(t, "security", "add", "DASH", "--name=--json"))
	c.ok(t, "portfolio", "create", "Main")
	stderr := c.fails(t, 3, "buy", "Main", "DASH", "1", "--price", "-5")
	assert.Contains(t, stderr, `invalid price "-5"`)
}

// TestExitCodesMatchTheTable keeps the constants in line with the README's
// table, which scripts rely on.
func TestExitCodesMatchTheTable(t *testing.T) {
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, []int{exitOK, exitFailure, exitUsage, exitInvalid, exitNotFound, exitConflict})

	// The README's table has the same codes, in order, each with the
	// meaning the code gives it.
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(readme), "### Exit codes\n")
	require.True(t, ok, "the README has an exit code table")
	table, _, _ = strings.Cut(strings.TrimLeft(table, "\n"), "\n\n")
	rows := regexp.MustCompile(`(?m)^\| (\d) \| ([a-z ]+)`).FindAllStringSubmatch(table, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+" "+strings.TrimSpace(r[2]))
	}
	assert.Equal(t, []string{
		fmt.Sprint(exitOK, " done"),
		fmt.Sprint(exitFailure, " anything else"),
		fmt.Sprint(exitUsage, " usage"),
		fmt.Sprint(exitInvalid, " invalid input"),
		fmt.Sprint(exitNotFound, " not found"),
		fmt.Sprint(exitConflict, " conflict"),
	}, got)
}

// TestExitCodeOf maps errors as the tracker and the unit of work wrap them
// to exit codes, and words.
func TestExitCodeOf(t *testing.T) {
	gaveUp := func(kind error) error {
		return fmt.Errorf("uow: gave up after 5 attempts: %w",
			&uow.Error{Op: `save portfolio "Par"`, Kind: kind, Err: errors.New("ERROR: could not serialize access (SQLSTATE 40001)")})
	}
	const collided = `portfolio "Par" was changed by another command at the same time; try again`
	for _, tc := range []struct {
		err  error
		code int
		msg  string // "": the error's own
	}{
		{gaveUp(uow.ErrSerialization), 5, collided},
		{gaveUp(domain.ErrVersionConflict), 5, collided},
		{fmt.Errorf("x: %w", uow.ErrSerialization), 5, collided},
		{fmt.Errorf("add portfolio: %w", domain.ErrAlreadyExists), 5, ""},
		{fmt.Errorf("x: %w", tracker.ErrPreconditionFailed), 5, ""},
		{fmt.Errorf("x: %w", domain.ErrInvalidDate), 3, ""},
		{fmt.Errorf("x: %w", domain.ErrInsufficientQuantity), 3, ""},
		{&tracker.RowError{Line: 3, Err: domain.ErrInvalidPrice}, 3, "line 3: invalid price"},
		{fmt.Errorf("x: %w", domain.ErrNotFound), 4, ""},
		{fmt.Errorf("%w: f.csv", errNoFile), 4, ""},
		{usagef("bad"), 2, ""},
		{&configError{"invalid database URL"}, 2, ""},
		{reword("interrupted", context.Canceled), 1, "interrupted"},
		{errors.New("boom"), 1, ""},
	} {
		assert.Equal(t, tc.code, exitCode(tc.err), "%v", tc.err)
		want := tc.msg
		if want == "" {
			want = tc.err.Error()
		}
		assert.Equal(t, want, message(tc.err, `portfolio "Par"`), "%v", tc.err)
	}
	assert.Equal(t, "another command changed the same data at the same time; try again",
		message(gaveUp(uow.ErrSerialization), ""))
}

var migrateLine = regexp.MustCompile(`^(up|down) +(\d{5}) (\d{5}_[a-z0-9_]+\.sql) \(\d+(\.\d+)?(ms|µs|s|ns)?\)$`)

// migrateOutput parses the lines migrate up/down/redo/reset print.
func migrateOutput(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, l := range lines(out) {
		m := migrateLine.FindStringSubmatch(l)
		require.NotNil(t, m, "line %q of\n%s", l, out)
		require.Equal(t, m[2], m[3][:5], l)
		got = append(got, fmt.Sprintf("%s %s", m[1], m[3]))
	}
	return got
}

// TestImportSpreadsheetCSV imports files as spreadsheets save them: a byte
// order mark, CRLF line ends and every field quoted.
func TestImportSpreadsheetCSV(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "portfolio", "create", "Main")

	prices := writeFile(t, "prices.csv", "\ufeff\"Symbol\",\"Date\",\"Price\"\r\n\"AAPL\",\"2024-07-01\",\"201.5\"\r\n")
	assert.Equal(t, "Imported 1 price for 1 security.\n", c.ok(t, "price", "import", prices))
	assert.Equal(t, "201.5", queryOne[string](t, pool, "select trim_scale(last_price)::text from security"))

	trades := writeFile(t, "trades.csv", "\ufeffdate,side,symbol,quantity,price\r\n"+
		"2024-01-02,buy,AAPL,10,100\r\n\"2024-01-03\",\"sell\",\"AAPL\",\"4\",\"110\"\r\n")
	assert.Equal(t, "Imported 2 trades into \"Main\" (1 buy, 1 sell, realized gain 40.00).\n", c.ok(t, "trade", "import", "Main", trades))

	// Without a header, the mark is still not part of the first field.
	c.stdin = "\ufeff2024-01-04,buy,AAPL,1,1\n"
	assert.Equal(t, "Imported 1 trade into \"Main\" (1 buy, 0 sells, realized gain 0.00).\n", c.ok(t, "trade", "import", "Main", "-"))
	assert.Equal(t, 2, queryOne[int](t, pool, "select count(*) from investment"))
}

// A connection that fails on every address pgx tries is still one line of
// stderr, with exit code 1.
func TestConnectFailureIsOneLine(t *testing.T) {
	t.Parallel()
	c := &cli{url: "postgres://nobody@127.0.0.1:1,127.0.0.1:2/none?connect_timeout=5"}
	r := c.run(t, "portfolio", "list")
	assert.Equal(t, 1, r.code, "%v", r)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "%q", r.stderr)
	assert.Contains(t, r.stderr, "folio: cannot connect to PostgreSQL")
	assert.Contains(t, r.stderr, "127.0.0.1:2", "every address tried is named")
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                          "plain",
		"failed to connect:\n\tdial a\n": "failed to connect: dial a",
		"first\n  second\n\nthird":       "first; second; third",
		// pgx's two tries of one server (TLS, then not), and a lookup
		// failure that repeats its own end.
		"failed to connect:\n\th: dial error: refused\n\th: dial error: refused":                "failed to connect: h: dial error: refused",
		"failed:\n\thostname resolving error: lookup x: no such host\n\tlookup x: no such host": "failed: hostname resolving error: lookup x: no such host",
		"failed:\n\ta: refused\n\tb: refused":                                                   "failed: a: refused; b: refused",
	} {
		assert.Equal(t, want, oneLine(in), "%q", in)
	}
}

// After a signal, an error becomes "interrupted", but for an unknown
// COMMIT outcome: the user must hear that the change may have been saved.
func TestInterruptedKeepsAnUnknownCommitsWords(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	canceled := &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("save: %w", canceled), "folio: interrupted\n"},
		{fmt.Errorf("save: %w", errors.New("disk full")), "folio: interrupted: save: disk full\n"},
		// database/sql (goose's) on the connection the signal closed.
		{fmt.Errorf("migrate up: failed to list migrations: %w", errors.Join(driver.ErrBadConn, sql.ErrConnDone)), "folio: interrupted\n"},
		{fmt.Errorf("migrate up: %w", sql.ErrConnDone), "folio: interrupted\n"},
		{fmt.Errorf("%w: %w", uow.ErrCommitUnknown, canceled), "folio: " + uow.ErrCommitUnknown.Error()},
	} {
		var stderr strings.Builder
		code := fail(&env{ctx: ctx, stderr: &stderr}, tc.err, nil)
		assert.Equal(t, exitFailure, code, "%v", tc.err)
		assert.True(t, strings.HasPrefix(stderr.String(), tc.want), "got %q, want %q", stderr.String(), tc.want)
	}
}

// The lists read the database a page of 1000 at a time: past a page,
// nothing is lost or repeated, in text or JSON.
func TestListsPastOnePage(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	_, err := pool.Exec(context.Background(), `
		insert into portfolio (id, name, currency, version)
			select gen_random_uuid(), 'P' || lpad(i::text, 4, '0'), 'USD', 1 from generate_series(1, 2001) i;
		insert into security (id, symbol, name, currency)
			select gen_random_uuid(), 'S' || lpad(i::text, 4, '0'), 'Security ' || i, 'USD' from generate_series(1, 1001) i`)
	require.NoError(t, err)

	var ps []summaryJSON
	c.okJSON(t, &ps, "portfolio", "list")
	require.Len(t, ps, 2001)
	var secs []securityJSON
	c.okJSON(t, &secs, "security", "list")
	require.Len(t, secs, 1001)
	for i := range ps {
		assert.Equal(t, fmt.Sprintf("P%04d", i+1), ps[i].Name)
	}
	for i := range secs {
		assert.Equal(t, fmt.Sprintf("S%04d", i+1), secs[i].Symbol)
	}
	assert.Equal(t, 2001+1, len(lines(c.ok(t, "portfolio", "list"))), "a header and a line each")
	assert.Equal(t, 1000+1, len(lines(c.ok(t, "portfolio", "list", "--search", "p1"))), "P1000 to P1999, and a header")
}

// An input with no rows of data imports nothing, without error, and says
// so on stderr: it may be the wrong file.
func TestImportOfNoRows(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	c.ok(t, "portfolio", "create", "Main")
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"header", "symbol,date,price\n"},
	} {
		file := writeFile(t, tc.name+".csv", tc.content)
		r := c.run(t, "price", "import", file)
		require.Equal(t, 0, r.code, "%v", r)
		assert.Equal(t, "Imported 0 prices for 0 securities.\n", r.stdout)
		assert.Equal(t, "folio: note: "+file+" has no rows of data\n", r.stderr)
	}
	c.stdin = "date,side,symbol,quantity,price\r\n"
	r := c.run(t, "trade", "import", "Main", "-")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Equal(t, "Imported 0 trades into \"Main\" (0 buys, 0 sells, realized gain 0.00).\n", r.stdout)
	assert.Equal(t, "folio: note: standard input has no rows of data\n", r.stderr)
}
