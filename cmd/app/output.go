package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"golang.org/x/text/width"

	"github.com/folio-dev/folio/internal/domain"
)

// printJSON writes v as indented JSON: the --json output, whose field names
// are documented in the README and do not change.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns: text left, numbers right, each column as
// wide as its widest cell on a terminal (see displayWidth). Cells are
// never cut short: a table shows names whole, so that a portfolio's can be
// typed back into a command, and a security's like it.
type table struct {
	head  []string
	right []bool
	rows  [][]string
}

func newTable(cols ...string) *table {
	t := &table{}
	for _, c := range cols {
		// A leading '>' marks a right-aligned (numeric) column.
		name, right := strings.CutPrefix(c, ">")
		t.head = append(t.head, name)
		t.right = append(t.right, right)
	}
	return t
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	widths := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-displayWidth(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(cells)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.head)
	for _, r := range t.rows {
		line(r)
	}
}

// displayWidth is how many columns s takes on a terminal: the sum of the
// widths of its clusters.
func displayWidth(s string) int {
	n := 0
	for len(s) > 0 {
		size, w := cluster(s)
		n += w
		s = s[size:]
	}
	return n
}

// cluster returns the length in bytes and the width in columns of the
// first cluster of s, non-empty: what a terminal draws as one thing. That
// is a character with what follows it and takes no column of its own
// (combining marks, variation selectors, joiners), an emoji with a skin
// tone, emoji joined by U+200D (👨‍👩‍👧, as wide as its first), or a pair of
// regional indicators (a flag). A character followed by U+FE0F, the
// selector of emoji presentation, is drawn as an emoji, two columns wide,
// if it has one (❤️). This approximates Unicode's grapheme clusters (UAX
// #29) for the text a table shows.
func cluster(s string) (int, int) {
	r, i := utf8.DecodeRuneInString(s)
	w := runeWidth(r)
	if isRegional(r) {
		if r2, n := utf8.DecodeRuneInString(s[i:]); isRegional(r2) {
			return i + n, 2
		}
		return i, w
	}
	emoji := unicode.Is(pictographic, r)
	for i < len(s) {
		r2, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r2 == '\ufe0f':
			if emoji || strings.ContainsRune("0123456789#*", r) { // keycaps: 1️⃣
				w = 2
			}
		case r2 == '\u200d' && emoji:
			if r3, n3 := utf8.DecodeRuneInString(s[i+n:]); unicode.Is(pictographic, r3) {
				n += n3
			}
		case emoji && r2 >= 0x1f3fb && r2 <= 0x1f3ff: // skin tones
		case runeWidth(r2) == 0:
		default:
			return i, w
		}
		i += n
	}
	return i, w
}

// isRegional reports whether r is a regional indicator symbol; two make a
// flag (🇫🇷).
func isRegional(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }

// pictographic approximates Unicode's Extended_Pictographic property: the
// characters that are, or may be shown as, emoji.
var pictographic = &unicode.RangeTable{
	LatinOffset: 1,
	R16: []unicode.Range16{
		{0x00a9, 0x00ae, 5},
		{0x203c, 0x2049, 13},
		{0x2122, 0x2139, 23},
		{0x2194, 0x2199, 1},
		{0x21a9, 0x21aa, 1},
		{0x231a, 0x231b, 1},
		{0x2328, 0x23cf, 167},
		{0x23e9, 0x23f3, 1},
		{0x23f8, 0x23fa, 1},
		{0x24c2, 0x25aa, 232},
		{0x25ab, 0x25b6, 11},
		{0x25c0, 0x25fb, 59},
		{0x25fc, 0x25fe, 1},
		{0x2600, 0x27bf, 1},
		{0x2934, 0x2935, 1},
		{0x2b05, 0x2b07, 1},
		{0x2b1b, 0x2b1c, 1},
		{0x2b50, 0x2b55, 5},
		{0x3030, 0x303d, 13},
		{0x3297, 0x3299, 2},
	},
	R32: []unicode.Range32{
		{0x1f000, 0x1faff, 1},
	},
}

// runeWidth is how many columns r takes alone: none for a combining mark,
// which sits on the character before it (the accent of an "é" written as
// "e" and U+0301), nor for a format character such as a zero-width space
// or joiner; two for an East Asian wide or fullwidth character (日, Ａ,
// most emoji); one for the rest.
func runeWidth(r rune) int {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// num prints a decimal exactly, without insignificant trailing zeros.
func num(d decimal.Decimal) string { return d.String() }

// money prints an amount with at least two decimals, and more when the
// exact value has them: nothing is rounded away.
func money(d decimal.Decimal) string {
	if -d.Exponent() <= 2 || d.Equal(d.Round(2)) {
		return d.StringFixed(2)
	}
	return d.String()
}

// percent prints a fraction as a percentage with two decimals.
func percent(d decimal.Decimal) string {
	return d.Shift(2).StringFixed(2) + "%"
}

// bar draws a fraction of width cells with eighth-block characters.
func bar(frac decimal.Decimal, cells int) string {
	eighths := frac.Mul(decimal.NewFromInt(int64(cells * 8))).Round(0).IntPart()
	eighths = max(0, min(eighths, int64(cells*8)))
	full := int(eighths / 8)
	s := strings.Repeat("█", full)
	if rem := eighths % 8; rem > 0 {
		s += string([]rune("▏▎▍▌▋▊▉")[rem-1])
	}
	return s
}

// count writes n with the singular or plural noun.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// buildVersion is what --version prints.
type buildVersion struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Modified *bool  `json:"modified,omitempty"` // set with Revision
	Go       string `json:"go"`
}

// versionOf reads the version of a build from its build information (nil
// when the binary has none): the main module's version (a pseudo-version
// with the commit for a build in a git checkout, "(devel)" otherwise), the
// commit, whether the tree had uncommitted changes, and the Go version.
func versionOf(bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: "(unknown)", Go: runtime.Version()}
	if bi == nil {
		return v
	}
	v.Version = bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			modified := s.Value == "true"
			v.Modified = &modified
		}
	}
	return v
}

// printVersion prints the version of this build (see versionOf).
func printVersion(e *env) error {
	bi, _ := debug.ReadBuildInfo()
	v := versionOf(bi)
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	line := "folio " + v.Version
	if v.Revision != "" {
		line += " (commit " + v.Revision[:min(12, len(v.Revision))]
		if v.Modified != nil && *v.Modified {
			line += ", with uncommitted changes"
		}
		line += ")"
	}
	_, err := fmt.Fprintf(e.stdout, "%s, %s\n", line, v.Go)
	return err
}

// quoted is a portfolio's name in double quotes, escaped as %q escapes it
// but for the invisible characters a name may hold in their place
// (joiners, direction marks, the tags of a region's flag): in a name the
// rules accept, those print as they are, so that an emoji family or a name
// in Persian reads as it does in a table, not as "\u200d". Anything else
// %q escapes (quotes, backslashes, controls, other format characters) is
// escaped still, and a name stored before a rule that now refuses it is
// quoted by %q whole: what is wrong with it shows.
func quoted(s string) string {
	if _, err := domain.ParsePortfolioName(s); err != nil {
		return strconv.Quote(s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0x200C || r == 0x200D || r == 0x200E || r == 0x200F || (r >= 0xE0020 && r <= 0xE007F) {
			b.WriteString(s[i : i+size])
		} else {
			q := strconv.Quote(s[i : i+size])
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// quotedSearch is a search text as a message repeats it: quoted, and a
// long one cut short with its length, so that a search given a megabyte
// does not print one back.
func quotedSearch(s string) string {
	const maxRunes = 64
	n := 0
	for i := range s {
		if n == maxRunes {
			return strconv.Quote(s[:i]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
		}
		n++
	}
	return strconv.Quote(s)
}
