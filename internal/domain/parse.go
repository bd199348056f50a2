package domain

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// Limits on values, mirrored by the database schema. Quantities, prices and
// unit costs are stored as numeric(28,10): 28 significant digits of which 10
// follow the decimal point, which leaves 18 before it. Checking these limits
// here turns what would be a numeric overflow or a silent rounding by
// PostgreSQL into an error that says what is allowed.
const (
	// MaxIntegerDigits is the most digits a quantity or price may have
	// before the decimal point (28 - 10 of numeric(28,10)).
	MaxIntegerDigits = 18

	// MaxFractionDigits is the most digits a quantity or price may have
	// after the decimal point, not counting trailing zeros (the scale 10
	// of numeric(28,10)).
	MaxFractionDigits = 10

	// MaxNameLength is the most characters (runes, not bytes) in a
	// portfolio name.
	MaxNameLength = 100

	// MaxSecurityNameLength is the most characters (runes, not bytes) in a
	// security name.
	MaxSecurityNameLength = 200

	// MaxSymbolLength is the most characters in a security symbol.
	MaxSymbolLength = 12
)

const (
	// maxDecimalLen bounds the length of a decimal string before any other
	// work is done on it. The longest useful input has 18+1+10 characters;
	// the rest is room for leading and trailing zeros such as a CSV export
	// padded to a fixed scale. Rejecting longer input first keeps a
	// megabyte of digits from reaching the (superlinear) decimal parser.
	maxDecimalLen = 64

	// maxCoefficientDigits bounds the coefficient of an already parsed
	// decimal before trailing zeros are stripped from it, for the same
	// reason: an absurd value is refused before costly work is done on it.
	maxCoefficientDigits = 100

	// minYear and maxYear bound dates: PostgreSQL accepts far more, but a
	// year outside these is a typo, and four-digit years keep YYYY-MM-DD
	// unambiguous.
	minYear = 1900
	maxYear = 9999
)

// ParseSymbol returns the canonical form of a security symbol: surrounding
// white space removed and letters upper-cased. A symbol is 1 to
// MaxSymbolLength characters of A-Z, 0-9, '.' and '-' (as in "BRK.B" or
// "RDS-A"), the first a letter or a digit. It returns an error wrapping
// ErrInvalidSymbol otherwise.
func ParseSymbol(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) == 0 || len(t) > MaxSymbolLength || !allASCII(t, isSymbolByte) || t[0] == '.' || t[0] == '-' {
		return "", fmt.Errorf("%w %s: use 1 to %d of A-Z, 0-9, '.' and '-', beginning with a letter or a digit", ErrInvalidSymbol, quote(s), MaxSymbolLength)
	}
	return asciiUpper(t), nil
}

// ParseCurrency returns the canonical form of a currency code: surrounding
// white space removed and upper-cased. A code is three letters A-Z, the shape
// of ISO 4217; whether the code is actually assigned is not checked, so that
// a new currency needs no release of folio. It returns an error wrapping
// ErrInvalidCurrency otherwise.
func ParseCurrency(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) != 3 || !allASCII(t, isLetter) {
		return "", fmt.Errorf("%w %s: a currency code is three letters, such as USD or EUR", ErrInvalidCurrency, quote(s))
	}
	return asciiUpper(t), nil
}

// ParsePortfolioName returns s without surrounding white space and in
// Unicode normalization form C (NFC: "e" followed by a combining accent
// becomes "é", so that two names that look the same are the same name) if
// it is a valid portfolio name: 1 to MaxNameLength characters (runes) of
// valid UTF-8 without control characters or invisible characters that
// reorder or hide text (see hasInvisible), with at least one character
// that shows (a letter, digit, punctuation mark or symbol). Any other text
// is allowed and stored verbatim, including quotes and SQL such as
// "'; DROP TABLE portfolio; --": keeping SQL out of queries is storage's
// job, done with bind parameters, and a filter on names would only mask a
// query that forgot them. It returns an error wrapping ErrInvalidName
// otherwise.
func ParsePortfolioName(s string) (string, error) {
	return parseName(s, MaxNameLength, "a portfolio name", nameInput)
}

// ParseSecurityName is ParsePortfolioName for the name of a security, which
// may have up to MaxSecurityNameLength characters. It returns an error
// wrapping ErrInvalidName.
func ParseSecurityName(s string) (string, error) {
	return parseName(s, MaxSecurityNameLength, "a security name", nameInput)
}

// ParsePortfolioNameToFind is ParsePortfolioName for a name to look a
// portfolio up by, which may be one stored before the rule that a name
// must show something: such a portfolio can still be found, and renamed.
// It returns an error wrapping ErrInvalidName for a name no portfolio can
// have.
func ParsePortfolioNameToFind(s string) (string, error) {
	return parseName(s, MaxNameLength, "a portfolio name", nameLookup)
}

// storedPortfolioName and storedSecurityName check names read from
// storage: the rules of the Parse functions, except those that came later
// (the refusal of invisible characters, which migrations 00007, 00009 and
// 00010 brought to stored names, and the rule that a name must show
// something). A name stored before them must still load, so that it can
// be renamed.
func storedPortfolioName(s string) (string, error) {
	return parseName(s, MaxNameLength, "a portfolio name", nameStored)
}

func storedSecurityName(s string) (string, error) {
	return parseName(s, MaxSecurityNameLength, "a security name", nameStored)
}

// nameRules says which of parseName's rules apply.
type nameRules int

const (
	nameInput  nameRules = iota // a new name: every rule
	nameLookup                  // a name to find: not "must show something"
	nameStored                  // a name read from storage: as stored, the first rules only
)

func parseName(s string, maxRunes int, what string, rules nameRules) (string, error) {
	t := strings.TrimSpace(s)
	valid := utf8.ValidString(t)
	if valid && rules != nameStored {
		t = NormalizeText(t)
	}
	var reason string
	switch {
	case t == "":
		reason = what + " must not be empty"
	case !valid:
		reason = what + " must be valid UTF-8 text"
	case len(t) > maxRunes && utf8.RuneCountInString(t) > maxRunes:
		reason = fmt.Sprintf("%s has at most %d characters, not %d", what, maxRunes, utf8.RuneCountInString(t))
	case hasControl(t):
		// Tabs, line breaks and the like would break the CLI's tables
		// and CSV exports, and are never meant in a name.
		reason = what + " must not contain control characters such as tabs or line breaks"
	case rules != nameStored && hasInvisible(t):
		reason = what + " must not contain invisible characters that reorder or hide text, such as U+202E (right-to-left override) or U+200B (zero-width space)"
	case rules == nameInput && !hasVisible(t):
		reason = what + " must show something: a letter, digit, punctuation mark or symbol"
	case rules == nameInput && misplacedIgnorable(t) != "":
		reason = what + " " + misplacedIgnorable(t)
	default:
		return t, nil
	}
	return "", fmt.Errorf("%w %s: %s", ErrInvalidName, quote(s), reason)
}

// ParseQuantity parses a quantity of shares. The accepted format is plain
// decimal notation: one or more digits, optionally followed by '.' and one
// or more digits, such as "12", "0.5" or "1.10". Anything else is refused
// rather than guessed at: a sign ('+' or '-'), an exponent ("1e3"), white
// space (even around the number: in a CSV column it usually means the
// columns are misaligned), a bare point on either side ("1." or ".5"),
// thousands separators, hexadecimal, NaN and infinity. The quantity must be
// greater than zero and within MaxIntegerDigits and MaxFractionDigits, where
// trailing zeros of the fraction do not count. It returns an error wrapping
// ErrInvalidQuantity otherwise.
func ParseQuantity(s string) (decimal.Decimal, error) {
	return parseAmount(s, ErrInvalidQuantity, true)
}

// ParsePrice parses a price or a unit cost, in the format of ParseQuantity.
// Zero is allowed (a gift, a spin-off, or a worthless security); negative
// prices are not. It returns an error wrapping ErrInvalidPrice.
func ParsePrice(s string) (decimal.Decimal, error) {
	return parseAmount(s, ErrInvalidPrice, false)
}

// CheckQuantity applies the rules of ParseQuantity to a decimal that was
// parsed elsewhere, such as from JSON: it must be greater than zero and
// within MaxIntegerDigits and MaxFractionDigits. A decimal whose coefficient
// has more than 100 digits is refused without stripping its trailing zeros,
// so that an absurd value costs no work. It returns an error wrapping
// ErrInvalidQuantity.
func CheckQuantity(d decimal.Decimal) error {
	if reason := checkAmount(d, true); reason != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidQuantity, formatDecimal(d), reason)
	}
	return nil
}

// CheckPrice applies the rules of ParsePrice to a decimal that was parsed
// elsewhere: it must be zero or more and within MaxIntegerDigits and
// MaxFractionDigits, with the same limit on coefficients as CheckQuantity.
// It returns an error wrapping ErrInvalidPrice.
func CheckPrice(d decimal.Decimal) error {
	if reason := checkAmount(d, false); reason != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidPrice, formatDecimal(d), reason)
	}
	return nil
}

const (
	formatRule = "write digits with an optional '.' and fraction, such as 12 or 0.5, without sign, exponent or spaces"
	digitsRule = "use at most 18 digits before the decimal point and 10 after it"
)

func parseAmount(s string, kind error, positive bool) (decimal.Decimal, error) {
	if len(s) > maxDecimalLen {
		// Not "too many digits": the value may be a short one padded
		// with zeros.
		return decimal.Decimal{}, fmt.Errorf("%w %s: too long: %d characters, and at most %d are read (zeros before or after the digits count too)",
			kind, quote(s), len(s), maxDecimalLen)
	}
	if !isPlainDecimal(s) {
		reason := formatRule
		if len(s) > 1 && s[0] == '-' && isPlainDecimal(s[1:]) && strings.Trim(s[1:], "0.") != "" {
			// A negative number is well-formed; say what is wrong with
			// it. ("-0" is not negative: its fault is the sign.)
			reason = signRule(positive)
		}
		return decimal.Decimal{}, fmt.Errorf("%w %s: %s", kind, quote(s), reason)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		// Unreachable after isPlainDecimal, kept so a future change of
		// either cannot let a zero value through unnoticed.
		return decimal.Decimal{}, fmt.Errorf("%w %s: %s", kind, quote(s), formatRule)
	}
	if reason := checkAmount(d, positive); reason != "" {
		return decimal.Decimal{}, fmt.Errorf("%w %s: %s", kind, quote(s), reason)
	}
	return d, nil
}

func signRule(positive bool) string {
	if positive {
		return "must be greater than 0"
	}
	return "must not be negative"
}

// isPlainDecimal reports whether s matches ^[0-9]+(\.[0-9]+)?$.
func isPlainDecimal(s string) bool {
	intDigits, fracDigits, dots := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if dots == 0 {
				intDigits++
			} else {
				fracDigits++
			}
		case c == '.' && dots == 0:
			dots++
		default:
			return false
		}
	}
	return intDigits > 0 && (dots == 0 || fracDigits > 0)
}

// checkAmount returns why d is not an acceptable quantity (positive) or
// price (!positive), or "" if it is.
func checkAmount(d decimal.Decimal, positive bool) string {
	if sign := d.Sign(); sign < 0 || (positive && sign == 0) {
		return signRule(positive)
	}
	if !withinScale(d) {
		return digitsRule
	}
	return ""
}

// withinScale reports whether d fits numeric(28,10): at most
// MaxIntegerDigits before the decimal point and MaxFractionDigits after it
// once trailing zeros are dropped. 1.10000000000000 fits; it is 1.1.
func withinScale(d decimal.Decimal) bool {
	if d.Sign() == 0 {
		return true
	}
	digits, exp := int64(d.NumDigits()), int64(d.Exponent())
	// The integer digits are a property of the value, so they need no
	// normalization: coefficient × 10^exp has digits+exp of them.
	if digits+exp > MaxIntegerDigits {
		return false
	}
	if exp >= -MaxFractionDigits {
		return true
	}
	if digits > maxCoefficientDigits {
		return false
	}
	return int64(d.Normalize().Exponent()) >= -MaxFractionDigits
}

// formatDecimal renders d for an error message without letting a decimal
// with an enormous exponent expand into millions of zeros.
func formatDecimal(d decimal.Decimal) string {
	if exp := d.Exponent(); d.NumDigits() > 40 || exp > 40 || exp < -40 {
		return quote(d.ScientificNotationString())
	}
	return d.String()
}

// ParseDate parses a calendar date written as YYYY-MM-DD, such as
// "2024-02-29", and returns midnight UTC of that day. The date must exist
// (no February 30th) and lie in the years 1900 to 9999. No other layout is
// accepted, so that "01/02/2024" can never be read as the wrong day. It
// returns an error wrapping ErrInvalidDate otherwise.
func ParseDate(s string) (time.Time, error) {
	if isDateShape(s) {
		if t, err := time.Parse(time.DateOnly, s); err == nil && t.Year() >= minYear {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w %s: use YYYY-MM-DD, a real calendar day from 1900-01-01 to 9999-12-31", ErrInvalidDate, quote(s))
}

// isDateShape reports whether s matches ^[0-9]{4}-[0-9]{2}-[0-9]{2}$, which
// time.Parse alone does not ensure (it accepts some other widths).
func isDateShape(s string) bool {
	if len(s) != len("2006-01-02") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Day returns midnight UTC of the calendar day that t falls on in its own
// location. Lots and prices are dated by day, not by instant, and keeping
// every date at midnight UTC makes dates from user input, storage and
// time.Now comparable with Equal and Before.
func Day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CheckDate returns an error wrapping ErrInvalidDate unless t is set and its
// day lies in the years ParseDate accepts.
func CheckDate(t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%w: a date is required", ErrInvalidDate)
	}
	if y := t.Year(); y < minYear || y > maxYear {
		return fmt.Errorf("%w %s: use a day from 1900-01-01 to 9999-12-31", ErrInvalidDate, t.Format(time.DateOnly))
	}
	return nil
}

// hasControl reports whether s holds a control character or a line or
// paragraph separator (U+2028, U+2029): line breaks all, which have no
// place in a one-line name.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 {
			return true
		}
	}
	return false
}

// NormalizeText returns s in Unicode normalization form C, the form names
// are stored in. Lookups and searches by name normalize what they look for
// with it.
func NormalizeText(s string) string { return norm.NFC.String(s) }

// hasInvisible reports whether s holds a character that changes how the
// text around it displays without showing itself: the bidirectional
// embeddings, overrides and isolates and the Arabic letter mark, which can
// make a name read as another in a table (the "Trojan Source" trick); the
// other default-ignorable characters of Unicode, which display as nothing
// and make two names that look the same differ (zero-width space, word
// joiner, invisible operators, soft hyphen, combining grapheme joiner,
// Mongolian vowel separator, byte order mark, Hangul fillers, Khmer
// inherent vowels, deprecated, shorthand and musical format characters,
// the language tag, and the code points reserved for more of them); the
// interlinear annotation characters; and the line and paragraph
// separators (U+2028, U+2029), which hasControl reports first. The
// joiners (U+200C, U+200D), the left-to-right and right-to-left marks,
// the variation selectors and the tag characters stay allowed: scripts
// and emoji (flags among them) need them (where they do, see
// misplacedIgnorable). Migrations 00007, 00009 and 00010 make the
// database refuse the same characters.
func hasInvisible(s string) bool {
	for _, r := range s {
		if isInvisible(r) {
			return true
		}
	}
	return false
}

func isInvisible(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x061C,
		r == 0x200B, r >= 0x2060 && r <= 0x2065, r == 0x00AD, r == 0x180E, r == 0xFEFF,
		r == 0x2028, r == 0x2029, r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0,
		r >= 0xFFF0 && r <= 0xFFFB, r >= 0x206A && r <= 0x206F,
		r == 0x034F, r == 0x17B4, r == 0x17B5,
		r >= 0x1BCA0 && r <= 0x1BCA3, r >= 0x1D173 && r <= 0x1D17A,
		r >= 0xE0000 && r <= 0xE001F, r >= 0xE0080 && r <= 0xE00FF, r >= 0xE01F0 && r <= 0xE0FFF:
		return true
	}
	return false
}

// misplacedIgnorable returns why s has a joiner, direction mark,
// variation selector or tag character where no script or emoji sequence
// needs it, or "". These are the invisible characters hasInvisible lets
// through; anywhere else they only make a name differ from one that looks
// the same ("Growth" with a joiner at its end, a variation selector after
// a Latin or Cyrillic letter, a left-to-right mark in front). The rules
// follow where Unicode and IDNA (RFC 5892, CONTEXTJ) use them:
//   - a joiner (U+200C, U+200D) follows a virama (a conjunct or a half
//     form in an Indic script, the old chillu of Malayalam), or stands
//     between letters of a script whose letters join (Arabic, Syriac,
//     Mongolian and the like); a zero-width joiner also stands between
//     emoji (after a variation selector or skin tone, as in the rainbow
//     flag or a family);
//   - a direction mark (U+200E, U+200F) stands in a name with
//     right-to-left text, and not beside another;
//   - a variation selector follows a symbol, punctuation mark or emoji
//     (not ASCII), an ideograph or a letter of the few scripts with
//     standardized variants (Myanmar, Mongolian, Phags-pa, Egyptian
//     hieroglyphs), or is the U+FE0F of a keycap (a digit, '#' or '*'
//     then U+FE0F U+20E3);
//   - tag characters (U+E0020 to U+E007E) follow U+1F3F4 (the black flag)
//     or one another, and U+E007F (cancel tag) ends their run: the flags
//     of regions such as Scotland.
//
// So a joiner between Latin letters, which some use to break a ligature,
// is refused too: in a name it would make two that look the same. They
// are refused in new names only: a name stored with one still loads, can
// be found and can be renamed.
func misplacedIgnorable(s string) string {
	if !strings.ContainsFunc(s, isJoinerMarkSelectorOrTag) {
		return "" // most names
	}
	rs := []rune(s)
	rtl := false
	for _, r := range rs {
		if r == 0x200F {
			continue // the right-to-left mark is of class R itself: not text
		}
		if p, _ := bidi.LookupRune(r); p.Class() == bidi.R || p.Class() == bidi.AL {
			rtl = true
			break
		}
	}
	at := func(i int) rune {
		if i < 0 || i >= len(rs) {
			return -1
		}
		return rs[i]
	}
	for i, r := range rs {
		prev, next := at(i-1), at(i+1)
		var ok bool
		var rule string
		switch {
		case r == 0x200C || r == 0x200D:
			ok = isVirama(prev) || (joins(prev) && joins(next)) ||
				(r == 0x200D && (isEmojiPart(prev) || isVariationSelector(prev)) && isEmojiPart(next))
			rule = "a joiner belongs after a virama, between letters of a script whose letters join, or between emoji"
		case r == 0x200E || r == 0x200F:
			ok = rtl && prev != 0x200E && prev != 0x200F
			rule = "a direction mark belongs in a name with right-to-left text, one at a time"
		case isVariationSelector(r):
			ok = takesVariationSelector(prev) || (r == 0xFE0F && strings.ContainsRune("0123456789#*", prev) && next == 0x20E3)
			rule = "a variation selector belongs after the emoji, symbol or ideograph whose form it selects"
		case r >= 0xE0020 && r <= 0xE007E:
			ok = prev == 0x1F3F4 || (prev >= 0xE0020 && prev <= 0xE007E)
			for j := i + 1; ok; j++ {
				if n := at(j); n == 0xE007F {
					break
				} else if n < 0xE0020 || n > 0xE007E {
					ok = false
				}
			}
			rule = "tag characters belong in the flag of a region, after U+1F3F4 and ended by U+E007F"
		case r == 0xE007F:
			ok = prev >= 0xE0020 && prev <= 0xE007E
			rule = "tag characters belong in the flag of a region, after U+1F3F4 and ended by U+E007F"
		default:
			continue
		}
		if !ok {
			return fmt.Sprintf("must not contain the invisible %U at character %d: %s", r, i+1, rule)
		}
	}
	return ""
}

func isVariationSelector(r rune) bool {
	return (r >= 0xFE00 && r <= 0xFE0F) || (r >= 0xE0100 && r <= 0xE01EF)
}

func isJoinerMarkSelectorOrTag(r rune) bool {
	return (r >= 0x200C && r <= 0x200F) || isVariationSelector(r) || (r >= 0xE0020 && r <= 0xE007F)
}

// isVirama reports whether r is a virama (canonical combining class 9),
// after which a joiner asks for a half form or stops a conjunct.
func isVirama(r rune) bool {
	return r >= 0x80 && norm.NFC.PropertiesString(string(r)).CCC() == 9
}

// joiningScripts are the scripts whose letters join their neighbours,
// where a joiner or non-joiner changes the forms shown.
var joiningScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian, unicode.Mandaic,
	unicode.Manichaean, unicode.Psalter_Pahlavi, unicode.Adlam, unicode.Hanifi_Rohingya,
	unicode.Sogdian, unicode.Old_Uyghur, unicode.Phags_Pa,
}

func joins(r rune) bool { return r >= 0x80 && unicode.In(r, joiningScripts...) }

// isEmojiPart reports whether r may be a part of an emoji sequence: a
// symbol outside ASCII (emoji are So, their skin tones Sk).
func isEmojiPart(r rune) bool {
	return r >= 0x80 && unicode.In(r, unicode.S) && !isJoinerMarkSelectorOrTag(r)
}

// takesVariationSelector reports whether a variation selector may follow
// r: a symbol or punctuation mark outside ASCII (emoji among them, and
// ‼ or 〰), a letter-like symbol of no script (ℹ), an ideograph, or a
// letter of the scripts with standardized variation sequences.
func takesVariationSelector(r rune) bool {
	if r < 0x80 || isJoinerMarkSelectorOrTag(r) {
		return false
	}
	return unicode.In(r, unicode.S, unicode.P) ||
		(unicode.Is(unicode.Common, r) && unicode.IsLetter(r)) ||
		unicode.In(r, unicode.Han, unicode.Myanmar, unicode.Mongolian, unicode.Phags_Pa, unicode.Egyptian_Hieroglyphs)
}

// hasVisible reports whether s shows anything: a letter, digit,
// punctuation mark or symbol other than the blank braille pattern. A name
// of only marks, joiners, selectors or tags would print as nothing.
func hasVisible(s string) bool {
	for _, r := range s {
		if r != 0x2800 && unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S) {
			return true
		}
	}
	return false
}

// allASCII reports whether every byte of s satisfies ok. Symbols and
// currencies are checked byte by byte before upper-casing, and upper-cased
// in ASCII only, because unicode upper-casing maps some non-ASCII letters
// to ASCII ones ('ı' to 'I', 'ſ' to 'S'), which would let "ſpy" pass as SPY.
func allASCII(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }

func isSymbolByte(c byte) bool {
	return isLetter(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// quote renders user input for an error message: quoted and escaped so
// that control characters and invalid UTF-8 are visible, and cut short so
// that a megabyte of input does not become a megabyte of log line.
func quote(s string) string {
	const maxRunes = 32
	n := 0
	for i := range s {
		if n == maxRunes {
			return quoteVisibly(s[:i]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
		}
		n++
	}
	return quoteVisibly(s)
}

// quoteVisibly is strconv.Quote, which escapes the characters Go does not
// count as printable, and escapes the variation selectors too, which Go
// counts as printable marks: a message that shows "Growth" must say what
// it holds that cannot be seen.
func quoteVisibly(s string) string {
	q := strconv.Quote(s)
	if !strings.ContainsFunc(q, isVariationSelector) {
		return q
	}
	var b strings.Builder
	for _, r := range q {
		switch {
		case !isVariationSelector(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}
