package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/shopspring/decimal"
	"golang.org/x/text/width"
)

// printJSON writes v as indented JSON: the --json output, whose field names
// are documented in the README and do not change.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns: text left, numbers right, each column as
// wide as its widest cell on a terminal (see displayWidth).
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

// displayWidth is how many columns s takes on a terminal.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth is how many columns r takes: none for a combining mark, which
// sits on the character before it (the accent of an "é" written as "e"
// and U+0301), nor for a format character such as a zero-width space or
// joiner; two for an East Asian wide or fullwidth character (日, Ａ, most
// emoji); one for the rest.
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

// clip shortens s to at most n columns for a table cell, ending it with
// "…" when it cuts.
func clip(s string, n int) string {
	if displayWidth(s) <= n {
		return s
	}
	used := 0
	for i, r := range s {
		if used+runeWidth(r) > n-1 { // and one column for "…"
			return s[:i] + "…"
		}
		used += runeWidth(r)
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
