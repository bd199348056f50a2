package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture gives a test a database with two securities (AAPL with a price,
// MSFT in EUR), a portfolio "Main" holding 10 AAPL, and an empty one.
func fixture(t *testing.T) (*cli, *pgxpool.Pool) {
	t.Helper()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "security", "add", "MSFT", "--name", "Microsoft", "--currency", "EUR")
	c.ok(t, "price", "set", "AAPL", "190", "--date", "2024-06-28")
	c.ok(t, "portfolio", "create", "Main")
	c.ok(t, "portfolio", "create", "Other")
	c.ok(t, "buy", "Main", "AAPL", "10", "--price", "100", "--date", "2024-01-02")
	return c, pool
}

// refusal is a command that must fail without writing anything.
type refusal struct {
	name string
	args []string
	code int
	// want are substrings of stderr: the message names the bad value.
	want []string
}

// requireRefusals runs each refusal and checks its exit code, its message
// and that the database is exactly as before.
func requireRefusals(t *testing.T, c *cli, pool *pgxpool.Pool, cases []refusal) {
	t.Helper()
	before := snapshot(t, pool)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stderr := c.fails(t, tc.code, tc.args...)
			for _, w := range tc.want {
				assert.Contains(t, stderr, w)
			}
			require.Equal(t, before, snapshot(t, pool), "something was written")
		})
	}
}

func TestRefusedInput(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	buy := func(qty string) []string { return []string{"buy", "Main", "AAPL", qty, "--price", "1"} }
	digits40 := "1234567890123456789012345678901234567890"
	requireRefusals(t, c, pool, []refusal{
		// Not found: 4.
		{"unknown portfolio buy", []string{"buy", "Nope", "AAPL", "1", "--price", "1"}, 4, []string{`portfolio "Nope"`, "not found"}},
		{"unknown portfolio sell", []string{"sell", "Nope", "AAPL", "1", "--price", "1"}, 4, []string{`"Nope"`, "not found"}},
		{"unknown portfolio show", []string{"portfolio", "show", "Nope"}, 4, []string{`"Nope"`, "not found"}},
		{"unknown portfolio rename", []string{"portfolio", "rename", "Nope", "New"}, 4, []string{`"Nope"`, "not found"}},
		{"unknown portfolio delete", []string{"portfolio", "delete", "Nope"}, 4, []string{`"Nope"`, "not found"}},
		{"unknown portfolio report", []string{"report", "Nope"}, 4, []string{`"Nope"`, "not found"}},
		{"unknown portfolio import", []string{"trade", "import", "Nope", writeFile(t, "t.csv", "2024-01-01,buy,AAPL,1,1\n")}, 4, []string{`"Nope"`, "not found"}},
		{"unknown symbol buy", []string{"buy", "Main", "ZZZ", "1", "--price", "1"}, 4, []string{"ZZZ", "not found"}},
		{"unknown symbol sell", []string{"sell", "Main", "ZZZ", "1", "--price", "1"}, 4, []string{"ZZZ", "not found"}},
		{"unknown symbol price", []string{"price", "set", "ZZZ", "1"}, 4, []string{"ZZZ", "not found"}},

		// Quantities: 3.
		{"negative quantity", buy("-5"), 3, []string{`"-5"`, "greater than 0"}},
		{"zero quantity", buy("0"), 3, []string{`"0"`, "greater than 0"}},
		{"zero quantity with decimals", buy("0.000"), 3, []string{`"0.000"`}},
		{"exponent", buy("1e400"), 3, []string{`"1e400"`}},
		{"40 digits", buy(digits40), 3, []string{digits40[:32], "40 bytes", "18 digits"}},
		{"19 integer digits", buy("1234567890123456789"), 3, []string{`"1234567890123456789"`, "18 digits"}},
		{"NaN", buy("NaN"), 3, []string{`"NaN"`}},
		{"Infinity", buy("Inf"), 3, []string{`"Inf"`}},
		{"11 decimals", buy("1.12345678901"), 3, []string{`"1.12345678901"`, "10 after"}},
		{"hex", buy("0x10"), 3, []string{`"0x10"`}},
		{"plus sign", buy("+5"), 3, []string{`"+5"`}},
		{"thousands separator", buy("1,000"), 3, []string{`"1,000"`}},
		{"empty quantity", buy(""), 3, []string{`""`}},
		{"100 kB of digits", buy(strings.Repeat("9", 100<<10)), 3, []string{"102400 bytes"}},
		{"sell negative", []string{"sell", "Main", "AAPL", "-1", "--price", "1"}, 3, []string{`"-1"`}},

		// Prices: 3.
		{"negative price", []string{"buy", "Main", "AAPL", "1", "--price", "-1"}, 3, []string{`"-1"`, "must not be negative"}},
		{"NaN price", []string{"buy", "Main", "AAPL", "1", "--price", "NaN"}, 3, []string{`"NaN"`}},
		{"huge price", []string{"price", "set", "AAPL", "1e400"}, 3, []string{`"1e400"`}},
		{"11-decimal price", []string{"price", "set", "AAPL", "0.00000000001"}, 3, []string{`"0.00000000001"`}},
		{"negative sell price", []string{"sell", "Main", "AAPL", "1", "--price", "-0.01"}, 3, []string{`"-0.01"`}},

		// Dates: 3.
		{"February 30th", []string{"buy", "Main", "AAPL", "1", "--price", "1", "--date", "2024-02-30"}, 3, []string{`"2024-02-30"`}},
		{"February 29th of a common year", []string{"price", "set", "AAPL", "1", "--date", "2023-02-29"}, 3, []string{`"2023-02-29"`}},
		{"other layout", []string{"sell", "Main", "AAPL", "1", "--price", "1", "--date", "01/02/2024"}, 3, []string{`"01/02/2024"`}},
		{"year 10000", []string{"price", "set", "AAPL", "1", "--date", "10000-01-01"}, 3, []string{`"10000-01-01"`}},
		{"year 1899", []string{"price", "set", "AAPL", "1", "--date", "1899-12-31"}, 3, []string{`"1899-12-31"`}},

		// Names, symbols and currencies: 3.
		{"empty name", []string{"portfolio", "create", ""}, 3, []string{`""`, "must not be empty"}},
		{"blank name", []string{"portfolio", "create", "   "}, 3, []string{"must not be empty"}},
		{"101 characters", []string{"portfolio", "create", strings.Repeat("a", 101)}, 3, []string{strings.Repeat("a", 32), "at most 100 characters, not 101"}},
		{"101 wide characters", []string{"portfolio", "create", strings.Repeat("日", 101)}, 3, []string{"at most 100 characters, not 101"}},
		{"tab in name", []string{"portfolio", "create", "a\tb"}, 3, []string{`"a\tb"`, "control characters"}},
		{"newline in name", []string{"portfolio", "create", "a\nb"}, 3, []string{`"a\nb"`}},
		{"invalid UTF-8", []string{"portfolio", "create", "a\xffb"}, 3, []string{`"a\xffb"`}},
		{"rename to empty", []string{"portfolio", "rename", "Main", ""}, 3, []string{"must not be empty"}},
		{"too long a name to look up", []string{"portfolio", "show", strings.Repeat("a", 101)}, 3, []string{"at most 100 characters, not 101"}},
		{"invalid currency", []string{"portfolio", "create", "X", "--currency", "EURO"}, 3, []string{`"EURO"`, "three letters"}},
		{"digit currency", []string{"security", "add", "X", "--name", "X", "--currency", "U5D"}, 3, []string{`"U5D"`}},
		{"invalid symbol", []string{"security", "add", "A B", "--name", "X"}, 3, []string{`"A B"`}},
		{"long symbol", []string{"security", "add", "ABCDEFGHIJKLM", "--name", "X"}, 3, []string{`"ABCDEFGHIJKLM"`}},
		{"dotless i symbol", []string{"security", "add", "ıBM", "--name", "X"}, 3, []string{`"ıBM"`}},
		{"invalid symbol in buy", []string{"buy", "Main", "A;B", "1", "--price", "1"}, 3, []string{`"A;B"`}},
		{"empty security name", []string{"security", "add", "X", "--name", " "}, 3, []string{"must not be empty"}},
		{"currency mismatch", []string{"buy", "Main", "MSFT", "1", "--price", "1"}, 3, []string{"MSFT", "EUR", "USD"}},

		// Conflicts: 5.
		// In the words of create's other refusals.
		{"duplicate portfolio", []string{"portfolio", "create", "Main"}, 5, []string{`create portfolio "Main": already exists`}},
		{"duplicate portfolio after trimming", []string{"portfolio", "create", " Main "}, 5, []string{`create portfolio "Main": already exists`}},
		{"rename onto another", []string{"portfolio", "rename", "Other", "Main"}, 5, []string{`"Main"`, "already exists"}},
		{"duplicate symbol", []string{"security", "add", "aapl", "--name", "Apple again"}, 5, []string{"create security AAPL: already exists"}},

		// Selling more than held: 3.
		{"sell more than held", []string{"sell", "Main", "AAPL", "10.0000000001", "--price", "1"}, 3, []string{"insufficient quantity", "held 10", "10.0000000001"}},
		{"sell before buying", []string{"sell", "Main", "AAPL", "1", "--price", "1", "--date", "2024-01-01"}, 3, []string{"insufficient quantity", "held 0"}},
		{"sell what is not held", []string{"sell", "Other", "AAPL", "1", "--price", "1"}, 3, []string{"insufficient quantity"}},

		// Usage: 2.
		{"too few arguments", []string{"buy", "Main", "AAPL"}, 2, []string{"takes 3 arguments"}},
		{"too many arguments", []string{"report", "Main", "Other"}, 2, []string{"takes 1 argument (PORTFOLIO), got 2"}},
		{"unknown flag", []string{"buy", "Main", "AAPL", "1", "--price", "1", "--bogus"}, 2, []string{"-bogus"}},
		{"missing --price", []string{"buy", "Main", "AAPL", "1"}, 2, []string{"--price is required"}},
		{"missing --price on sell", []string{"sell", "Main", "AAPL", "1", "--date", "2024-03-01"}, 2, []string{"--price is required"}},

		// Files: 4.
		{"missing trade file", []string{"trade", "import", "Main", "/nonexistent/trades.csv"}, 4, []string{"/nonexistent/trades.csv"}},
		{"missing price file", []string{"price", "import", "/nonexistent/prices.csv"}, 4, []string{"/nonexistent/prices.csv"}},
	})
	assert.Equal(t, "10.0000000000", queryOne[string](t, pool, "select quantity::text from investment"))
}

// TestEmptyNamesAndSymbols: a portfolio name or a symbol that nothing can
// have, given to a command that looks one up, is refused as the invalid
// input it is (exit code 3, in the words of "portfolio create"), not looked
// up and found missing.
func TestEmptyNamesAndSymbols(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	trades := writeFile(t, "t.csv", "2024-01-03,buy,AAPL,1,1\n")
	const empty = "folio: invalid name \"\": a portfolio name must not be empty\n"
	const blank = "folio: invalid name \"   \": a portfolio name must not be empty\n"
	requireCleanRefusals := func(t *testing.T, want string, argLists ...[]string) {
		t.Helper()
		before := snapshot(t, pool)
		for _, args := range argLists {
			assert.Equal(t, want, c.fails(t, 3, args...), "%q", args)
		}
		require.Equal(t, before, snapshot(t, pool), "something was written")
	}
	// "portfolio create" says the same, after what it was doing.
	assert.Equal(t, "folio: create portfolio: "+strings.TrimPrefix(empty, "folio: "), c.fails(t, 3, "portfolio", "create", ""))
	for _, name := range []string{"", "   "} {
		want := empty
		if name != "" {
			want = blank
		}
		requireCleanRefusals(t, want,
			[]string{"portfolio", "show", name},
			[]string{"portfolio", "delete", name},
			[]string{"portfolio", "rename", name, "x"},
			[]string{"report", name},
			[]string{"buy", name, "AAPL", "1", "--price", "1"},
			[]string{"sell", name, "AAPL", "1", "--price", "1"},
			[]string{"trade", "import", name, trades},
			[]string{"trade", "import", name, "/nonexistent.csv"}, // the name comes first
		)
	}
	requireRefusals(t, c, pool, []refusal{
		{"price set", []string{"price", "set", "", "1"}, 3, []string{`invalid symbol ""`}},
		{"buy", []string{"buy", "Main", "", "1", "--price", "1"}, 3, []string{`invalid symbol ""`}},
		{"sell", []string{"sell", "Main", " ", "1", "--price", "1"}, 3, []string{`invalid symbol " "`}},
		{"security add", []string{"security", "add", "", "--name", "x"}, 3, []string{`invalid symbol ""`}},
	})
}

// TestStoredVerbatim checks that names are data, never SQL, and come back
// exactly as given.
func TestStoredVerbatim(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	for _, name := range []string{
		"'; DROP TABLE portfolio; --",
		"Épargne 日本 📈",
		`Robert"); DELETE FROM investment; --`,
		"100% _growth_ \\ 'quoted'",
		strings.Repeat("日", 100),
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, fmt.Sprintf("Created portfolio %q (USD).\n", name), c.ok(t, "portfolio", "create", name))
			assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from portfolio where name = $1", name))

			var list []summaryJSON
			c.okJSON(t, &list, "portfolio", "list", "--search", name)
			require.Len(t, list, 1)
			assert.Equal(t, name, list[0].Name)
			out := lines(c.ok(t, "portfolio", "list", "--search", name))
			require.Len(t, out, 2)
			assert.True(t, strings.HasPrefix(out[1], name+"  USD "), "the name is printed as it is: %q", out[1])

			c.ok(t, "buy", name, "AAPL", "1", "--price", "2", "--date", "2024-01-02")
			var show portfolioJSON
			c.okJSON(t, &show, "portfolio", "show", name)
			assert.Equal(t, name, show.Name)
			require.Len(t, show.Lots, 1)
			assert.True(t, strings.HasPrefix(c.ok(t, "portfolio", "show", name), name+" (USD, version 2)\n"))
			assert.True(t, strings.HasPrefix(c.ok(t, "report", name), name+" (USD) as of "))
			var rep reportJSON
			c.okJSON(t, &rep, "report", name)
			assert.Equal(t, name, rep.Portfolio)
		})
	}
	// The table is still there, with every name exactly as given.
	assert.Equal(t, "portfolio", queryOne[string](t, pool, "select to_regclass('portfolio')::text"))
	assert.Equal(t, 5, queryOne[int](t, pool, "select count(*) from portfolio"))
	assert.Equal(t, 5, queryOne[int](t, pool, "select count(*) from investment"))
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from portfolio where name = $1", "'; DROP TABLE portfolio; --"))
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from portfolio where name = $1", "Épargne 日本 📈"))

	// A search for a LIKE wildcard matches it literally.
	var list []summaryJSON
	c.okJSON(t, &list, "portfolio", "list", "--search", "%")
	require.Len(t, list, 1)
	assert.Equal(t, "100% _growth_ \\ 'quoted'", list[0].Name)

	// A name that looks like a flag, after "--".
	assert.Equal(t, "Created portfolio \"-x\" (USD).\n", c.ok(t, "portfolio", "create", "--", "-x"))
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from portfolio where name = '-x'"))
}

// csvFile makes a CSV file of n good rows with bad in place of row bad
// (1-based, after the header if any).
func csvFile(t *testing.T, header string, n, bad int, good func(i int) string, badRow string) string {
	t.Helper()
	var b strings.Builder
	if header != "" {
		b.WriteString(header + "\n")
	}
	for i := 1; i <= n; i++ {
		if i == bad {
			b.WriteString(badRow + "\n")
			continue
		}
		b.WriteString(good(i) + "\n")
	}
	return writeFile(t, "import.csv", b.String())
}

func TestImportAllOrNothing(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	day := func(i int) string {
		return time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
	}
	buyRow := func(i int) string { return day(i) + ",buy,AAPL,1," + fmt.Sprint(100+i) }
	priceRow := func(i int) string { return "AAPL," + day(i) + "," + fmt.Sprint(100+i) }
	const header = "date,side,symbol,quantity,price"

	// 300 rows, the bad one at row 150, which is line 151 after the header.
	requireRefusals(t, c, pool, []refusal{
		{"trade: bad quantity", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2024-06-01,buy,AAPL,-3,100")},
			3, []string{"line 151", `"-3"`}},
		{"trade: bad date", []string{"trade", "import", "Main", csvFile(t, "", 300, 150, buyRow, "2024-02-30,buy,AAPL,1,100")},
			3, []string{"line 150", `"2024-02-30"`}},
		{"trade: bad side", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2024-06-01,hold,AAPL,1,100")},
			3, []string{"line 151", `"hold"`}},
		{"trade: bad price", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2024-06-01,buy,AAPL,1,1e3")},
			3, []string{"line 151", `"1e3"`}},
		{"trade: too few fields", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2024-06-01,buy,AAPL,1")},
			3, []string{"line 151", "4 fields, want 5"}},
		// Failures found while applying, in date order: the sell of 1000
		// is dated after every buy, and still the line is its own.
		{"trade: sell more than held", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2025-01-01,sell,AAPL,1000,100")},
			3, []string{"line 151", "insufficient quantity"}},
		{"trade: unknown symbol", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2024-06-01,buy,ZZZ,1,100")},
			4, []string{"line 151", "ZZZ", "not found"}},
		{"trade: currency mismatch", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, "2024-06-01,buy,MSFT,1,100")},
			3, []string{"line 151", "MSFT"}},
		{"trade: unbalanced quote", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, `2024-06-01,buy,"AAPL,1,100`)},
			3, []string{"line 151"}},
		{"trade: bare quote", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, `2024-06-01,buy,AA"PL,1,100`)},
			3, []string{"line 151"}},
		{"trade: header only in the middle", []string{"trade", "import", "Main", csvFile(t, header, 300, 150, buyRow, header)},
			3, []string{"line 151", `"date"`}},

		{"price: bad price", []string{"price", "import", csvFile(t, "symbol,date,price", 300, 150, priceRow, "AAPL,2024-06-01,-1")},
			3, []string{"line 151", `"-1"`}},
		{"price: bad date", []string{"price", "import", csvFile(t, "", 300, 150, priceRow, "AAPL,2024-13-01,1")},
			3, []string{"line 150", `"2024-13-01"`}},
		{"price: bad symbol", []string{"price", "import", csvFile(t, "", 300, 150, priceRow, "AA PL,2024-06-01,1")},
			3, []string{"line 150", `"AA PL"`}},
		{"price: unknown symbol", []string{"price", "import", csvFile(t, "", 300, 150, priceRow, "ZZZ,2024-06-01,1")},
			4, []string{"line 150", "ZZZ", "not found"}},
		{"price: too many fields", []string{"price", "import", csvFile(t, "", 300, 150, priceRow, "AAPL,2024-06-01,1,2")},
			3, []string{"line 150", "4 fields, want 3"}},
		{"price: unbalanced quote", []string{"price", "import", csvFile(t, "", 300, 150, priceRow, `"AAPL,2024-06-01,1`)},
			3, []string{"line 150"}},
	})

	// The same files without the bad row are fine, so the refusals above
	// were for that row alone.
	assert.Equal(t, "Imported 300 trades into \"Main\" (300 buys, 0 sells, realized gain 0.00).\n",
		c.ok(t, "trade", "import", "Main", csvFile(t, header, 300, 0, buyRow, "")))
	var prices map[string]int
	c.okJSON(t, &prices, "price", "import", csvFile(t, "", 300, 0, priceRow, ""))
	// Rows 1 to 147 are older than the fixture's price of 2024-06-28.
	assert.Equal(t, map[string]int{"imported": 153, "securities": 1, "skipped": 147}, prices)
	assert.Equal(t, "400.0000000000 2024-11-27", queryOne[string](t, pool,
		"select last_price::text || ' ' || price_date::text from security where symbol = 'AAPL'"))
	assert.Equal(t, 301, queryOne[int](t, pool, "select count(*) from investment"))
}

// TestImportHeaders: a first line that is a header, but not the one
// expected, is refused as such, rather than with the first field of it that
// does not parse as data; a first line of data is still data.
func TestImportHeaders(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	before := snapshot(t, pool)
	const prices, trades = "symbol,date,price", "date,side,symbol,quantity,price"
	for _, tc := range []struct {
		columns, file, want string
	}{
		{prices, "symbol,price,date\nAAPL,2024-07-01,5\n", "line 1: neither the header symbol,date,price nor a row of data (got symbol,price,date)"},
		{prices, "ticker,date,price\nAAPL,2024-07-01,5\n", "line 1: neither the header symbol,date,price nor a row of data (got ticker,date,price)"},
		{prices, "\n\nSymbol,Day\nAAPL,2024-07-01,5\n", "line 3: neither the header symbol,date,price nor a row of data (got Symbol,Day)"},
		{prices, "AAPL,yesterday,abc\n", "line 1: neither the header symbol,date,price nor a row of data (got AAPL,yesterday,abc)"},
		{prices, "sym\x01bol,date,price\n", `line 1: neither the header symbol,date,price nor a row of data (got "sym\x01bol,date,price")`},
		{prices, "symbol;date;price\nAAPL;2024-07-01;5\n", "line 1: 1 field, want 3 (symbol,date,price)"},
		{prices, "AAPL,2024-07-01\n", "line 1: 2 fields, want 3 (symbol,date,price)"},
		{prices, "AAPL,2024-13-01,5\n", `line 1: invalid date "2024-13-01"`},
		{prices, "AAPL,soon,-5\n", `line 1: invalid date "soon"`},
		{trades, "Date,Type,Ticker,Shares,Price\n2024-01-03,buy,AAPL,1,1\n",
			"line 1: neither the header date,side,symbol,quantity,price nor a row of data (got Date,Type,Ticker,Shares,Price)"},
		{trades, "date,symbol,side,quantity,price\n", "line 1: neither the header date,side,symbol,quantity,price nor a row of data (got date,symbol,side,quantity,price)"},
		{trades, "2024-01-03,buy,AAPL,1\n", "line 1: 4 fields, want 5 (date,side,symbol,quantity,price)"},
		{trades, trades + "\n2024-01-03,buy,AAPL\n", "line 2: 3 fields, want 5 (date,side,symbol,quantity,price)"},
		{trades, "2024-01-03,hold,AAPL,1,1\n", `line 1: invalid side "hold"`},
	} {
		args := []string{"price", "import"}
		if tc.columns == trades {
			args = []string{"trade", "import", "Main"}
		}
		file := writeFile(t, "import.csv", tc.file)
		// The whole message where it is the CLI's, the start of it where
		// the domain goes on to say what is allowed.
		check := func(stderr, input string) {
			t.Helper()
			want := "folio: " + input + ": " + tc.want
			if strings.HasSuffix(tc.want, ")") {
				assert.Equal(t, want+"\n", stderr, "%q", tc.file)
			} else {
				assert.True(t, strings.HasPrefix(stderr, want), "%q:\n%s", tc.file, stderr)
			}
		}
		check(c.fails(t, 3, append(args, file)...), file)
		c.stdin = tc.file
		check(c.fails(t, 3, append(args, "-")...), "standard input")
		require.Equal(t, before, snapshot(t, pool), "something was written")
	}
}

// TestImportLongLine feeds a 10 MB line among good ones: refused by line
// number, writing nothing. (That the reader does not take the line into
// memory, TestReadLongLineIsBoundedInMemory shows.)
func TestImportLongLine(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	long := strings.Repeat("1", 10<<20)
	trades := csvFile(t, "", 200, 101, func(int) string { return "2024-03-01,buy,AAPL,1,1" }, "2024-03-01,buy,AAPL,1,"+long)
	prices := csvFile(t, "symbol,date,price", 200, 101, func(int) string { return "AAPL,2024-07-01,1" }, "AAPL,2024-07-01,"+long)
	quoted := csvFile(t, "", 200, 101, func(int) string { return "AAPL,2024-07-01,1" }, `AAPL,2024-07-01,"`+long+`"`)
	before := snapshot(t, pool)
	for _, args := range [][]string{
		{"trade", "import", "Main", trades},
		{"price", "import", prices},
		{"price", "import", quoted},
	} {
		r := c.run(t, args...)
		require.Equal(t, 3, r.code, "%v", r)
		requireCleanError(t, r)
		line := "line 101"
		if args[1] == "import" && args[2] == prices {
			line = "line 102"
		}
		assert.Contains(t, r.stderr, line, "%v", r)
		assert.Contains(t, r.stderr, "longer than", "%v", r)
		require.Equal(t, before, snapshot(t, pool))
	}
}

// TestEmptyFlagValues: a flag given with an empty value is refused, naming
// the flag, rather than taken for the flag left out (today, USD, the
// variable, every interface on port 80): a value of the data with exit code
// 3, a setting with exit code 2. An empty --search matches every name.
func TestEmptyFlagValues(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	c.timeout = 20 * time.Second // serve --addr= would serve until killed
	const usage = "\nRun with --help for usage.\n"
	before := snapshot(t, pool)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"price", "set", "AAPL", "1", "--date="}, 3,
			"folio: --date must not be empty: give a date as YYYY-MM-DD, or leave the flag out for today\n"},
		{[]string{"buy", "Main", "AAPL", "1", "--price", "1", "--date", ""}, 3,
			"folio: --date must not be empty: give a date as YYYY-MM-DD, or leave the flag out for today\n"},
		{[]string{"sell", "Main", "AAPL", "1", "--price", "1", "--date="}, 3,
			"folio: --date must not be empty: give a date as YYYY-MM-DD, or leave the flag out for today\n"},
		{[]string{"buy", "Main", "AAPL", "1", "--price="}, 3, "folio: --price must not be empty: give the price per share\n"},
		{[]string{"security", "add", "ZZ", "--name", ""}, 3, "folio: --name must not be empty: give the security's name\n"},
		{[]string{"security", "add", "ZZ", "--name", "Z", "--currency="}, 3,
			"folio: --currency must not be empty: give a three-letter code such as EUR, or leave the flag out for USD\n"},
		{[]string{"portfolio", "create", "P", "--currency", ""}, 3,
			"folio: --currency must not be empty: give a three-letter code such as EUR, or leave the flag out for USD\n"},
		{[]string{"serve", "--addr="}, 2, "folio: --addr must not be empty: give host:port, or leave the flag out for 127.0.0.1:8080" + usage},
		{[]string{"migrate", "create", "x", "--dir="}, 2, "folio: --dir must not be empty: give a directory, or leave the flag out for sql/schema" + usage},
		{[]string{"portfolio", "list", "--data-dir="}, 2,
			"folio: --data-dir must not be empty: give a directory, or leave the flag out for $FOLIO_DATA_DIR or ./.folio" + usage},
		{[]string{"--database-url=", "portfolio", "list"}, 2,
			"folio: --database-url must not be empty: give a connection string, or leave the flag out for $DATABASE_URL or the embedded default" + usage},
	} {
		assert.Equal(t, tc.want, c.fails(t, tc.code, tc.args...), "%q", tc.args)
	}
	require.Equal(t, before, snapshot(t, pool), "something was written")

	assert.Equal(t, []string{
		"NAME   CURRENCY  LOTS  COST BASIS",
		"Main   USD          1     1000.00",
		"Other  USD          0        0.00",
	}, lines(c.ok(t, "portfolio", "list", "--search", "")))
}

// TestEmptyValuesCoverEveryFlag: every flag that takes a value says what
// its empty value is, and emptyValues names no other flag.
func TestEmptyValuesCoverEveryFlag(t *testing.T) {
	var flags, described []string
	for name := range valueFlags(commands()) {
		flags = append(flags, name)
	}
	for name := range emptyValues {
		described = append(described, name)
	}
	assert.ElementsMatch(t, described, flags)
}

// TestTradeImportUnknownPortfolio: a portfolio that does not exist is
// reported before the input is read (standard input that never ends here),
// and as the portfolio's error, not the file's.
func TestTradeImportUnknownPortfolio(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	before := snapshot(t, pool)
	const want = "folio: portfolio \"NoSuch\": not found\n"
	file := writeFile(t, "in.csv", "2024-03-01,buy,AAPL,1,1\n")
	assert.Equal(t, want, c.fails(t, 4, "trade", "import", "NoSuch", file))
	assert.Equal(t, want, c.fails(t, 4, "trade", "import", "NoSuch", "/nonexistent/in.csv"))

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd, stdout, stderr := c.command(t, ctx, "trade", "import", "NoSuch", "-")
	in, feed, err := os.Pipe()
	require.NoError(t, err)
	defer feed.Close()
	cmd.Stdin = in
	require.NoError(t, cmd.Start())
	in.Close()
	_, err = feed.Write([]byte("2024-03-01,buy,AAPL,1,1\n"))
	require.NoError(t, err)
	err = cmd.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Equal(t, 4, exitErr.ExitCode(), "stderr: %s", stderr)
	assert.Empty(t, stdout.String())
	assert.Equal(t, want, stderr.String())
	require.Equal(t, before, snapshot(t, pool), "something was written")
}

// A name stored before the rule that a name must show something (a joiner
// and an accent, say) is still found by name, so that it can be renamed;
// a new name like it is refused.
func TestNameStoredBeforeTheVisibleRuleCanBeRenamed(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	const old = "\u200d\u0301"
	_, err := pool.Exec(t.Context(), `insert into portfolio (id, name, currency, version)
		values ('00000000-0000-7000-8000-000000000001', $1, 'USD', 1)`, old)
	require.NoError(t, err)
	assert.Contains(t, c.fails(t, 3, "portfolio", "create", old), "must show something")
	assert.Contains(t, c.ok(t, "portfolio", "show", old), "version 1")
	assert.Equal(t, "Renamed \"\\u200d\u0301\" to \"Visible\".\n", c.ok(t, "portfolio", "rename", old, "Visible"))
	assert.Equal(t, "Visible", queryOne[string](t, pool, "select name from portfolio"))
}

// Arguments in the wrong order are refused as before (the first one is
// what is wrong), and a hint says the order when the words fit it the
// other way round; nothing is written.
func TestArgumentsInTheWrongOrder(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	trades := writeFile(t, "trades.csv", "2024-03-01,buy,AAPL,1,1\n")
	before := snapshot(t, pool)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"buy", "AAPL", "Main", "1", "--price", "1"}, 4,
			"folio: portfolio \"AAPL\": not found\nfolio: hint: AAPL is a security and \"Main\" a portfolio: buy takes PORTFOLIO SYMBOL QUANTITY\n"},
		{[]string{"sell", "aapl", "Main", "1", "--price", "1"}, 4,
			"folio: portfolio \"aapl\": not found\nfolio: hint: AAPL is a security and \"Main\" a portfolio: sell takes PORTFOLIO SYMBOL QUANTITY\n"},
		{[]string{"price", "set", "190", "AAPL"}, 3,
			"folio: invalid price \"AAPL\""},
		{[]string{"trade", "import", trades, "Main"}, 4,
			"folio: portfolio \"" + trades + "\": not found\nfolio: hint: " + trades + " is a file and \"Main\" a portfolio: trade import takes PORTFOLIO FILE.csv\n"},
	} {
		stderr := c.fails(t, tc.code, tc.args...)
		if strings.HasSuffix(tc.want, "\n") {
			assert.Equal(t, tc.want, stderr, "%q", tc.args)
		} else {
			assert.True(t, strings.HasPrefix(stderr, tc.want), "%q: %s", tc.args, stderr)
			assert.True(t, strings.HasSuffix(stderr, "folio: hint: price set takes SYMBOL PRICE\n"), "%q: %s", tc.args, stderr)
		}
	}
	// No hint where the other order does not fit either.
	assert.Equal(t, "folio: portfolio \"Nope\": not found\n", c.fails(t, 4, "buy", "Nope", "Main", "1", "--price", "1"))
	assert.Equal(t, before, snapshot(t, pool))
}

// TestDatabaseURLWhiteSpace: white space around a connection string is
// dropped (a value copied with its line break still works), and one of
// nothing but white space is refused as a setting, exit 2, rather than
// read as a connection string that names nothing, which pgx would take
// for libpq's defaults (the message would then be about a server on
// /var/run/postgresql, or worse, a connection to another database).
func TestDatabaseURLWhiteSpace(t *testing.T) {
	t.Parallel()
	c, pool := newCLI(t)
	url := c.url
	c.url = " \t" + url + "\n"
	c.ok(t, "portfolio", "create", "Padded")
	assert.Contains(t, c.ok(t, "portfolio", "list"), "Padded")
	c.url = ""
	assert.Contains(t, c.ok(t, "--database-url", " "+url+" ", "portfolio", "list"), "Padded")

	before := snapshot(t, pool)
	c.url = " \n"
	assert.Equal(t, "folio: DATABASE_URL holds only white space: give a connection string, or unset it for the embedded default\n",
		c.fails(t, 2, "portfolio", "create", "Blank"))
	c.url = url
	assert.Equal(t, "folio: --database-url must not be blank: give a connection string, or leave the flag out for $DATABASE_URL or the embedded default\nRun with --help for usage.\n",
		c.fails(t, 2, "--database-url", "  ", "portfolio", "create", "Blank"))
	c.url = "  "
	assert.Equal(t, "folio: DATABASE_URL holds only white space: give a connection string, or unset it for the embedded default\n",
		c.fails(t, 2, "demo"))
	require.Equal(t, before, snapshot(t, pool), "something was written")
}

// TestDataDirWhiteSpace: a data directory of white space alone is a slip,
// not a directory named " " to make a cluster in.
func TestDataDirWhiteSpace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &cli{env: []string{"FOLIO_DATA_DIR= \t"}, dir: dir}
	assert.Equal(t, "folio: FOLIO_DATA_DIR holds only white space: give a directory, or unset it for ./.folio\n",
		c.fails(t, 2, "portfolio", "list"))
	assert.Equal(t, "folio: --data-dir must not be blank: give a directory, or leave the flag out for $FOLIO_DATA_DIR or ./.folio\nRun with --help for usage.\n",
		c.fails(t, 2, "--data-dir", " ", "migrate", "version"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is made")
}

// TestDataDirThatIsACluster: the cluster's own directory given as the data
// directory (it holds PG_VERSION) is refused, rather than a second cluster
// made inside the first.
func TestDataDirThatIsACluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pgdata := filepath.Join(dir, "pgdata")
	require.NoError(t, os.Mkdir(pgdata, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(pgdata, "PG_VERSION"), []byte("15\n"), 0o600))
	c := &cli{dir: dir}
	assert.Equal(t, "folio: "+pgdata+" is a PostgreSQL data directory itself: give folio's data directory, which holds its cluster in pgdata (here "+dir+")\n",
		c.fails(t, 2, "--data-dir", pgdata, "portfolio", "list"))
	c.env = []string{"FOLIO_DATA_DIR=" + pgdata + "/"}
	assert.Contains(t, c.fails(t, 2, "migrate", "status"), "is a PostgreSQL data directory itself")
	entries, err := os.ReadDir(pgdata)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing is made beside PG_VERSION")
}

// TestTradesBeforeTheLatestSale: a buy or sell dated before the portfolio's
// latest sale is refused with exit 3, naming both days, and writes nothing,
// from the command line and from a file; first in, first out stays true of
// the lots kept. A trade on the day of the latest sale is in order.
func TestTradesBeforeTheLatestSale(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t) // Main: 10 AAPL bought 2024-01-02 at 100
	c.ok(t, "buy", "Main", "AAPL", "10", "--price", "200", "--date", "2024-03-01")
	assert.Contains(t, c.ok(t, "sell", "Main", "AAPL", "10", "--price", "150", "--date", "2024-06-01"), "1000.00")

	before := snapshot(t, pool)
	// 10 were held on Feb 1, but the June sale took them.
	assert.Equal(t, `folio: sell AAPL from "Main": trade out of date order: the latest sale from this portfolio is dated 2024-06-01, `+
		`and a sale dated 2024-02-01, before it, would need shares that sale may have taken first in, first out; record trades in date order `+
		`(folio keeps the lots held, not the history of trades, so it cannot redo that sale)`+"\n",
		c.fails(t, 3, "sell", "Main", "AAPL", "10", "--price", "150", "--date", "2024-02-01"))
	// First in, first out, the June sale would have taken this lot.
	assert.Contains(t, c.fails(t, 3, "buy", "Main", "AAPL", "10", "--price", "50", "--date", "2024-01-01"),
		"a buy dated 2024-01-01, before it,")
	trades := writeFile(t, "trades.csv", "date,side,symbol,quantity,price\n2024-06-02,buy,AAPL,1,1\n2024-05-31,buy,AAPL,1,1\n")
	assert.Contains(t, c.fails(t, 3, "trade", "import", "Main", trades), "line 3")
	require.Equal(t, before, snapshot(t, pool), "something was written")

	c.ok(t, "sell", "Main", "AAPL", "1", "--price", "150", "--date", "2024-06-01")
	c.ok(t, "buy", "Main", "AAPL", "1", "--price", "150", "--date", "2024-06-01")
	assert.Equal(t, []string{
		"SECURITY  QUANTITY  UNIT COST     COST  ACQUIRED",
		"AAPL             9     200.00  1800.00  2024-03-01",
		"AAPL             1     150.00   150.00  2024-06-01",
	}, lines(c.ok(t, "portfolio", "show", "Main"))[2:])
}

// TestLookAlikeNames: names that print as "Growth" but hold an invisible
// character no script or emoji needs there are refused (exit 3, naming
// the character and where it is), so that a list never shows two
// portfolios that look the same. One stored before the rule, by another
// tool, is still found by its exact name and can be renamed.
func TestLookAlikeNames(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	c.ok(t, "portfolio", "create", "Growth")
	for _, tc := range []struct{ name, want string }{
		{"\u200eGrowth", "U+200E at character 1"},
		{"Growth\u200d", "U+200D at character 7"},
		{"Growth\ufe0f", "U+FE0F at character 7"},
		{"Gro\U000E0041wth", "U+E0041 at character 4"},
	} {
		before := snapshot(t, pool)
		assert.Contains(t, c.fails(t, 3, "portfolio", "create", tc.name), tc.want, "%q", tc.name)
		assert.Contains(t, c.fails(t, 3, "portfolio", "rename", "Growth", tc.name), tc.want, "%q", tc.name)
		assert.Contains(t, c.fails(t, 3, "security", "add", "LOOK", "--name", tc.name), tc.want, "%q", tc.name)
		require.Equal(t, before, snapshot(t, pool), "something was written")
	}
	assert.Contains(t, c.ok(t, "portfolio", "create", "Famille 👨\u200d👩\u200d👧"), "Famille")

	_, err := pool.Exec(t.Context(), "insert into portfolio (id, name, currency) values (gen_random_uuid(), $1, 'USD')", "Growth\u200d")
	require.NoError(t, err)
	c.ok(t, "portfolio", "rename", "Growth\u200d", "Growth 2")
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from portfolio where name = 'Growth 2'"))
}

// An import holds every row until it writes them all: more than 100,000
// rows are refused at the first one over, naming it, and nothing is
// written. A trade import that would give a portfolio more lots than it
// may hold fails at the buy that would, as any refused trade does.
func TestImportLimits(t *testing.T) {
	t.Parallel()
	c, pool := fixture(t)
	prices := csvFile(t, "symbol,date,price", 100_001, 0, func(int) string { return "AAPL,2024-07-01,1" }, "")
	trades := csvFile(t, "", 100_001, 0, func(int) string { return "2024-03-01,sell,AAPL,1,1" }, "")
	lots := csvFile(t, "", 10_001, 0, func(int) string { return "2024-03-01,buy,AAPL,1,1" }, "")
	before := snapshot(t, pool)
	for _, tc := range []struct {
		args       []string
		line, want string
	}{
		{[]string{"price", "import", prices}, "line 100002", "more than 100000 rows: import the file in parts"},
		{[]string{"trade", "import", "Main", trades}, "line 100001", "more than 100000 rows: import the file in parts"},
		// Main holds one lot already: the 10,000th buy is one too many.
		{[]string{"trade", "import", "Main", lots}, "line 10000:", "the portfolio holds 10000 lots, the most one may"},
	} {
		r := c.run(t, tc.args...)
		require.Equal(t, 3, r.code, "%v", r)
		requireCleanError(t, r)
		assert.Contains(t, r.stderr, tc.line, "%v", r)
		assert.Contains(t, r.stderr, tc.want, "%v", r)
		require.Equal(t, before, snapshot(t, pool))
	}
}
