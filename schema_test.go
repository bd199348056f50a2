package folio_test

// The schema's constraints, exercised through the generated queries the rest
// of folio uses: every CHECK, key and foreign key in sql/schema refuses the
// row it exists to refuse, with the SQLSTATE and constraint name callers map
// errors by, and leaves the tables as they were. The folio_assert guards of
// the queries (SQLSTATE FOL01) are covered the same way.
//
// When several CHECK constraints of a row fail, PostgreSQL reports the first
// by name, so each case below breaks exactly one rule.

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// SQLSTATEs the schema raises.
const (
	checkViolation      = "23514"
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
	notNullViolation    = "23502"
	numericOutOfRange   = "22003"
	folioAssert         = "FOL01" // folio_assert in 00005_folio_assert.sql
)

var (
	ctx = context.Background()
	day = time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)

	// The largest value numeric(28, 10) holds: 18 integer and 10 fraction digits.
	maxNumeric = "999999999999999999.9999999999"
	// 19 integer digits: one more than numeric(28, 10) holds.
	tooManyDigits = "1000000000000000000"
)

type db struct {
	pool *pgxpool.Pool
	q    *dbgen.Queries
}

func newDB(t *testing.T) db {
	t.Helper()
	pool := pgtest.NewPool(t)
	return db{pool: pool, q: dbgen.New(pool)}
}

// count returns the number of rows of a table (a constant of the test).
func (d db) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	require.NoError(t, d.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n))
	return n
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func price(s string) decimal.NullDecimal { return decimal.NewNullDecimal(dec(s)) }

func date(t time.Time) *time.Time { return &t }

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// requirePgError asserts err is a PostgreSQL error with this SQLSTATE and
// constraint name ("" for errors that name none) and returns it.
func requirePgError(t *testing.T, err error, code, constraint string) *pgconn.PgError {
	t.Helper()
	require.Error(t, err, "the statement should have failed with %s %s", code, constraint)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "not a PostgreSQL error: %v", err)
	require.Equal(t, code, pgErr.Code, "SQLSTATE of %q", pgErr.Message)
	require.Equal(t, constraint, pgErr.ConstraintName, "constraint of %q", pgErr.Message)
	return pgErr
}

func requireEqualDecimal(t *testing.T, want string, got decimal.Decimal) {
	t.Helper()
	require.Truef(t, dec(want).Equal(got), "want %s, got %s", want, got)
}

// ---------------------------------------------------------------- security

func validSecurity(symbol string) dbgen.InsertSecurityParams {
	return dbgen.InsertSecurityParams{
		ID:        newID(),
		Symbol:    symbol,
		Name:      symbol + " Inc.",
		Currency:  "USD",
		LastPrice: price("10.5"),
		PriceDate: date(day),
	}
}

// byID is the UpdateSecurityPricesByID of new prices p and q for the
// stored securities a and b, on a day, with their stored prices as read.
func byID(a, b dbgen.InsertSecurityParams, p, q decimal.Decimal, on time.Time) dbgen.UpdateSecurityPricesByIDParams {
	return dbgen.UpdateSecurityPricesByIDParams{
		Ids:           []uuid.UUID{a.ID, b.ID},
		Prices:        []decimal.Decimal{p, q},
		PriceDates:    []time.Time{on, on},
		HadPrices:     []bool{true, true},
		OldPrices:     []decimal.Decimal{a.LastPrice.Decimal, b.LastPrice.Decimal},
		OldPriceDates: []time.Time{*a.PriceDate, *b.PriceDate},
	}
}

func TestSecurityInsertRoundTrip(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	cases := []struct {
		name      string
		params    dbgen.InsertSecurityParams
		wantPrice string // "" for no price
	}{
		{
			name: "longest symbol, 200 CJK characters, largest price",
			params: dbgen.InsertSecurityParams{
				ID: newID(), Symbol: "ABCDEFGH.1-Z", Name: strings.Repeat("日", 200), Currency: "JPY",
				LastPrice: price("123456789012345678.1234567890"), PriceDate: date(day),
			},
			wantPrice: "123456789012345678.1234567890",
		},
		{
			name: "shortest symbol and name, no price",
			params: dbgen.InsertSecurityParams{
				ID: newID(), Symbol: "X", Name: "x", Currency: "EUR",
			},
		},
		{
			name: "200 four-byte characters, zero price",
			params: dbgen.InsertSecurityParams{
				ID: newID(), Symbol: "0", Name: strings.Repeat("📈", 200), Currency: "GBP",
				LastPrice: price("0"), PriceDate: date(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)),
			},
			wantPrice: "0",
		},
		{
			name: "mixed unicode name, largest numeric",
			params: dbgen.InsertSecurityParams{
				ID: newID(), Symbol: "MAX", Name: "Ünïcødé Fund — 日本 «'\";--»", Currency: "CHF",
				LastPrice: price(maxNumeric), PriceDate: date(day),
			},
			wantPrice: maxNumeric,
		},
		{
			// numeric(28, 10) rounds an 11th fraction digit instead of refusing it.
			name: "eleven fraction digits are rounded",
			params: dbgen.InsertSecurityParams{
				ID: newID(), Symbol: "ROUND", Name: "Round", Currency: "USD",
				LastPrice: price("1.12345678905"), PriceDate: date(day),
			},
			wantPrice: "1.1234567891",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, d.q.InsertSecurity(ctx, tc.params))

			got, err := d.q.GetSecurity(ctx, tc.params.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.params.Symbol, got.Symbol)
			assert.Equal(t, tc.params.Name, got.Name)
			assert.Equal(t, tc.params.Currency, got.Currency)
			if tc.wantPrice == "" {
				assert.False(t, got.LastPrice.Valid, "price")
				assert.Nil(t, got.PriceDate, "price date")
			} else {
				require.True(t, got.LastPrice.Valid, "price")
				requireEqualDecimal(t, tc.wantPrice, got.LastPrice.Decimal)
				require.NotNil(t, got.PriceDate)
				assert.True(t, tc.params.PriceDate.Equal(*got.PriceDate), "price date %v", *got.PriceDate)
			}
			assert.WithinDuration(t, time.Now(), got.CreatedAt, time.Minute)

			bySymbol, err := d.q.GetSecurityBySymbol(ctx, tc.params.Symbol)
			require.NoError(t, err)
			assert.Equal(t, tc.params.ID, bySymbol.ID)
		})
	}
	assert.Equal(t, len(cases), d.count(t, "security"))
}

func TestSecurityInsertConstraints(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	taken := validSecurity("TAKEN")
	require.NoError(t, d.q.InsertSecurity(ctx, taken))

	type params = dbgen.InsertSecurityParams
	symbol := func(s string) func(*params) { return func(p *params) { p.Symbol = s } }
	name := func(s string) func(*params) { return func(p *params) { p.Name = s } }
	currency := func(s string) func(*params) { return func(p *params) { p.Currency = s } }

	cases := []struct {
		name       string
		mutate     func(*params)
		code       string
		constraint string
	}{
		{"same id", func(p *params) { p.ID = taken.ID }, uniqueViolation, "security_pkey"},
		{"same symbol", symbol("TAKEN"), uniqueViolation, "security_symbol_key"},

		{"lower-case symbol", symbol("abc"), checkViolation, "security_symbol_shape"},
		{"mixed-case symbol", symbol("Abc"), checkViolation, "security_symbol_shape"},
		{"13-character symbol", symbol("ABCDEFGHIJKLM"), checkViolation, "security_symbol_shape"},
		{"empty symbol", symbol(""), checkViolation, "security_symbol_shape"},
		{"dollar in symbol", symbol("AB$"), checkViolation, "security_symbol_shape"},
		{"space in symbol", symbol("AB C"), checkViolation, "security_symbol_shape"},
		{"underscore in symbol", symbol("A_B"), checkViolation, "security_symbol_shape"},
		{"percent in symbol", symbol("A%"), checkViolation, "security_symbol_shape"},
		{"trailing newline in symbol", symbol("ABC\n"), checkViolation, "security_symbol_shape"},
		{"non-ASCII letter in symbol", symbol("ÄBC"), checkViolation, "security_symbol_shape"},
		{"SQL in symbol", symbol("X');DROP--"), checkViolation, "security_symbol_shape"},
		{"quote in symbol", symbol("O'NEIL"), checkViolation, "security_symbol_shape"},
		{"dots only", symbol(".."), checkViolation, "security_symbol_shape"},
		{"leading dash", symbol("-A"), checkViolation, "security_symbol_shape"},

		{"empty name", name(""), checkViolation, "security_name_length"},
		{"201-character name", name(strings.Repeat("a", 201)), checkViolation, "security_name_length"},
		{"201 CJK characters", name(strings.Repeat("日", 201)), checkViolation, "security_name_length"},
		{"decomposed name", name("Cafe\u0301"), checkViolation, "security_name_text"},
		{"zero-width space in name", name("A\u200bB"), checkViolation, "security_name_text"},
		{"right-to-left override in name", name("A\u202eB"), checkViolation, "security_name_text"},
		{"line separator in name", name("A\u2028B"), checkViolation, "security_name_text"},
		{"Hangul filler in name", name("A\u3164B"), checkViolation, "security_name_text"},
		{"combining grapheme joiner in name", name("A\u034fB"), checkViolation, "security_name_text"},
		{"musical format control in name", name("A\U0001D173B"), checkViolation, "security_name_text"},

		{"lower-case currency", currency("usd"), checkViolation, "security_currency_code"},
		{"two-letter currency", currency("US"), checkViolation, "security_currency_code"},
		{"four-letter currency", currency("USDX"), checkViolation, "security_currency_code"},
		{"empty currency", currency(""), checkViolation, "security_currency_code"},
		{"digit in currency", currency("U5D"), checkViolation, "security_currency_code"},

		{"tab in name", name("Acme\tCorp"), checkViolation, "security_name_plain"},
		{"C1 control in name", name("Acme\u0085Corp"), checkViolation, "security_name_plain"},
		{"trailing no-break space in name", name("Acme\u00a0"), checkViolation, "security_name_plain"},
		{"leading ideographic space in name", name("\u3000Acme"), checkViolation, "security_name_plain"},
		{"negative price", func(p *params) { p.LastPrice = price("-0.0000000001") }, checkViolation, "security_last_price_nonnegative"},
		{"price dated before 1900", func(p *params) { p.PriceDate = date(time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)) }, checkViolation, "security_price_date_range"},
		{"price dated after 9999", func(p *params) { p.PriceDate = date(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) }, checkViolation, "security_price_date_range"},
		{"price without date", func(p *params) { p.PriceDate = nil }, checkViolation, "security_price_dated"},
		{"date without price", func(p *params) { p.LastPrice = decimal.NullDecimal{} }, checkViolation, "security_price_dated"},
		{"price with 19 integer digits", func(p *params) { p.LastPrice = price(tooManyDigits) }, numericOutOfRange, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validSecurity("NEW")
			tc.mutate(&p)
			err := d.q.InsertSecurity(ctx, p)
			requirePgError(t, err, tc.code, tc.constraint)

			if p.ID != taken.ID {
				_, err = d.q.GetSecurity(ctx, p.ID)
				require.ErrorIs(t, err, pgx.ErrNoRows, "the refused row was written")
			}
			require.Equal(t, 1, d.count(t, "security"), "rows in security")
			got, err := d.q.GetSecurity(ctx, taken.ID)
			require.NoError(t, err)
			require.Equal(t, taken.Name, got.Name, "the existing row changed")
		})
	}
	// The security table survived the SQL in the symbols above.
	list, err := d.q.ListSecurities(ctx, dbgen.ListSecuritiesParams{PageSize: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func TestSecurityUpdateConstraints(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	a, b := validSecurity("AAA"), validSecurity("BBB")
	require.NoError(t, d.q.InsertSecurity(ctx, a))
	require.NoError(t, d.q.InsertSecurity(ctx, b))
	before := map[uuid.UUID]*dbgen.Security{}
	for _, id := range []uuid.UUID{a.ID, b.ID} {
		s, err := d.q.GetSecurity(ctx, id)
		require.NoError(t, err)
		before[id] = s
	}
	later := day.AddDate(0, 0, 1)

	cases := []struct {
		name       string
		run        func() error
		code       string
		constraint string
	}{
		{"rename to empty", func() error {
			return d.q.UpdateSecurityName(ctx, dbgen.UpdateSecurityNameParams{ID: a.ID, OldName: a.Name, Name: ""})
		}, checkViolation, "security_name_length"},
		{"rename to 201 characters", func() error {
			return d.q.UpdateSecurityName(ctx, dbgen.UpdateSecurityNameParams{ID: a.ID, OldName: a.Name, Name: strings.Repeat("é", 201)})
		}, checkViolation, "security_name_length"},
		{"rename unknown security", func() error {
			return d.q.UpdateSecurityName(ctx, dbgen.UpdateSecurityNameParams{ID: newID(), Name: "x"})
		}, folioAssert, ""},
		{"price without date", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: a.ID, OldPrice: a.LastPrice, OldPriceDate: a.PriceDate, LastPrice: price("11")})
		}, checkViolation, "security_price_dated"},
		{"date without price", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: a.ID, OldPrice: a.LastPrice, OldPriceDate: a.PriceDate, PriceDate: date(later)})
		}, checkViolation, "security_price_dated"},
		{"negative price", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: a.ID, OldPrice: a.LastPrice, OldPriceDate: a.PriceDate, LastPrice: price("-1"), PriceDate: date(later)})
		}, checkViolation, "security_last_price_nonnegative"},
		{"price of unknown security", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: newID(), LastPrice: price("1"), PriceDate: date(later)})
		}, folioAssert, ""},
		{"rename from a name it no longer has", func() error {
			return d.q.UpdateSecurityName(ctx, dbgen.UpdateSecurityNameParams{ID: a.ID, OldName: "Not " + a.Name, Name: "x"})
		}, folioAssert, ""},
		{"price over one it no longer has", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: a.ID, OldPrice: price("10.6"), OldPriceDate: a.PriceDate, LastPrice: price("1"), PriceDate: date(later)})
		}, folioAssert, ""},
		{"price over a date it no longer has", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: a.ID, OldPrice: a.LastPrice, OldPriceDate: date(later), LastPrice: price("1"), PriceDate: date(later)})
		}, folioAssert, ""},
		{"price as if it had none", func() error {
			return d.q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{ID: a.ID, LastPrice: price("1"), PriceDate: date(later)})
		}, folioAssert, ""},
		{"prices by id with one negative", func() error {
			return d.q.UpdateSecurityPricesByID(ctx, byID(a, b, dec("12"), dec("-12"), later))
		}, checkViolation, "security_last_price_nonnegative"},
		{"prices by id with one stale", func() error {
			arg := byID(a, b, dec("12"), dec("13"), later)
			arg.OldPrices[1] = dec("10.6")
			return d.q.UpdateSecurityPricesByID(ctx, arg)
		}, folioAssert, ""},
		{"prices by id as if one had none", func() error {
			arg := byID(a, b, dec("12"), dec("13"), later)
			arg.HadPrices[0] = false
			return d.q.UpdateSecurityPricesByID(ctx, arg)
		}, folioAssert, ""},
		{"prices by id of an unknown security", func() error {
			arg := byID(a, b, dec("12"), dec("13"), later)
			arg.Ids[1] = newID()
			return d.q.UpdateSecurityPricesByID(ctx, arg)
		}, folioAssert, ""},
		{"batch with one negative price", func() error {
			return d.q.UpdateSecurityPrices(ctx, dbgen.UpdateSecurityPricesParams{
				Symbols: []string{"AAA", "BBB"}, Prices: []decimal.Decimal{dec("12"), dec("-12")}, PriceDates: []time.Time{later, later},
			})
		}, checkViolation, "security_last_price_nonnegative"},
		{"batch with a missing date", func() error {
			// unnest pads the shorter array with NULL.
			return d.q.UpdateSecurityPrices(ctx, dbgen.UpdateSecurityPricesParams{
				Symbols: []string{"AAA", "BBB"}, Prices: []decimal.Decimal{dec("12"), dec("13")}, PriceDates: []time.Time{later},
			})
		}, checkViolation, "security_price_dated"},
		{"batch with a price of 19 integer digits", func() error {
			return d.q.UpdateSecurityPrices(ctx, dbgen.UpdateSecurityPricesParams{
				Symbols: []string{"AAA", "BBB"}, Prices: []decimal.Decimal{dec("12"), dec(tooManyDigits)}, PriceDates: []time.Time{later, later},
			})
		}, numericOutOfRange, ""},
		{"batch with an unknown symbol", func() error {
			return d.q.UpdateSecurityPrices(ctx, dbgen.UpdateSecurityPricesParams{
				Symbols: []string{"AAA", "NOPE"}, Prices: []decimal.Decimal{dec("12"), dec("13")}, PriceDates: []time.Time{later, later},
			})
		}, folioAssert, ""},
		{"batch naming a symbol twice", func() error {
			return d.q.UpdateSecurityPrices(ctx, dbgen.UpdateSecurityPricesParams{
				Symbols: []string{"AAA", "AAA"}, Prices: []decimal.Decimal{dec("12"), dec("13")}, PriceDates: []time.Time{later, later},
			})
		}, folioAssert, ""},
		{"delete unknown security", func() error {
			return d.q.DeleteSecurity(ctx, newID())
		}, folioAssert, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pgErr := requirePgError(t, tc.run(), tc.code, tc.constraint)
			if tc.code == folioAssert {
				assert.Contains(t, []string{"security changed or deleted concurrently", "security deleted concurrently", "unknown security symbol"}, pgErr.Message)
			}
			require.Equal(t, 2, d.count(t, "security"))
			for id, want := range before {
				got, err := d.q.GetSecurity(ctx, id)
				require.NoError(t, err)
				require.Equal(t, want, got, "a refused update changed %s", want.Symbol)
			}
		})
	}

	t.Run("valid batch", func(t *testing.T) {
		require.NoError(t, d.q.UpdateSecurityPrices(ctx, dbgen.UpdateSecurityPricesParams{
			Symbols: []string{"AAA", "BBB"}, Prices: []decimal.Decimal{dec(maxNumeric), dec("0")}, PriceDates: []time.Time{later, later},
		}))
		got, err := d.q.GetSecuritiesBySymbols(ctx, []string{"AAA", "BBB"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		for _, s := range got {
			want := map[string]string{"AAA": maxNumeric, "BBB": "0"}[s.Symbol]
			requireEqualDecimal(t, want, s.LastPrice.Decimal)
			require.True(t, later.Equal(*s.PriceDate))
			require.False(t, s.UpdatedAt.Before(before[s.ID].UpdatedAt), "updated_at went back")
		}
	})
}

// ---------------------------------------------------------------- portfolio

func validPortfolio(name string) dbgen.InsertPortfolioParams {
	return dbgen.InsertPortfolioParams{ID: newID(), Name: name, Currency: "USD"}
}

func TestPortfolioInsertRoundTrip(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	names := []string{
		"x",
		strings.Repeat("日", 100),
		strings.Repeat("a", 100),
		"Émilie's 日本 portfolio 📈",
		"in ter nal  spaces",
	}
	for _, name := range names {
		p := validPortfolio(name)
		p.Currency = "EUR"
		require.NoError(t, d.q.InsertPortfolio(ctx, p), name)

		got, err := d.q.GetPortfolio(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, name, got.Name)
		assert.Equal(t, "EUR", got.Currency)
		assert.Equal(t, int64(1), got.Version, "a new portfolio is at version 1")

		byName, err := d.q.GetPortfolioByName(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, p.ID, byName.ID)
	}
	assert.Equal(t, len(names), d.count(t, "portfolio"))
}

func TestPortfolioInsertConstraints(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	taken := validPortfolio("Taken")
	require.NoError(t, d.q.InsertPortfolio(ctx, taken))

	type params = dbgen.InsertPortfolioParams
	name := func(s string) func(*params) { return func(p *params) { p.Name = s } }
	currency := func(s string) func(*params) { return func(p *params) { p.Currency = s } }

	cases := []struct {
		name       string
		mutate     func(*params)
		code       string
		constraint string
	}{
		{"same id", func(p *params) { p.ID = taken.ID }, uniqueViolation, "portfolio_pkey"},
		{"same name", name("Taken"), uniqueViolation, "portfolio_name_key"},
		{"empty name", name(""), checkViolation, "portfolio_name_length"},
		{"101-character name", name(strings.Repeat("a", 101)), checkViolation, "portfolio_name_length"},
		{"101 CJK characters", name(strings.Repeat("日", 101)), checkViolation, "portfolio_name_length"},
		{"leading space", name(" x"), checkViolation, "portfolio_name_trimmed"},
		{"decomposed name", name("Cafe\u0301"), checkViolation, "portfolio_name_text"},
		{"soft hyphen in name", name("Gro\u00adwth"), checkViolation, "portfolio_name_text"},
		{"bidi isolate in name", name("\u2067x"), checkViolation, "portfolio_name_text"},
		{"paragraph separator in name", name("x\u2029y"), checkViolation, "portfolio_name_text"},
		{"interlinear annotation in name", name("x\ufffay"), checkViolation, "portfolio_name_text"},
		{"Khmer inherent vowel in name", name("x\u17b5y"), checkViolation, "portfolio_name_text"},
		{"language tag in name", name("x\U000E0001y"), checkViolation, "portfolio_name_text"},
		{"deprecated format character in name", name("x\u206fy"), checkViolation, "portfolio_name_text"},
		{"trailing space", name("x "), checkViolation, "portfolio_name_trimmed"},
		{"tab in name", name("x\ty"), checkViolation, "portfolio_name_plain"},
		{"DEL in name", name("x\u007fy"), checkViolation, "portfolio_name_plain"},
		{"trailing no-break space", name("x\u00a0"), checkViolation, "portfolio_name_plain"},
		{"leading em space", name("\u2003x"), checkViolation, "portfolio_name_plain"},
		{"only a space", name(" "), checkViolation, "portfolio_name_trimmed"},
		{"lower-case currency", currency("usd"), checkViolation, "portfolio_currency_code"},
		{"two-letter currency", currency("US"), checkViolation, "portfolio_currency_code"},
		{"four-letter currency", currency("USDX"), checkViolation, "portfolio_currency_code"},
		{"empty currency", currency(""), checkViolation, "portfolio_currency_code"},
		{"latest sale before 1900", func(p *params) { p.LastSaleOn = date(time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)) },
			checkViolation, "portfolio_last_sale_on_range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validPortfolio("New")
			tc.mutate(&p)
			requirePgError(t, d.q.InsertPortfolio(ctx, p), tc.code, tc.constraint)

			if p.ID != taken.ID {
				_, err := d.q.GetPortfolio(ctx, p.ID)
				require.ErrorIs(t, err, pgx.ErrNoRows, "the refused row was written")
			}
			require.Equal(t, 1, d.count(t, "portfolio"))
			got, err := d.q.GetPortfolio(ctx, taken.ID)
			require.NoError(t, err)
			require.Equal(t, "Taken", got.Name)
			require.Equal(t, int64(1), got.Version)
		})
	}
}

func TestPortfolioUpdateConstraints(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	a, b := validPortfolio("Alpha"), validPortfolio("Beta")
	require.NoError(t, d.q.InsertPortfolio(ctx, a))
	require.NoError(t, d.q.InsertPortfolio(ctx, b))
	want, err := d.q.GetPortfolio(ctx, a.ID)
	require.NoError(t, err)

	rename := func(name string, version int64) func() error {
		return func() error {
			return d.q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{ID: a.ID, Name: name, Version: version})
		}
	}
	cases := []struct {
		name       string
		run        func() error
		code       string
		constraint string
	}{
		{"rename to a taken name", rename("Beta", 1), uniqueViolation, "portfolio_name_key"},
		{"rename to empty", rename("", 1), checkViolation, "portfolio_name_length"},
		{"rename to 101 characters", rename(strings.Repeat("b", 101), 1), checkViolation, "portfolio_name_length"},
		{"rename with a trailing space", rename("Alpha ", 1), checkViolation, "portfolio_name_trimmed"},
		{"rename a stale version", rename("Gamma", 2), folioAssert, ""},
		{"rename an unknown portfolio", func() error {
			return d.q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{ID: newID(), Name: "Gamma", Version: 1})
		}, folioAssert, ""},
		{"bump a stale version", func() error {
			return d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: a.ID, Version: 0})
		}, folioAssert, ""},
		{"bump a future version", func() error {
			return d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: a.ID, Version: 2})
		}, folioAssert, ""},
		{"bump an unknown portfolio", func() error {
			return d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: newID(), Version: 1})
		}, folioAssert, ""},
		{"latest sale after 9999", func() error {
			return d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{
				ID: a.ID, Version: 1, LastSaleOn: date(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)),
			})
		}, checkViolation, "portfolio_last_sale_on_range"},
		{"latest sale before 1900 in a bump of many", func() error {
			return d.q.BumpPortfolioVersions(ctx, dbgen.BumpPortfolioVersionsParams{
				Ids: []uuid.UUID{a.ID, b.ID}, Versions: []int64{1, 1}, Sold: []bool{false, true},
				LastSalesOn: []time.Time{day, time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)},
			})
		}, checkViolation, "portfolio_last_sale_on_range"},
		{"latest sale before 1900 with a rename", func() error {
			return d.q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{
				ID: a.ID, Name: "Gamma", Version: 1, LastSaleOn: date(time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)),
			})
		}, checkViolation, "portfolio_last_sale_on_range"},
		{"delete a stale version", func() error {
			return d.q.DeletePortfolio(ctx, dbgen.DeletePortfolioParams{ID: a.ID, Version: 2})
		}, folioAssert, ""},
		{"delete an unknown portfolio", func() error {
			return d.q.DeletePortfolio(ctx, dbgen.DeletePortfolioParams{ID: newID(), Version: 1})
		}, folioAssert, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pgErr := requirePgError(t, tc.run(), tc.code, tc.constraint)
			if tc.code == folioAssert {
				assert.Equal(t, "portfolio changed or deleted concurrently", pgErr.Message)
			}
			got, err := d.q.GetPortfolio(ctx, a.ID)
			require.NoError(t, err)
			require.Equal(t, want, got, "a refused write changed the portfolio")
			require.Equal(t, 2, d.count(t, "portfolio"))
		})
	}

	t.Run("bump and rename the current version", func(t *testing.T) {
		require.NoError(t, d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: a.ID, Version: 1}))
		require.NoError(t, d.q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{ID: a.ID, Name: "Gamma 日本", Version: 2}))
		got, err := d.q.GetPortfolio(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(3), got.Version)
		assert.Equal(t, "Gamma 日本", got.Name)
		// The version the update just left behind is stale now.
		err = d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: a.ID, Version: 2})
		requirePgError(t, err, folioAssert, "")
		got, err = d.q.GetPortfolio(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(3), got.Version)
	})
}

// No generated query sets a version below 1 (InsertPortfolio writes 1, the
// others add 1), so portfolio_version_positive is reached with raw SQL; the
// increment itself stops at the end of bigint instead of wrapping around.
func TestPortfolioVersion(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	p := validPortfolio("Versioned")
	require.NoError(t, d.q.InsertPortfolio(ctx, p))

	for _, v := range []int64{0, -1} {
		_, err := d.pool.Exec(ctx, "UPDATE portfolio SET version = $1 WHERE id = $2", v, p.ID)
		requirePgError(t, err, checkViolation, "portfolio_version_positive")
	}
	got, err := d.q.GetPortfolio(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.Version)

	const maxVersion = int64(^uint64(0) >> 1)
	_, err = d.pool.Exec(ctx, "UPDATE portfolio SET version = $1 WHERE id = $2", maxVersion, p.ID)
	require.NoError(t, err)
	err = d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: p.ID, Version: maxVersion})
	requirePgError(t, err, numericOutOfRange, "")
	got, err = d.q.GetPortfolio(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, maxVersion, got.Version)
}

func TestListPortfoliosMatchesWildcardsLiterally(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	ids := map[string]uuid.UUID{}
	for _, name := range []string{"100% growth", "100 growth", "a_b", "axb", `back\slash`, "backslash", "Mixed CASE"} {
		p := validPortfolio(name)
		require.NoError(t, d.q.InsertPortfolio(ctx, p))
		ids[name] = p.ID
	}
	s := validSecurity("LOT")
	require.NoError(t, d.q.InsertSecurity(ctx, s))
	lots := map[uuid.UUID]string{} // lot id -> portfolio name
	for name, id := range ids {
		lot := validInvestment(id, s.ID)
		require.NoError(t, d.q.InsertInvestment(ctx, lot))
		lots[lot.ID] = name
	}
	all := []string{"100% growth", "100 growth", "a_b", "axb", `back\slash`, "backslash", "Mixed CASE"}

	cases := []struct {
		search pgtype.Text
		want   []string
	}{
		{pgtype.Text{String: "%", Valid: true}, []string{"100% growth"}},
		{pgtype.Text{String: "0%", Valid: true}, []string{"100% growth"}},
		{pgtype.Text{String: "_", Valid: true}, []string{"a_b"}},
		{pgtype.Text{String: "a_b", Valid: true}, []string{"a_b"}},
		{pgtype.Text{String: `\`, Valid: true}, []string{`back\slash`}},
		{pgtype.Text{String: `\s`, Valid: true}, []string{`back\slash`}},
		{pgtype.Text{String: "%%", Valid: true}, nil},
		{pgtype.Text{String: "mixed case", Valid: true}, []string{"Mixed CASE"}},
		{pgtype.Text{String: "GROWTH", Valid: true}, []string{"100% growth", "100 growth"}},
		{pgtype.Text{String: "", Valid: true}, all},
		{pgtype.Text{}, all},
	}
	for _, tc := range cases {
		t.Run(tc.search.String, func(t *testing.T) {
			got, err := d.q.ListPortfolios(ctx, dbgen.ListPortfoliosParams{NameContains: tc.search, PageSize: 100})
			require.NoError(t, err)
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			require.ElementsMatch(t, tc.want, names)

			// The lots of the same page.
			inv, err := d.q.ListInvestmentsForPortfolioList(ctx, dbgen.ListInvestmentsForPortfolioListParams{NameContains: tc.search, PageSize: 100})
			require.NoError(t, err)
			var lotNames []string
			for _, i := range inv {
				lotNames = append(lotNames, lots[i.ID])
			}
			require.ElementsMatch(t, tc.want, lotNames)
		})
	}

	t.Run("pages", func(t *testing.T) {
		search := pgtype.Text{String: "b", Valid: true} // a_b, axb, back\slash, backslash
		first, err := d.q.ListPortfolios(ctx, dbgen.ListPortfoliosParams{NameContains: search, PageSize: 2})
		require.NoError(t, err)
		require.Len(t, first, 2)
		second, err := d.q.ListPortfolios(ctx, dbgen.ListPortfoliosParams{
			NameContains: search, After: pgtype.Text{String: first[1].Name, Valid: true}, PageSize: 2,
		})
		require.NoError(t, err)
		require.Len(t, second, 2)
		var names []string
		for _, p := range append(first, second...) {
			names = append(names, p.Name)
		}
		require.ElementsMatch(t, []string{"a_b", "axb", `back\slash`, "backslash"}, names)
		require.Less(t, first[1].Name, second[0].Name)
	})
}

// ---------------------------------------------------------------- investment

func validInvestment(portfolio, security uuid.UUID) dbgen.InsertInvestmentParams {
	return dbgen.InsertInvestmentParams{
		ID:          newID(),
		PortfolioID: portfolio,
		SecurityID:  security,
		Quantity:    dec("10"),
		UnitCost:    dec("99.5"),
		AcquiredOn:  day,
	}
}

// lotDB is a database with a portfolio and a security to make lots of.
type lotDB struct {
	db
	portfolio, security uuid.UUID
}

func newLotDB(t *testing.T) lotDB {
	t.Helper()
	d := newDB(t)
	p, s := validPortfolio("Lots"), validSecurity("LOT")
	require.NoError(t, d.q.InsertPortfolio(ctx, p))
	require.NoError(t, d.q.InsertSecurity(ctx, s))
	return lotDB{db: d, portfolio: p.ID, security: s.ID}
}

func (d lotDB) lots(t *testing.T) []*dbgen.ListInvestmentsByPortfolioIDsRow {
	t.Helper()
	lots, err := d.q.ListInvestmentsByPortfolioIDs(ctx, []uuid.UUID{d.portfolio})
	require.NoError(t, err)
	return lots
}

func TestInvestmentInsertRoundTrip(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	one := validInvestment(d.portfolio, d.security)
	one.Quantity, one.UnitCost = dec("123456789012345678.1234567890"), dec("0")
	one.AcquiredOn = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, d.q.InsertInvestment(ctx, one))

	batch := dbgen.InsertInvestmentsParams{
		Ids:          []uuid.UUID{newID(), newID(), newID()},
		PortfolioIds: []uuid.UUID{d.portfolio, d.portfolio, d.portfolio},
		SecurityIds:  []uuid.UUID{d.security, d.security, d.security},
		Quantities:   []decimal.Decimal{dec("0.0000000001"), dec(maxNumeric), dec("1")},
		UnitCosts:    []decimal.Decimal{dec(maxNumeric), dec("0.0000000001"), dec("1.12345678905")},
		AcquiredOns:  []time.Time{day, day.AddDate(0, 0, 1), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	require.NoError(t, d.q.InsertInvestments(ctx, batch))

	type lot struct {
		id                 uuid.UUID
		quantity, unitCost string
		acquired           time.Time
	}
	want := []lot{ // FIFO order: acquired_on, then id
		{one.ID, "123456789012345678.1234567890", "0", one.AcquiredOn},
		{batch.Ids[0], "0.0000000001", maxNumeric, day},
		{batch.Ids[1], maxNumeric, "0.0000000001", day.AddDate(0, 0, 1)},
		{batch.Ids[2], "1", "1.1234567891", batch.AcquiredOns[2]}, // the 11th digit is rounded
	}
	got := d.lots(t)
	require.Len(t, got, len(want))
	for i, w := range want {
		assert.Equal(t, w.id, got[i].ID, "lot %d", i)
		assert.Equal(t, d.portfolio, got[i].PortfolioID)
		assert.Equal(t, d.security, got[i].SecurityID)
		requireEqualDecimal(t, w.quantity, got[i].Quantity)
		requireEqualDecimal(t, w.unitCost, got[i].UnitCost)
		assert.True(t, w.acquired.Equal(got[i].AcquiredOn), "lot %d acquired %v", i, got[i].AcquiredOn)
	}

	byName, err := d.q.ListInvestmentsByPortfolioName(ctx, "Lots")
	require.NoError(t, err)
	byID, err := d.q.ListInvestmentsByPortfolio(ctx, d.portfolio)
	require.NoError(t, err)
	require.Len(t, byName, len(got))
	require.Len(t, byID, len(got))
	for i := range got {
		// One shape, one generated type per query.
		assert.Equal(t, *got[i], dbgen.ListInvestmentsByPortfolioIDsRow(*byName[i]))
		assert.Equal(t, *got[i], dbgen.ListInvestmentsByPortfolioIDsRow(*byID[i]))
	}
	held, err := d.q.GetSecuritiesOfPortfolios(ctx, []uuid.UUID{d.portfolio})
	require.NoError(t, err)
	require.Len(t, held, 1)
	assert.Equal(t, d.security, held[0].ID)
}

func TestInvestmentInsertConstraints(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	existing := validInvestment(d.portfolio, d.security)
	require.NoError(t, d.q.InsertInvestment(ctx, existing))

	type params = dbgen.InsertInvestmentParams
	quantity := func(s string) func(*params) { return func(p *params) { p.Quantity = dec(s) } }
	unitCost := func(s string) func(*params) { return func(p *params) { p.UnitCost = dec(s) } }

	cases := []struct {
		name       string
		mutate     func(*params)
		code       string
		constraint string
	}{
		{"same id", func(p *params) { p.ID = existing.ID }, uniqueViolation, "investment_pkey"},
		{"unknown portfolio", func(p *params) { p.PortfolioID = newID() }, foreignKeyViolation, "investment_portfolio_fk"},
		{"unknown security", func(p *params) { p.SecurityID = newID() }, foreignKeyViolation, "investment_security_fk"},
		{"zero quantity", quantity("0"), checkViolation, "investment_quantity_positive"},
		{"negative quantity", quantity("-1"), checkViolation, "investment_quantity_positive"},
		{"smallest negative quantity", quantity("-0.0000000001"), checkViolation, "investment_quantity_positive"},
		// Rounded to ten fraction digits, it is zero.
		{"quantity below the scale", quantity("0.00000000004"), checkViolation, "investment_quantity_positive"},
		{"negative unit cost", unitCost("-0.01"), checkViolation, "investment_unit_cost_nonnegative"},
		{"acquired before 1900", func(p *params) { p.AcquiredOn = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC) }, checkViolation, "investment_acquired_on_range"},
		{"acquired after 9999", func(p *params) { p.AcquiredOn = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, checkViolation, "investment_acquired_on_range"},
		{"quantity with 19 integer digits", quantity(tooManyDigits), numericOutOfRange, ""},
		{"quantity rounding up to 19 integer digits", quantity("999999999999999999.99999999995"), numericOutOfRange, ""},
		{"unit cost with 19 integer digits", unitCost(tooManyDigits), numericOutOfRange, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validInvestment(d.portfolio, d.security)
			tc.mutate(&p)
			requirePgError(t, d.q.InsertInvestment(ctx, p), tc.code, tc.constraint)

			// The same row in a batch, after a valid one: neither is written.
			ok := validInvestment(d.portfolio, d.security)
			err := d.q.InsertInvestments(ctx, dbgen.InsertInvestmentsParams{
				Ids:          []uuid.UUID{ok.ID, p.ID},
				PortfolioIds: []uuid.UUID{ok.PortfolioID, p.PortfolioID},
				SecurityIds:  []uuid.UUID{ok.SecurityID, p.SecurityID},
				Quantities:   []decimal.Decimal{ok.Quantity, p.Quantity},
				UnitCosts:    []decimal.Decimal{ok.UnitCost, p.UnitCost},
				AcquiredOns:  []time.Time{ok.AcquiredOn, p.AcquiredOn},
			})
			requirePgError(t, err, tc.code, tc.constraint)

			require.Equal(t, 1, d.count(t, "investment"), "rows in investment")
			lots := d.lots(t)
			require.Len(t, lots, 1)
			require.Equal(t, existing.ID, lots[0].ID)
		})
	}
}

// InsertInvestments pads arrays of unequal length with NULLs, which the NOT
// NULL columns refuse.
func TestInsertInvestmentsUnequalArrays(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	two := func() dbgen.InsertInvestmentsParams {
		return dbgen.InsertInvestmentsParams{
			Ids:          []uuid.UUID{newID(), newID()},
			PortfolioIds: []uuid.UUID{d.portfolio, d.portfolio},
			SecurityIds:  []uuid.UUID{d.security, d.security},
			Quantities:   []decimal.Decimal{dec("1"), dec("2")},
			UnitCosts:    []decimal.Decimal{dec("1"), dec("2")},
			AcquiredOns:  []time.Time{day, day},
		}
	}
	cases := []struct {
		column string
		cut    func(*dbgen.InsertInvestmentsParams)
	}{
		{"id", func(p *dbgen.InsertInvestmentsParams) { p.Ids = p.Ids[:1] }},
		{"portfolio_id", func(p *dbgen.InsertInvestmentsParams) { p.PortfolioIds = p.PortfolioIds[:1] }},
		{"security_id", func(p *dbgen.InsertInvestmentsParams) { p.SecurityIds = p.SecurityIds[:1] }},
		{"quantity", func(p *dbgen.InsertInvestmentsParams) { p.Quantities = p.Quantities[:1] }},
		{"unit_cost", func(p *dbgen.InsertInvestmentsParams) { p.UnitCosts = p.UnitCosts[:1] }},
		{"acquired_on", func(p *dbgen.InsertInvestmentsParams) { p.AcquiredOns = p.AcquiredOns[:1] }},
	}
	for _, tc := range cases {
		t.Run(tc.column, func(t *testing.T) {
			p := two()
			tc.cut(&p)
			pgErr := requirePgError(t, d.q.InsertInvestments(ctx, p), notNullViolation, "")
			assert.Equal(t, "investment", pgErr.TableName)
			assert.Equal(t, tc.column, pgErr.ColumnName)
			require.Equal(t, 0, d.count(t, "investment"))
		})
	}
}

func TestInvestmentWriteConstraints(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	a, b := validInvestment(d.portfolio, d.security), validInvestment(d.portfolio, d.security)
	b.AcquiredOn = day.AddDate(0, 0, 1)
	require.NoError(t, d.q.InsertInvestment(ctx, a))
	require.NoError(t, d.q.InsertInvestment(ctx, b))
	before := d.lots(t)
	require.Len(t, before, 2)

	setOne := func(id uuid.UUID, q string) func() error {
		return func() error {
			return d.q.UpdateInvestmentQuantity(ctx, dbgen.UpdateInvestmentQuantityParams{ID: id, Quantity: dec(q)})
		}
	}
	setMany := func(ids []uuid.UUID, qs ...string) func() error {
		return func() error {
			var quantities []decimal.Decimal
			for _, q := range qs {
				quantities = append(quantities, dec(q))
			}
			return d.q.UpdateInvestmentQuantities(ctx, dbgen.UpdateInvestmentQuantitiesParams{Ids: ids, Quantities: quantities})
		}
	}
	deleteLots := func(ids ...uuid.UUID) func() error {
		return func() error { return d.q.DeleteInvestments(ctx, ids) }
	}
	cases := []struct {
		name       string
		run        func() error
		code       string
		constraint string
	}{
		{"quantity to zero", setOne(a.ID, "0"), checkViolation, "investment_quantity_positive"},
		{"quantity negative", setOne(a.ID, "-5"), checkViolation, "investment_quantity_positive"},
		{"quantity with 19 integer digits", setOne(a.ID, tooManyDigits), numericOutOfRange, ""},
		{"quantity of an unknown lot", setOne(newID(), "5"), folioAssert, ""},
		{"batch with one zero quantity", setMany([]uuid.UUID{a.ID, b.ID}, "5", "0"), checkViolation, "investment_quantity_positive"},
		{"batch with a missing quantity", setMany([]uuid.UUID{a.ID, b.ID}, "5"), notNullViolation, ""},
		{"batch with an unknown lot", setMany([]uuid.UUID{a.ID, newID()}, "5", "6"), folioAssert, ""},
		{"delete with an unknown lot", deleteLots(a.ID, newID()), folioAssert, ""},
		{"delete naming a lot twice", deleteLots(a.ID, a.ID), folioAssert, ""},
		{"delete the security of held lots", func() error { return d.q.DeleteSecurity(ctx, d.security) }, foreignKeyViolation, "investment_security_fk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pgErr := requirePgError(t, tc.run(), tc.code, tc.constraint)
			if tc.code == folioAssert {
				assert.Equal(t, "lot changed or deleted concurrently", pgErr.Message)
			}
			require.Equal(t, before, d.lots(t), "a refused write changed the lots")
			_, err := d.q.GetSecurity(ctx, d.security)
			require.NoError(t, err, "the held security is gone")
		})
	}

	t.Run("valid writes", func(t *testing.T) {
		require.NoError(t, setOne(a.ID, "0.0000000001")())
		require.NoError(t, setMany([]uuid.UUID{a.ID, b.ID}, maxNumeric, "7")())
		lots := d.lots(t)
		require.Len(t, lots, 2)
		requireEqualDecimal(t, maxNumeric, lots[0].Quantity)
		requireEqualDecimal(t, "7", lots[1].Quantity)

		require.NoError(t, deleteLots(a.ID, b.ID)())
		require.Empty(t, d.lots(t))
		// Held by no lot, the security may go.
		require.NoError(t, d.q.DeleteSecurity(ctx, d.security))
		_, err := d.q.GetSecurity(ctx, d.security)
		require.ErrorIs(t, err, pgx.ErrNoRows)
	})
}

// Deleting a portfolio deletes its lots (ON DELETE CASCADE), and no others;
// the securities stay.
func TestDeletePortfolioCascadesToLots(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	other := validPortfolio("Other")
	require.NoError(t, d.q.InsertPortfolio(ctx, other))
	for _, p := range []uuid.UUID{d.portfolio, d.portfolio, other.ID} {
		require.NoError(t, d.q.InsertInvestment(ctx, validInvestment(p, d.security)))
	}
	require.NoError(t, d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: d.portfolio, Version: 1}))

	// A stale version deletes nothing.
	err := d.q.DeletePortfolio(ctx, dbgen.DeletePortfolioParams{ID: d.portfolio, Version: 1})
	requirePgError(t, err, folioAssert, "")
	require.Len(t, d.lots(t), 2)

	require.NoError(t, d.q.DeletePortfolio(ctx, dbgen.DeletePortfolioParams{ID: d.portfolio, Version: 2}))
	_, err = d.q.GetPortfolio(ctx, d.portfolio)
	require.ErrorIs(t, err, pgx.ErrNoRows)
	require.Empty(t, d.lots(t))
	require.Equal(t, 1, d.count(t, "investment"))
	rest, err := d.q.ListInvestmentsByPortfolioIDs(ctx, []uuid.UUID{other.ID})
	require.NoError(t, err)
	require.Len(t, rest, 1)
	_, err = d.q.GetSecurity(ctx, d.security)
	require.NoError(t, err)
}

// FOL01 aborts the transaction it happens in: what the transaction wrote
// before it is gone too, which is what a pipelined COMMIT relies on.
func TestFolioAssertAbortsTransaction(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	tx, err := d.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	q := d.q.WithTx(tx)
	lot := validInvestment(d.portfolio, d.security)
	require.NoError(t, q.InsertInvestment(ctx, lot))
	err = q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: d.portfolio, Version: 7})
	requirePgError(t, err, folioAssert, "")
	err = tx.Commit(ctx)
	require.True(t, errors.Is(err, pgx.ErrTxCommitRollback), "commit after FOL01: %v", err)

	require.Empty(t, d.lots(t))
	got, err := d.q.GetPortfolio(ctx, d.portfolio)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.Version)
}

// TestEveryConstraintHasAViolationTest lists the CHECK, foreign key, unique
// and primary key constraints of the migrated schema and requires each name
// among the constraints the tests in this file expect a violation of (the
// last argument of requirePgError, or a case's constraint): a constraint
// added without a test fails here.
func TestEveryConstraintHasAViolationTest(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	rows, err := d.pool.Query(ctx, `
		SELECT c.conname FROM pg_constraint AS c
		JOIN pg_namespace AS n ON n.oid = c.connamespace
		WHERE n.nspname = 'public' AND c.contype IN ('c', 'f', 'u', 'p')
		  AND c.conrelid <> 'goose_db_version'::regclass
		ORDER BY c.conname`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(names), 15, "the schema has its constraints: %v", names)

	src, err := os.ReadFile("schema_test.go")
	require.NoError(t, err)
	for _, name := range names {
		assert.Contains(t, string(src), `"`+name+`"`, "no test expects a violation of %s", name)
	}
	t.Logf("%d constraints, each with a violation test: %s", len(names), strings.Join(names, ", "))
}

// NaN is a NUMERIC no decimal.Decimal can hold, so no generated query can
// send it: written in SQL, as another tool would, it is refused, where the
// older checks let it through ('NaN' > 0 is true in PostgreSQL). So are
// the infinite days, which no time.Time is either.
func TestNotANumberAndInfiniteDaysAreRefused(t *testing.T) {
	t.Parallel()
	d := newLotDB(t)
	require.NoError(t, d.q.InsertInvestment(ctx, validInvestment(d.portfolio, d.security)))
	for _, c := range []struct{ sql, code, constraint string }{
		{"update investment set quantity = 'NaN'", checkViolation, "investment_numbers_not_nan"},
		{"update investment set unit_cost = 'NaN'", checkViolation, "investment_numbers_not_nan"},
		{"update investment set acquired_on = 'infinity'", checkViolation, "investment_acquired_on_range"},
		{"update security set last_price = 'NaN', price_date = '2024-01-02'", checkViolation, "security_last_price_not_nan"},
		{"update security set last_price = 1, price_date = '-infinity'", checkViolation, "security_price_date_range"},
	} {
		t.Run(c.sql, func(t *testing.T) {
			_, err := d.pool.Exec(ctx, c.sql)
			requirePgError(t, err, c.code, c.constraint)
		})
	}
}

// The version bumps set last_sale_on when given a day and keep it when not:
// NULL in BumpPortfolioVersion and UpdatePortfolioName, sold[i] false in
// BumpPortfolioVersions (whose day there is ignored).
func TestPortfolioLastSaleOn(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	a, b := validPortfolio("Alpha"), validPortfolio("Beta")
	a.LastSaleOn = date(day)
	require.NoError(t, d.q.InsertPortfolio(ctx, a))
	require.NoError(t, d.q.InsertPortfolio(ctx, b))
	lastSale := func(id uuid.UUID) *time.Time {
		t.Helper()
		got, err := d.q.GetPortfolio(ctx, id)
		require.NoError(t, err)
		return got.LastSaleOn
	}
	require.Equal(t, date(day), lastSale(a.ID))
	require.Nil(t, lastSale(b.ID))

	later := day.AddDate(0, 1, 0)
	require.NoError(t, d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: a.ID, Version: 1}))
	require.Equal(t, date(day), lastSale(a.ID), "NULL keeps the day")
	require.NoError(t, d.q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: b.ID, Version: 1, LastSaleOn: date(later)}))
	require.Equal(t, date(later), lastSale(b.ID))

	require.NoError(t, d.q.BumpPortfolioVersions(ctx, dbgen.BumpPortfolioVersionsParams{
		Ids: []uuid.UUID{a.ID, b.ID}, Versions: []int64{2, 2}, Sold: []bool{true, false},
		LastSalesOn: []time.Time{later.AddDate(0, 0, 1), day},
	}))
	require.Equal(t, date(later.AddDate(0, 0, 1)), lastSale(a.ID))
	require.Equal(t, date(later), lastSale(b.ID), "sold false keeps the day")

	require.NoError(t, d.q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{ID: b.ID, Name: "Gamma", Version: 3}))
	require.Equal(t, date(later), lastSale(b.ID), "a rename keeps the day")
	require.NoError(t, d.q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{ID: b.ID, Name: "Delta", Version: 4, LastSaleOn: date(day)}))
	require.Equal(t, date(day), lastSale(b.ID))
}
