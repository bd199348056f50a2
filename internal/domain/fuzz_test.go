package domain_test

// Fuzz tests of the domain's parsers: hostile input never panics, every
// rejection is a clear error, and every accepted value is canonical and
// round-trips through the database unchanged.
//
// The round trip needs PostgreSQL, so these targets ask pgtest for a
// database; the other tests of the package do not, and pgtest starts a
// server only when a test asks for one. `go test` runs the seeds below and
// those in testdata/fuzz; to fuzz, run one target at a time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzParseQuantity$' -fuzztime 60s -parallel 2 ./internal/domain/
//
// Each fuzzing worker is its own process with its own server and database.

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
)

// TestMain serves the whole test binary, the package's internal tests
// included; pgtest starts a server only for a test that asks for one.
func TestMain(m *testing.M) { pgtest.Main(m) }

// hostile is the seed corpus every target starts from: each parser also
// sees the inputs meant for the others.
var hostile = []string{
	// Empty, white space and control characters.
	"", " ", "\t", "\n", "\r\n", "\x00", "a\x00b", "\x00AAPL", "AAPL\x00", "\x1b[2J", "\x7f",
	" padded ", "\tTabbed\t", "\u00a0nbsp\u00a0", "\u3000ideographic\u3000", "\u0085nel\u0085",
	"\u2028line\u2029paragraph", "x\u2028", "\u200bzero width\u200b", "\ufeffBOM", "a\u200db", "👨\u200d👩\u200d👧",
	"\u200fRTL\u200e", "\u202egnp.exe", "\u2066isolate\u2069",
	// Unicode and broken UTF-8.
	"Épargne 日本 📈", "e\u0301", "\u0301", "Z\u0351\u0300\u0316\u0317", "\xff", "\xc3", "ab\xff\xfe",
	"\xed\xa0\x80", "\xed\xb0\x80", "\xef\xbf\xbe", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
	"\xc0\x80", "\xe0\x80\xaf", "\U000f0000", strings.Repeat("\U000f0000", 40), strings.Repeat("\xff", 40),
	// SQL and other metacharacters.
	"'; DROP TABLE portfolio; --", `Robert"); DELETE FROM investment; --`, `100% _under_ \back\slash`,
	"%", "_", `\`, "'", `"`, "<script>alert(1)</script>", "${jndi:ldap://x}", "%s%n%x",
	// Lengths around the limits, and far beyond.
	strings.Repeat("x", 100), strings.Repeat("x", 101), strings.Repeat("日", 100), strings.Repeat("日", 101),
	strings.Repeat("📈", 200), strings.Repeat("é", 201), " " + strings.Repeat("a", 100) + " ",
	strings.Repeat("x", 1<<20), strings.Repeat(" ", 1<<20) + "x", strings.Repeat("9", 1<<20),
	// Decimals.
	"0", "1", "12", "0.5", "1.10", "-0", "-0.0", "+1", "-1", "NaN", "nan", "Inf", "-Inf", "Infinity",
	"1e3", "1E3", "1e400", "1e-400", "0e0", "1.5e-3", "0x10", "1_000", "1,000", "1.", ".5", ".", " 1", "1 ",
	"0.0000000000", "0.0000000001", "0.00000000001", "1.00000000000", "1.12345678901",
	"999999999999999999.9999999999", "999999999999999999", "1000000000000000000", "1000000000000000000.0",
	strings.Repeat("0", 63) + "1", strings.Repeat("0", 64) + "1", "1." + strings.Repeat("0", 62),
	"１２", "٣", "1\u00a0000", "1e-2147483648", "1e2147483647", "1e9223372036854775807",
	// Dates.
	"2024-02-29", "2023-02-29", "2024-02-30", "1900-01-01", "1899-12-31", "9999-12-31", "0000-01-01",
	"2024-13-01", "2024-00-10", "2024-1-01", "+2024-01-01", "2024-01-01T00:00:00Z", "２０２４-01-01",
	" 2024-01-01", "2024/01/01", "01/02/2024", "20240101", "10000-01-01",
	// Symbols and currencies.
	"AAPL", "aapl", " aapl ", "brk.b", "RDS-A", "ſpy", "ıbm", "K\u212a", "TOOLONGSYMBOL", "ABCDEFGHIJKL",
	"A_B", "-", ".", "..", "USD", "usd", "US", "USDX", "U$D", "€UR",
}

func addSeeds(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
}

// maxMessage bounds an error message. The domain quotes at most 32 runes of
// the input, and strconv.Quote writes an unprintable rune as \U0010ffff: 32
// such runes are 320 bytes; the rest of the message is much less than 200.
const maxMessage = 512

// checkRejection checks an error from a Parse function for input in: it is
// the right kind, and its message names the problem and the input, safely.
func checkRejection(t *testing.T, in string, err error, kind error) {
	t.Helper()
	if !errors.Is(err, kind) || !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("error %q for %q is not %q", err, in, kind)
	}
	checkMessage(t, err.Error(), kind)
	// The message shows the input itself, or its beginning.
	shown, n := in, 0
	for i := range in {
		if n == 32 {
			shown = in[:i]
			break
		}
		n++
	}
	if !strings.Contains(err.Error(), quoteVisibly(shown)) {
		t.Fatalf("message %q does not show the input %q", err, in)
	}
}

// quoteVisibly is how a message quotes input: strconv.Quote, with the
// variation selectors, which Go counts as printable marks but which show
// nothing, escaped too.
func quoteVisibly(s string) string {
	var b strings.Builder
	for _, r := range strconv.Quote(s) {
		switch {
		case r >= 0xFE00 && r <= 0xFE0F:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0xE0100 && r <= 0xE01EF:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkMessage: a message begins with what is wrong, is short, and is
// printable text, so that neither a log line nor a terminal can be
// tampered with by echoed input.
func checkMessage(t *testing.T, msg string, kind error) {
	t.Helper()
	if !strings.HasPrefix(msg, kind.Error()+" ") {
		t.Fatalf("message %q does not begin with %q", msg, kind.Error())
	}
	if len(msg) > maxMessage {
		t.Fatalf("message of %d bytes: %.200q…", len(msg), msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("message %q is not UTF-8", msg)
	}
	for _, r := range msg {
		if !strconv.IsPrint(r) {
			t.Fatalf("message %q has unprintable %U", msg, r)
		}
	}
}

// fuzzDB is a database of the target's own. Values are written in
// transactions that are rolled back, so iterations do not see each other.
type fuzzDB struct {
	pool *pgxpool.Pool
	// A committed portfolio and security for lots to refer to.
	portfolioID, securityID uuid.UUID
}

const (
	fixturePortfolio = "fuzz fixture"
	fixtureSymbol    = "FIXTURE"
)

func newFuzzDB(f *testing.F, fixtures bool) *fuzzDB {
	f.Helper()
	db := &fuzzDB{pool: pgtest.NewPool(f), portfolioID: uuid.New(), securityID: uuid.New()}
	if fixtures {
		ctx := context.Background()
		q := dbgen.New(db.pool)
		if err := q.InsertPortfolio(ctx, dbgen.InsertPortfolioParams{ID: db.portfolioID, Name: fixturePortfolio, Currency: "USD"}); err != nil {
			f.Fatal(err)
		}
		if err := q.InsertSecurity(ctx, dbgen.InsertSecurityParams{ID: db.securityID, Symbol: fixtureSymbol, Name: "Fixture", Currency: "USD"}); err != nil {
			f.Fatal(err)
		}
	}
	return db
}

// rollback runs fn in a transaction that is then rolled back, and fails
// the test with fn's error.
func (db *fuzzDB) rollback(t *testing.T, fn func(ctx context.Context, tx pgx.Tx, q *dbgen.Queries) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(ctx, tx, dbgen.New(tx)); err != nil {
		t.Fatal(err)
	}
}

var symbolShape = regexp.MustCompile(`^[A-Z0-9.-]{1,12}$`)

func FuzzParseSymbol(f *testing.F) {
	addSeeds(f)
	db := newFuzzDB(f, false)
	f.Fuzz(func(t *testing.T, s string) {
		sym, err := domain.ParseSymbol(s)
		if err != nil {
			checkRejection(t, s, err, domain.ErrInvalidSymbol)
			return
		}
		if !symbolShape.MatchString(sym) {
			t.Fatalf("ParseSymbol(%q) = %q, not canonical", s, sym)
		}
		// Only trimming and ASCII upper-casing: "ſpy" must not become SPY.
		if trimmed := strings.TrimSpace(s); len(trimmed) != len(sym) || !strings.EqualFold(trimmed, sym) {
			t.Fatalf("ParseSymbol(%q) = %q: more than trimmed and upper-cased", s, sym)
		}
		if again, err := domain.ParseSymbol(sym); err != nil || again != sym {
			t.Fatalf("ParseSymbol(%q) = %q, %v: not idempotent", sym, again, err)
		}
		db.rollback(t, func(ctx context.Context, _ pgx.Tx, q *dbgen.Queries) error {
			id := uuid.New()
			if err := q.InsertSecurity(ctx, dbgen.InsertSecurityParams{ID: id, Symbol: sym, Name: "Fuzz", Currency: "USD"}); err != nil {
				return errors.New("the database refuses symbol " + strconv.Quote(sym) + ": " + err.Error())
			}
			row, err := q.GetSecurityBySymbol(ctx, sym)
			if err != nil {
				return err
			}
			if row.ID != id || row.Symbol != sym {
				t.Fatalf("stored symbol %q, read back %q", sym, row.Symbol)
			}
			return restoreSecurity(t, row)
		})
	})
}

func FuzzParseCurrency(f *testing.F) {
	addSeeds(f)
	db := newFuzzDB(f, false)
	f.Fuzz(func(t *testing.T, s string) {
		cur, err := domain.ParseCurrency(s)
		if err != nil {
			checkRejection(t, s, err, domain.ErrInvalidCurrency)
			return
		}
		if len(cur) != 3 || strings.Trim(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" || cur != strings.ToUpper(strings.TrimSpace(s)) {
			t.Fatalf("ParseCurrency(%q) = %q, not canonical", s, cur)
		}
		if again, err := domain.ParseCurrency(cur); err != nil || again != cur {
			t.Fatalf("ParseCurrency(%q) = %q, %v: not idempotent", cur, again, err)
		}
		db.rollback(t, func(ctx context.Context, _ pgx.Tx, q *dbgen.Queries) error {
			pid, sid := uuid.New(), uuid.New()
			if err := q.InsertPortfolio(ctx, dbgen.InsertPortfolioParams{ID: pid, Name: "Fuzz", Currency: cur}); err != nil {
				return errors.New("the database refuses portfolio currency " + strconv.Quote(cur) + ": " + err.Error())
			}
			if err := q.InsertSecurity(ctx, dbgen.InsertSecurityParams{ID: sid, Symbol: "FUZZ", Name: "Fuzz", Currency: cur}); err != nil {
				return errors.New("the database refuses security currency " + strconv.Quote(cur) + ": " + err.Error())
			}
			p, err := q.GetPortfolio(ctx, pid)
			if err != nil {
				return err
			}
			s, err := q.GetSecurity(ctx, sid)
			if err != nil {
				return err
			}
			if p.Currency != cur || s.Currency != cur {
				t.Fatalf("stored currency %q, read back %q and %q", cur, p.Currency, s.Currency)
			}
			if err := restorePortfolio(t, p, nil); err != nil {
				return err
			}
			return restoreSecurity(t, s)
		})
	})
}

// checkName checks what a name parser made of s (max runes at most).
func checkName(t *testing.T, s, name string, err error, max int) bool {
	t.Helper()
	if err != nil {
		checkRejection(t, s, err, domain.ErrInvalidName)
		return false
	}
	n := utf8.RuneCountInString(name)
	switch {
	case name != domain.NormalizeText(strings.TrimSpace(s)):
		t.Fatalf("name %q from %q: not just trimmed and normalized (NFC)", name, s)
	case !utf8.ValidString(name):
		t.Fatalf("name %q is not UTF-8", name)
	case n < 1 || n > max:
		t.Fatalf("name %q has %d runes", name, n)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		t.Fatalf("name %q has a control character", name)
	case strings.ContainsRune(name, utf8.RuneError):
		// Valid UTF-8 can hold U+FFFD itself; it is only suspicious.
		if !strings.Contains(s, "\uFFFD") {
			t.Fatalf("name %q has U+FFFD that %q did not", name, s)
		}
	}
	return true
}

func FuzzParsePortfolioName(f *testing.F) {
	addSeeds(f)
	db := newFuzzDB(f, false)
	f.Fuzz(func(t *testing.T, s string) {
		name, err := domain.ParsePortfolioName(s)
		if !checkName(t, s, name, err, domain.MaxNameLength) {
			return
		}
		if again, err := domain.ParsePortfolioName(name); err != nil || again != name {
			t.Fatalf("ParsePortfolioName(%q) = %q, %v: not idempotent", name, again, err)
		}
		db.rollback(t, func(ctx context.Context, _ pgx.Tx, q *dbgen.Queries) error {
			id := uuid.New()
			if err := q.InsertPortfolio(ctx, dbgen.InsertPortfolioParams{ID: id, Name: name, Currency: "USD"}); err != nil {
				return errors.New("the database refuses portfolio name " + strconv.Quote(name) + ": " + err.Error())
			}
			byName, err := q.GetPortfolioByName(ctx, name)
			if err != nil {
				return err
			}
			if byName.ID != id || byName.Name != name {
				t.Fatalf("stored name %q, read back %q", name, byName.Name)
			}
			// Found by a search for itself: LIKE wildcards in it match
			// only themselves.
			found, err := q.ListPortfolios(ctx, dbgen.ListPortfoliosParams{NameContains: pgtype.Text{String: name, Valid: true}, PageSize: 10})
			if err != nil {
				return err
			}
			if len(found) != 1 || found[0].ID != id {
				t.Fatalf("a search for %q finds %d portfolios", name, len(found))
			}
			return restorePortfolio(t, byName, nil)
		})
	})
}

func FuzzParseSecurityName(f *testing.F) {
	addSeeds(f)
	db := newFuzzDB(f, false)
	f.Fuzz(func(t *testing.T, s string) {
		name, err := domain.ParseSecurityName(s)
		if !checkName(t, s, name, err, domain.MaxSecurityNameLength) {
			return
		}
		if again, err := domain.ParseSecurityName(name); err != nil || again != name {
			t.Fatalf("ParseSecurityName(%q) = %q, %v: not idempotent", name, again, err)
		}
		db.rollback(t, func(ctx context.Context, _ pgx.Tx, q *dbgen.Queries) error {
			id := uuid.New()
			if err := q.InsertSecurity(ctx, dbgen.InsertSecurityParams{ID: id, Symbol: "FUZZ", Name: name, Currency: "USD"}); err != nil {
				return errors.New("the database refuses security name " + strconv.Quote(name) + ": " + err.Error())
			}
			row, err := q.GetSecurity(ctx, id)
			if err != nil {
				return err
			}
			if row.Name != name {
				t.Fatalf("stored name %q, read back %q", name, row.Name)
			}
			return restoreSecurity(t, row)
		})
	})
}

// amountOK is an oracle for decimals independent of the domain's code:
// whether r is > 0 (positive) or >= 0, below 10^18 and a whole number of
// 10^-10.
func amountOK(r *big.Rat, positive bool) bool {
	if r.Sign() < 0 || (positive && r.Sign() == 0) {
		return false
	}
	limit := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(domain.MaxIntegerDigits), nil))
	if r.Cmp(limit) >= 0 {
		return false
	}
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(domain.MaxFractionDigits), nil)))
	return scaled.IsInt()
}

var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// fuzzAmount checks a Parse function of decimals and its Check function.
func fuzzAmount(f *testing.F, parse func(string) (decimal.Decimal, error), check func(decimal.Decimal) error, kind error, positive bool) {
	addSeeds(f)
	db := newFuzzDB(f, true)
	f.Fuzz(func(t *testing.T, s string) {
		// The oracle: the documented format, length and limits.
		want := false
		if len(s) <= 64 && plainDecimal.MatchString(s) {
			r, ok := new(big.Rat).SetString(s)
			want = ok && amountOK(r, positive)
		}
		d, err := parse(s)
		switch {
		case err != nil && want:
			t.Fatalf("%q is refused: %v", s, err)
		case err != nil:
			checkRejection(t, s, err, kind)
			checkReason(t, s, err)
		case !want:
			t.Fatalf("%q is accepted as %s", s, d)
		default:
			checkAmount(t, s, d, check)
			roundTrip(t, db, d, positive)
		}

		// Check on what decimal.NewFromString makes of s (exponents,
		// signs and all): decimals from JSON or storage go that way.
		if len(s) > 4096 {
			return // NewFromString is superlinear; the parsers refuse long input first
		}
		d, err = decimal.NewFromString(s)
		if err != nil {
			return
		}
		err = check(d)
		if err != nil {
			checkMessage(t, err.Error(), kind)
		}
		// The oracle is cheap only for modest exponents and coefficients;
		// Check refuses more than 100 digits without looking closer.
		if exp := d.Exponent(); exp < -1000 || exp > 1000 || d.NumDigits() > 100 {
			return
		}
		want = amountOK(d.Rat(), positive)
		switch {
		case err != nil && want:
			t.Fatalf("%s (from %q) is refused: %v", d, s, err)
		case err == nil && !want:
			t.Fatalf("%s (from %q) is accepted", d, s)
		case err == nil:
			roundTrip(t, db, d, positive)
		}
	})
}

// checkReason checks that the reason given for refusing s holds.
func checkReason(t *testing.T, s string, err error) {
	t.Helper()
	msg := err.Error()
	value := func() *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok || len(s) > 64 {
			t.Fatalf("%q is refused for its value (%v), but it is not a plain number", s, err)
		}
		return r
	}
	switch {
	case strings.HasSuffix(msg, ": must not be negative") && value().Sign() >= 0:
		t.Fatalf("%q is not negative: %v", s, err)
	case strings.HasSuffix(msg, ": must be greater than 0") && value().Sign() > 0:
		t.Fatalf("%q is greater than 0: %v", s, err)
	case strings.HasSuffix(msg, ": use at most 18 digits before the decimal point and 10 after it") &&
		amountOK(new(big.Rat).Abs(value()), false):
		t.Fatalf("%q has few enough digits: %v", s, err)
	}
}

// checkAmount checks a decimal d parsed from s.
func checkAmount(t *testing.T, s string, d decimal.Decimal, check func(decimal.Decimal) error) {
	t.Helper()
	if !d.Equal(decimal.RequireFromString(s)) {
		t.Fatalf("%q parsed as %s", s, d)
	}
	if err := check(d); err != nil {
		t.Fatalf("%q is parsed as %s, which Check refuses: %v", s, d, err)
	}
	// The canonical text parses to the same value.
	if again, err := decimal.NewFromString(d.String()); err != nil || !again.Equal(d) {
		t.Fatalf("%s does not parse back: %s, %v", d, again, err)
	}
}

// roundTrip sends an accepted amount to the database as every column of
// type numeric(28,10) and reads it back.
func roundTrip(t *testing.T, db *fuzzDB, d decimal.Decimal, quantity bool) {
	t.Helper()
	db.rollback(t, func(ctx context.Context, tx pgx.Tx, q *dbgen.Queries) error {
		var cast decimal.Decimal
		if err := tx.QueryRow(ctx, "select $1::numeric(28,10)", d).Scan(&cast); err != nil {
			return errors.New("numeric(28,10) refuses " + d.String() + ": " + err.Error())
		}
		if !cast.Equal(d) {
			t.Fatalf("numeric(28,10) turns %s into %s", d, cast)
		}
		lot := dbgen.InsertInvestmentParams{
			ID: uuid.New(), PortfolioID: db.portfolioID, SecurityID: db.securityID,
			Quantity: decimal.NewFromInt(1), UnitCost: d, AcquiredOn: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		}
		if quantity {
			lot.Quantity, lot.UnitCost = d, decimal.NewFromInt(1)
		}
		if err := q.InsertInvestment(ctx, lot); err != nil {
			return errors.New("the investment table refuses " + d.String() + ": " + err.Error())
		}
		if !quantity {
			// A price is also a security's last price.
			on := lot.AcquiredOn
			old, err := q.GetSecurity(ctx, db.securityID)
			if err != nil {
				return err
			}
			err = q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{
				ID: db.securityID, LastPrice: decimal.NullDecimal{Decimal: d, Valid: true}, PriceDate: &on,
				OldPrice: old.LastPrice, OldPriceDate: old.PriceDate,
			})
			if err != nil {
				return errors.New("the security table refuses price " + d.String() + ": " + err.Error())
			}
			sec, err := q.GetSecurity(ctx, db.securityID)
			if err != nil {
				return err
			}
			if !sec.LastPrice.Valid || !sec.LastPrice.Decimal.Equal(d) {
				t.Fatalf("stored price %s, read back %v", d, sec.LastPrice)
			}
			if err := restoreSecurity(t, sec); err != nil {
				return err
			}
		}
		lots, err := readLots(ctx, tx, db.portfolioID)
		if err != nil {
			return err
		}
		if len(lots) != 1 || !lots[0].Quantity.Equal(lot.Quantity) || !lots[0].UnitCost.Equal(lot.UnitCost) {
			t.Fatalf("stored lot %s × %s, read back %+v", lot.Quantity, lot.UnitCost, lots)
		}
		p, err := q.GetPortfolio(ctx, db.portfolioID)
		if err != nil {
			return err
		}
		return restorePortfolio(t, p, lots)
	})
}

func FuzzParseQuantity(f *testing.F) {
	fuzzAmount(f, domain.ParseQuantity, domain.CheckQuantity, domain.ErrInvalidQuantity, true)
}

func FuzzParsePrice(f *testing.F) {
	fuzzAmount(f, domain.ParsePrice, domain.CheckPrice, domain.ErrInvalidPrice, false)
}

func FuzzParseDate(f *testing.F) {
	addSeeds(f)
	db := newFuzzDB(f, true)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := domain.ParseDate(s)
		if err != nil {
			checkRejection(t, s, err, domain.ErrInvalidDate)
			// The oracle: a real day of those years in that layout.
			if r, err := time.Parse(time.DateOnly, s); err == nil && r.Format(time.DateOnly) == s && r.Year() >= 1900 {
				t.Fatalf("%q is refused", s)
			}
			return
		}
		switch {
		case d.Format(time.DateOnly) != s:
			t.Fatalf("%q is accepted as %s: only the canonical layout may be", s, d.Format(time.DateOnly))
		case !d.Equal(domain.Day(d)) || d.Location() != time.UTC:
			t.Fatalf("%q is accepted as %s, not midnight UTC", s, d)
		case domain.CheckDate(d) != nil:
			t.Fatalf("%q is accepted, but CheckDate refuses it: %v", s, domain.CheckDate(d))
		}
		db.rollback(t, func(ctx context.Context, tx pgx.Tx, q *dbgen.Queries) error {
			var cast time.Time
			if err := tx.QueryRow(ctx, "select $1::date", d).Scan(&cast); err != nil {
				return errors.New("date refuses " + s + ": " + err.Error())
			}
			if !cast.Equal(d) {
				t.Fatalf("date turns %s into %s", s, cast)
			}
			lot := dbgen.InsertInvestmentParams{
				ID: uuid.New(), PortfolioID: db.portfolioID, SecurityID: db.securityID,
				Quantity: decimal.NewFromInt(1), UnitCost: decimal.NewFromInt(1), AcquiredOn: d,
			}
			if err := q.InsertInvestment(ctx, lot); err != nil {
				return errors.New("the investment table refuses " + s + ": " + err.Error())
			}
			lots, err := readLots(ctx, tx, db.portfolioID)
			if err != nil {
				return err
			}
			if len(lots) != 1 || !lots[0].AcquiredOn.Equal(d) {
				t.Fatalf("stored day %s, read back %+v", s, lots)
			}
			p, err := q.GetPortfolio(ctx, db.portfolioID)
			if err != nil {
				return err
			}
			return restorePortfolio(t, p, lots)
		})
	})
}

// restoreSecurity loads a row the way storage does: the domain must accept
// what it wrote.
func restoreSecurity(t *testing.T, row *dbgen.Security) error {
	t.Helper()
	st := domain.SecurityState{ID: row.ID, Symbol: row.Symbol, Name: row.Name, Currency: row.Currency, LastPrice: row.LastPrice, PriceDate: row.PriceDate}
	if _, err := domain.RestoreSecurity(st); err != nil {
		t.Fatalf("a stored security does not load: %v", err)
	}
	return nil
}

func restorePortfolio(t *testing.T, row *dbgen.Portfolio, lots []domain.InvestmentState) error {
	t.Helper()
	st := domain.PortfolioState{ID: row.ID, Name: row.Name, Currency: row.Currency, Version: row.Version, Investments: lots}
	if _, err := domain.RestorePortfolio(st); err != nil {
		t.Fatalf("a stored portfolio does not load: %v", err)
	}
	return nil
}

// readLots reads back the lots of a portfolio as stored.
func readLots(ctx context.Context, tx pgx.Tx, portfolioID uuid.UUID) ([]domain.InvestmentState, error) {
	rows, err := tx.Query(ctx, `select id, security_id, quantity, unit_cost, acquired_on
		from investment where portfolio_id = $1 order by acquired_on, id`, portfolioID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.InvestmentState, error) {
		var l domain.InvestmentState
		err := row.Scan(&l.ID, &l.SecurityID, &l.Quantity, &l.UnitCost, &l.AcquiredOn)
		return l, err
	})
}
