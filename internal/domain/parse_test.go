package domain_test

import (
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
)

func TestParseSymbol(t *testing.T) {
	tests := []struct {
		in, want string // want "" means the input is refused
	}{
		{"AAPL", "AAPL"},
		{"  aapl\t", "AAPL"},
		{"brk.b", "BRK.B"},
		{"RDS-A", "RDS-A"},
		{"A", "A"},
		{"7203", "7203"},
		{"ABCDEFGHIJKL", "ABCDEFGHIJKL"}, // 12
		{"ABCDEFGHIJKLM", ""},            // 13
		{"", ""},
		{"   ", ""},
		{"AB$", ""},
		{"AA PL", ""},
		{"A'B", ""},
		{"A;DROP", ""},
		{"A_B", ""},
		{"日本", ""},
		{"ÄPL", ""},
		// Unicode upper-casing maps the long s to S and the dotless i to
		// I; neither may sneak in as an ASCII symbol.
		{"ſPY", ""},
		{"ıBM", ""},
		{"A\x00", ""},
		{".", ""},  // a path segment in a URL
		{"..", ""}, // another
		{".A", ""},
		{"-A", ""},
		{"A.", "A."},
		{"9-", "9-"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseSymbol(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, domain.ErrInvalidSymbol)
				require.ErrorIs(t, err, domain.ErrInvalid)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSymbolMessage(t *testing.T) {
	_, err := domain.ParseSymbol("AB$")
	assert.EqualError(t, err, `invalid symbol "AB$": use 1 to 12 of A-Z, 0-9, '.' and '-', beginning with a letter or a digit`)
}

func TestParseCurrency(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"USD", "USD"},
		{" eur ", "EUR"},
		{"chf", "CHF"},
		{"EURO", ""},
		{"US", ""},
		{"U5D", ""},
		{"", ""},
		{"   ", ""},
		{"€€€", ""},
		{"ÜSD", ""},
		{"US D", ""},
		{"USD;", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseCurrency(tt.in)
			if tt.want == "" {
				require.ErrorIs(t, err, domain.ErrInvalidCurrency)
				assert.Contains(t, err.Error(), "a currency code is three letters")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseNames(t *testing.T) {
	const sqlInjection = `'; DROP TABLE portfolio; --`
	tests := []struct {
		name      string
		in        string
		want      string // for valid input
		portfolio bool   // ParsePortfolioName accepts it
		security  bool   // ParseSecurityName accepts it
		reason    string // part of the message for invalid input
	}{
		{name: "plain", in: "Retirement", want: "Retirement", portfolio: true, security: true},
		{name: "trimmed", in: "  Retirement \t\n", want: "Retirement", portfolio: true, security: true},
		{name: "inner spaces kept", in: "My  Savings", want: "My  Savings", portfolio: true, security: true},
		{name: "sql verbatim", in: sqlInjection, want: sqlInjection, portfolio: true, security: true},
		{name: "sql with quotes", in: `Robert'); DROP TABLE investment;--`, want: `Robert'); DROP TABLE investment;--`, portfolio: true, security: true},
		{name: "quotes and backslash", in: `"x" \ 'y' %s`, want: `"x" \ 'y' %s`, portfolio: true, security: true},
		{name: "unicode", in: "Épargne 日本 📈", want: "Épargne 日本 📈", portfolio: true, security: true},
		{name: "100 runes", in: strings.Repeat("日", 100), want: strings.Repeat("日", 100), portfolio: true, security: true},
		{name: "101 runes", in: strings.Repeat("日", 101), want: strings.Repeat("日", 101), security: true, reason: "at most 100 characters, not 101"},
		{name: "100 runes plus spaces", in: " " + strings.Repeat("a", 100) + " ", want: strings.Repeat("a", 100), portfolio: true, security: true},
		{name: "200 runes", in: strings.Repeat("📈", 200), want: strings.Repeat("📈", 200), security: true, reason: "at most 100 characters, not 200"},
		{name: "201 runes", in: strings.Repeat("é", 201), reason: "at most"},
		{name: "empty", in: "", reason: "must not be empty"},
		{name: "only spaces", in: " \t\n\u00a0 ", reason: "must not be empty"},
		{name: "tab inside", in: "a\tb", reason: "control characters"},
		{name: "newline inside", in: "a\nb", reason: "control characters"},
		{name: "NUL", in: "a\x00b", reason: "control characters"},
		{name: "DEL", in: "a\x7fb", reason: "control characters"},
		{name: "C1 control", in: "a\u0085b", reason: "control characters"},
		{name: "escape sequence", in: "\x1b[31mred", reason: "control characters"},
		{name: "invalid UTF-8", in: "ab\xff\xfe", reason: "valid UTF-8"},
		{name: "truncated rune", in: "日本"[:4], reason: "valid UTF-8"},
		{name: "right-to-left override", in: "abc\u202edcba", reason: "invisible characters"},
		{name: "bidi isolate", in: "\u2067abc", reason: "invisible characters"},
		{name: "zero-width space", in: "Gro\u200bwth", reason: "invisible characters"},
		{name: "byte order mark inside", in: "a\ufeffb", reason: "invisible characters"},
		{name: "word joiner", in: "a\u2060b", reason: "invisible characters"},
		{name: "Arabic letter mark", in: "a\u061cb", reason: "invisible characters"},
		{name: "soft hyphen", in: "Gro\u00adwth", reason: "invisible characters"},
		{name: "invisible times", in: "a\u2062b", reason: "invisible characters"},
		{name: "Mongolian vowel separator", in: "a\u180eb", reason: "invisible characters"},
		{name: "line separator", in: "a\u2028b", reason: "control characters such as tabs or line breaks"},
		{name: "paragraph separator", in: "a\u2029b", reason: "control characters such as tabs or line breaks"},
		{name: "white space of Unicode around", in: "\u00a0\u2028Growth\u3000\u0085", want: "Growth", portfolio: true, security: true},
		{name: "Hangul filler", in: "a\u3164b", reason: "invisible characters"},
		{name: "Hangul choseong filler", in: "\u115fab", reason: "invisible characters"},
		{name: "halfwidth Hangul filler", in: "a\uffa0b", reason: "invisible characters"},
		{name: "interlinear annotation", in: "a\ufff9b\ufffbc", reason: "invisible characters"},
		{name: "deprecated format character", in: "a\u206ab", reason: "invisible characters"},
		{name: "unassigned default-ignorable", in: "a\u2065b", reason: "invisible characters"},
		{name: "combining grapheme joiner", in: "a\u034fb", reason: "invisible characters"},
		{name: "Khmer inherent vowel", in: "a\u17b4b", reason: "invisible characters"},
		{name: "reserved specials", in: "a\ufff0b", reason: "invisible characters"},
		{name: "shorthand format control", in: "a\U0001BCA0b", reason: "invisible characters"},
		{name: "musical format control", in: "a\U0001D173b", reason: "invisible characters"},
		{name: "language tag", in: "a\U000E0001b", reason: "invisible characters"},
		{name: "reserved tag-plane code point", in: "a\U000E0080b", reason: "invisible characters"},
		{name: "only a joiner", in: "\u200d", reason: "must show something"},
		{name: "only a mark", in: "\u0301", reason: "must show something"},
		{name: "only a variation selector", in: "\ufe0f", reason: "must show something"},
		{name: "only a direction mark", in: "\u200e\u200f", reason: "must show something"},
		{name: "only tags", in: "\U000E0067\U000E0062", reason: "must show something"},
		{name: "blank braille pattern", in: "\u2800\u2800", reason: "must show something"},
		{name: "one symbol", in: "€", want: "€", portfolio: true, security: true},
		{name: "one digit", in: "7", want: "7", portfolio: true, security: true},
		{name: "one punctuation mark", in: "-", want: "-", portfolio: true, security: true},
		{name: "emoji with a variation selector", in: "\u2764\ufe0f", want: "\u2764\ufe0f", portfolio: true, security: true},
		{name: "ideographic variation selector", in: "\u845b\U000E0100", want: "\u845b\U000E0100", portfolio: true, security: true},
		{name: "flag of Scotland (tag characters)", in: "Scots \U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", want: "Scots \U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", portfolio: true, security: true},
		{name: "zero-width joiner in emoji", in: "Family 👨\u200d👩\u200d👧", want: "Family 👨\u200d👩\u200d👧", portfolio: true, security: true},
		{name: "zero-width non-joiner in Persian", in: "می\u200cخواهم", want: "می\u200cخواهم", portfolio: true, security: true},
		{name: "right-to-left mark", in: "שלום\u200f 1", want: "שלום\u200f 1", portfolio: true, security: true},
		{name: "joiner after a virama", in: "\u0915\u094d\u200d\u0937", want: "\u0915\u094d\u200d\u0937", portfolio: true, security: true},
		{name: "rainbow flag (selector, then joiner)", in: "Pride \U0001F3F3\ufe0f\u200d\U0001F308", want: "Pride \U0001F3F3\ufe0f\u200d\U0001F308", portfolio: true, security: true},
		{name: "keycap", in: "Fund 1\ufe0f\u20e3", want: "Fund 1\ufe0f\u20e3", portfolio: true, security: true},
		{name: "math symbol with a variation selector", in: "x \u2264\ufe00 y", want: "x \u2264\ufe00 y", portfolio: true, security: true},
		// The invisible characters above, where nothing needs them, make
		// a name that looks like "Growth" and is not.
		{name: "left-to-right mark in front", in: "\u200eGrowth", reason: "must not contain the invisible U+200E at character 1: a direction mark belongs in a name with right-to-left text, one at a time"},
		{name: "direction mark in Latin text", in: "Gro\u200ewth", reason: "U+200E at character 4"},
		// The right-to-left mark is of bidi class R: it is no
		// right-to-left text of its own.
		{name: "right-to-left mark in Latin text", in: "abc\u200fdef", reason: "must not contain the invisible U+200F at character 4: a direction mark belongs in a name with right-to-left text, one at a time"},
		{name: "two direction marks", in: "שלום\u200f\u200e 1", reason: "U+200E at character 6"},
		{name: "right-to-left mark after final punctuation", in: "קרן!\u200f", want: "קרן!\u200f", portfolio: true, security: true},
		{name: "Malayalam old chillu (virama, joiner) at the end", in: "അവന്\u200d", want: "അവന്\u200d", portfolio: true, security: true},
		{name: "Malayalam old chillu before a space", in: "അവന്\u200d ഫണ്ട്", want: "അവന്\u200d ഫണ്ട്", portfolio: true, security: true},
		{name: "Bengali khanda ta (virama, joiner)", in: "হঠাত্\u200d", want: "হঠাত্\u200d", portfolio: true, security: true},
		{name: "Sinhala conjunct", in: "ශ්\u200dරී", want: "ශ්\u200dරී", portfolio: true, security: true},
		{name: "emoji with a skin tone, joiner", in: "👩🏽\u200d💻", want: "👩🏽\u200d💻", portfolio: true, security: true},
		{name: "double exclamation emoji", in: "Wow \u203c\ufe0f", want: "Wow \u203c\ufe0f", portfolio: true, security: true},
		{name: "information source emoji", in: "\u2139\ufe0f Info", want: "\u2139\ufe0f Info", portfolio: true, security: true},
		{name: "joiner inside Cyrillic", in: "Ро\u200dст", reason: "U+200D at character 3"},
		{name: "non-joiner inside Greek", in: "Αλ\u200cφα", reason: "U+200C at character 3"},
		{name: "variation selector after a Cyrillic letter", in: "Рост\ufe00", reason: "U+FE00 at character 5"},
		{name: "non-joiner between Latin letters", in: "Auf\u200clage", reason: "U+200C at character 4"},
		{name: "joiner between emoji and a letter", in: "👨\u200dA", reason: "U+200D at character 2"},
		{name: "joiner at the end", in: "Growth\u200d", reason: "must not contain the invisible U+200D at character 7: a joiner belongs after a virama, between letters of a script whose letters join, or between emoji"},
		{name: "joiner in Latin text", in: "Gro\u200dwth", reason: "U+200D at character 4"},
		{name: "non-joiner between Latin letters", in: "Gro\u200cwth", reason: "U+200C at character 4"},
		{name: "joiner at the start", in: "\u200d\U0001F468", reason: "U+200D at character 1"},
		{name: "two joiners", in: "\U0001F468\u200d\u200d\U0001F469", reason: "U+200D at character 2"},
		{name: "variation selector after a Latin letter", in: "Growth\ufe0f", reason: `invalid name "Growth\ufe0f": a `},
		{name: "variation selector after a Latin letter, why", in: "Growth\ufe0f", reason: "must not contain the invisible U+FE0F at character 7: a variation selector belongs after the emoji, symbol or ideograph whose form it selects"},
		{name: "variation selector after an accented letter", in: "Caf\u00e9\ufe0f", reason: "U+FE0F at character 5"},
		{name: "variation selector after a digit, not a keycap", in: "Fund 1\ufe0f", reason: "U+FE0F at character 7"},
		{name: "two variation selectors", in: "\u2764\ufe0f\ufe0f", reason: "U+FE0F at character 3"},
		{name: "tag character mid-word", in: "Gro\U000E0041wth", reason: "must not contain the invisible U+E0041 at character 4: tag characters belong in the flag of a region, after U+1F3F4 and ended by U+E007F"},
		{name: "flag tags without their end", in: "\U0001F3F4\U000E0067\U000E0062", reason: "U+E0067 at character 2"},
		{name: "cancel tag alone", in: "Growth\U000E007F", reason: "U+E007F at character 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				parse func(string) (string, error)
				ok    bool
			}{
				{domain.ParsePortfolioName, tt.portfolio},
				{domain.ParseSecurityName, tt.security},
			} {
				got, err := c.parse(tt.in)
				if c.ok {
					require.NoError(t, err)
					assert.Equal(t, tt.want, got)
					continue
				}
				require.ErrorIs(t, err, domain.ErrInvalidName)
				assert.Contains(t, err.Error(), tt.reason)
				assert.Empty(t, got)
			}
		})
	}
}

func TestParseNameMessageIsShortAndEscaped(t *testing.T) {
	_, err := domain.ParsePortfolioName(strings.Repeat("x", 1<<20) + "\n")
	require.ErrorIs(t, err, domain.ErrInvalidName)
	assert.Less(t, len(err.Error()), 200, "the message must not echo a megabyte of input")
	assert.Contains(t, err.Error(), "(1048577 bytes)")

	_, err = domain.ParsePortfolioName("a\x1b[2Jb")
	assert.EqualError(t, err, `invalid name "a\x1b[2Jb": a portfolio name must not contain control characters such as tabs or line breaks`)
}

func TestParseQuantityAndPrice(t *testing.T) {
	tests := []struct {
		in       string
		want     string // value when accepted
		quantity bool   // ParseQuantity accepts it
		price    bool   // ParsePrice accepts it
		reason   string // part of the message when refused
	}{
		{in: "1", want: "1", quantity: true, price: true},
		{in: "12", want: "12", quantity: true, price: true},
		{in: "0.5", want: "0.5", quantity: true, price: true},
		{in: "007", want: "7", quantity: true, price: true},
		{in: "1.10000000000000", want: "1.1", quantity: true, price: true},
		{in: "0.0000000001", want: "0.0000000001", quantity: true, price: true},
		{in: "123456789012345678.1234567890", want: "123456789012345678.123456789", quantity: true, price: true},
		{in: "999999999999999999.9999999999", want: "999999999999999999.9999999999", quantity: true, price: true},
		{in: "000000000000000000000123456789012345678.1234567890000000", want: "123456789012345678.123456789", quantity: true, price: true},
		{in: "0", want: "0", price: true, reason: "must be greater than 0"},
		{in: "0.000", want: "0", price: true, reason: "must be greater than 0"},
		{in: "-1", reason: "must"},
		{in: "-0.5", reason: "must"},
		{in: "1234567890123456789", reason: "at most 18 digits before the decimal point and 10 after"},
		{in: "1.12345678901", reason: "at most 18 digits"},
		{in: "0.00000000001", reason: "at most 18 digits"},
		{in: "1e3", reason: "without sign, exponent or spaces"},
		{in: "1E3", reason: "exponent"},
		{in: "NaN", reason: "exponent"},
		{in: "nan", reason: "exponent"},
		{in: "Inf", reason: "exponent"},
		{in: "-Inf", reason: "exponent"},
		{in: "0x10", reason: "exponent"},
		{in: " 1", reason: "spaces"},
		{in: "1 ", reason: "spaces"},
		{in: "1 000", reason: "spaces"},
		{in: "1.", reason: "such as 12 or 0.5"},
		{in: ".5", reason: "such as 12 or 0.5"},
		{in: "+1", reason: "sign"},
		{in: "1,5", reason: "sign"},
		{in: "1_000", reason: "sign"},
		{in: "1..2", reason: "sign"},
		{in: "1.2.3", reason: "sign"},
		{in: "١٢", reason: "sign"}, // Arabic-Indic digits
		{in: "", reason: "sign"},
		{in: ".", reason: "sign"},
		{in: "-", reason: "sign"},
		{in: "1\x00", reason: "sign"},
		// The length cap comes before anything else, so even a value
		// that would fit is refused when padded beyond 64 characters.
		{in: strings.Repeat("0", 64) + "1", reason: "too long: 65 characters, and at most 64 are read (zeros before or after the digits count too)"},
		{in: "1." + strings.Repeat("0", 63), reason: "too long: 65 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			for _, c := range []struct {
				parse func(string) (decimal.Decimal, error)
				ok    bool
				kind  error
			}{
				{domain.ParseQuantity, tt.quantity, domain.ErrInvalidQuantity},
				{domain.ParsePrice, tt.price, domain.ErrInvalidPrice},
			} {
				got, err := c.parse(tt.in)
				if c.ok {
					require.NoError(t, err)
					requireDec(t, tt.want, got)
					continue
				}
				require.ErrorIs(t, err, c.kind)
				require.ErrorIs(t, err, domain.ErrInvalid)
				assert.Contains(t, err.Error(), tt.reason)
				assert.True(t, got.IsZero())
			}
		})
	}
}

func TestParseAmountMessages(t *testing.T) {
	_, err := domain.ParseQuantity("-1")
	assert.EqualError(t, err, `invalid quantity "-1": must be greater than 0`)
	_, err = domain.ParsePrice("-1")
	assert.EqualError(t, err, `invalid price "-1": must not be negative`)
	_, err = domain.ParseQuantity("1.12345678901")
	assert.EqualError(t, err, `invalid quantity "1.12345678901": use at most 18 digits before the decimal point and 10 after it`)
	_, err = domain.ParsePrice("1e3")
	assert.EqualError(t, err, `invalid price "1e3": write digits with an optional '.' and fraction, such as 12 or 0.5, without sign, exponent or spaces`)
}

func TestParseQuantityHugeInputIsRejectedFast(t *testing.T) {
	huge := strings.Repeat("9", 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		_, err := domain.ParseQuantity(huge)
		require.ErrorIs(t, err, domain.ErrInvalidQuantity)
		assert.Less(t, len(err.Error()), 200)
	}
	runtime.ReadMemStats(&after)
	// Parsing a megabyte of digits into a number allocates at least its
	// 400 KiB, a hundred times; refusing it by its length allocates the
	// error's few hundred bytes. (Counted, not timed: a clock on a busy
	// machine proves nothing.)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "a megabyte of digits was parsed")
}

func TestCheckQuantityAndPrice(t *testing.T) {
	tests := []struct {
		name     string
		d        decimal.Decimal
		quantity bool
		price    bool
	}{
		{"one", decimal.New(1, 0), true, true},
		{"18 integer digits", decimal.New(999999999999999999, 0), true, true},
		{"1e17", decimal.New(1, 17), true, true},
		{"1e18 has 19 digits", decimal.New(1, 18), false, false},
		{"10 fraction digits", decimal.New(1, -10), true, true},
		{"11 fraction digits", decimal.New(1, -11), false, false},
		{"trailing zeros do not count", decimal.New(10, -11), true, true},
		{"many trailing zeros", dec("1.50000000000000000000000000000"), true, true},
		{"product of two stored values", dec("1.5000000000").Mul(dec("2.0000000000")), true, true},
		{"28 significant digits", dec("123456789012345678.1234567891"), true, true},
		{"zero value", decimal.Decimal{}, false, true},
		{"zero", decimal.Zero, false, true},
		{"negative", decimal.New(-1, 0), false, false},
		{"negative tiny", decimal.New(-1, -10), false, false},
		{"huge exponent", decimal.New(1, 1<<30), false, false},
		{"1 as 10^99 × 10^-99", decimal.NewFromBigInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(99), nil), -99), true, true},
		{"1 as 10^100 × 10^-100 is refused unexamined", decimal.NewFromBigInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(100), nil), -100), false, false},
		{"tiny exponent", decimal.New(1, -(1 << 30)), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := domain.CheckQuantity(tt.d)
			if tt.quantity {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, domain.ErrInvalidQuantity)
				assert.Less(t, len(err.Error()), 200)
			}
			err = domain.CheckPrice(tt.d)
			if tt.price {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, domain.ErrInvalidPrice)
				assert.Less(t, len(err.Error()), 200)
			}
		})
	}
}

func TestCheckQuantityMessage(t *testing.T) {
	assert.EqualError(t, domain.CheckQuantity(dec("-2.5")), "invalid quantity -2.5: must be greater than 0")
	assert.EqualError(t, domain.CheckPrice(decimal.New(1, 1<<30)),
		`invalid price "1E1073741824": use at most 18 digits before the decimal point and 10 after it`)
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero when refused
	}{
		{"2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"1900-01-01", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"9999-12-31", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"2023-02-29", time.Time{}},
		{"2024-04-31", time.Time{}},
		{"2024-13-01", time.Time{}},
		{"2024-00-10", time.Time{}},
		{"2024-01-00", time.Time{}},
		{"2024-1-5", time.Time{}},
		{"24-01-05", time.Time{}},
		{"2024/01/05", time.Time{}},
		{"01/02/2024", time.Time{}},
		{"05.01.2024", time.Time{}},
		{"1899-12-31", time.Time{}},
		{"0000-01-01", time.Time{}},
		{"2024-01-05T00:00:00Z", time.Time{}},
		{" 2024-01-05", time.Time{}},
		{"2024-01-05 ", time.Time{}},
		{"+2024-01-05", time.Time{}},
		{"２０２４-01-05", time.Time{}},
		{"", time.Time{}},
		{"today", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseDate(tt.in)
			if tt.want.IsZero() {
				require.ErrorIs(t, err, domain.ErrInvalidDate)
				assert.Contains(t, err.Error(), "use YYYY-MM-DD")
				assert.True(t, got.IsZero())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestParseDateMessage(t *testing.T) {
	_, err := domain.ParseDate("2023-02-29")
	assert.EqualError(t, err, `invalid date "2023-02-29": use YYYY-MM-DD, a real calendar day from 1900-01-01 to 9999-12-31`)
}

func TestDay(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"utc afternoon", time.Date(2024, 3, 10, 15, 4, 5, 6, time.UTC), time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},
		// The calendar day is the one in t's own location, not in UTC,
		// where this instant is still March 9th.
		{"early in tokyo", time.Date(2024, 3, 10, 1, 0, 0, 0, tokyo), time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},
		{"late in tokyo", time.Date(2024, 3, 10, 23, 59, 59, 0, tokyo), time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},
		{"midnight", time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := domain.Day(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, time.UTC, got.Location())
		})
	}
}

// A name to find follows the rules of a new name, normalized the same way,
// but for "must show something": a portfolio named before that rule must
// still be found.
func TestParsePortfolioNameToFind(t *testing.T) {
	for in, want := range map[string]string{
		" Growth ":     "Growth",
		"Cafe\u0301":   "Caf\u00e9",
		"\u200d\u0301": "\u200d\u0301",
		"\u200e":       "\u200e",
	} {
		got, err := domain.ParsePortfolioNameToFind(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got)
	}
	for in, reason := range map[string]string{
		"":                       "must not be empty",
		"a\tb":                   "control characters",
		"a\u200bb":               "invisible characters",
		strings.Repeat("x", 101): "at most 100 characters",
		"\xff":                   "valid UTF-8",
	} {
		_, err := domain.ParsePortfolioNameToFind(in)
		require.ErrorIs(t, err, domain.ErrInvalidName, "%q", in)
		assert.Contains(t, err.Error(), reason)
	}
}
