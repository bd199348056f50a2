package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
)

// maxLine bounds one line of an imported CSV file, and one record: a real
// row is a few dozen bytes, and a bound keeps a corrupt or hostile file
// from being read into memory whole.
const maxLine = 64 << 10

var (
	errLineTooLong = reword(fmt.Sprintf("line longer than %d bytes", maxLine), domain.ErrInvalid)
	// errOpenQuote: encoding/csv reads a quoted field over line breaks
	// until its closing quote, so one quote too many would have it take
	// the rest of the file in memory as one field.
	errOpenQuote = reword(fmt.Sprintf("a quoted field runs on over the next lines for more than %d bytes: "+
		"is its closing quote missing?", maxLine), domain.ErrInvalid)
)

// lineLimiter fails the read once a line, or a record that a quoted field
// carries over several lines, exceeds maxLine. It follows the quotes as
// encoding/csv does, to tell a line break inside a field from the end of a
// record (a doubled quote inside a field turns them off and on again).
type lineLimiter struct {
	r     io.Reader
	run   int // bytes since the record began
	lines int // newlines seen
	// record is the line the current record begins on.
	record int
	// quoted: inside a quoted field. cr: the byte before was a carriage
	// return. loneCR: a carriage return not followed by a newline came
	// before the first newline, as in a file saved with the line endings
	// of classic Mac OS.
	quoted, cr, loneCR bool
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if l.cr && b != '\n' && l.lines == 0 {
			l.loneCR = true
		}
		l.cr = b == '\r'
		switch {
		case b == '"':
			l.quoted = !l.quoted
		case b == '\n':
			l.lines++
			if !l.quoted {
				l.run, l.record = 0, l.lines
				continue
			}
		}
		if l.run++; l.run > maxLine {
			switch {
			case l.loneCR:
				return 0, errLoneCR
			case l.record < l.lines:
				return 0, errOpenQuote
			}
			return 0, errLineTooLong
		}
	}
	return n, err
}

// errLoneCR: encoding/csv ends lines at LF only, so a file whose lines end
// in a lone CR reads as one long line, which no column count, quote or
// line length would explain.
var errLoneCR = reword("lines end in a lone carriage return (CR), "+
	"as in files saved by classic Mac OS programs: save the file with LF or CRLF line endings", domain.ErrInvalid)

// errUTF16: a file that starts with the byte order mark of UTF-16.
var errUTF16 = reword("the file is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8 (CSV UTF-8)", domain.ErrInvalid)

// csvRows reads a CSV file of fixed columns, with or without a header line
// naming them, calling row for each record with its line number. Every
// problem is an error naming the line.
func csvRows(r io.Reader, columns []string, row func(line int, rec []string) error) error {
	// Spreadsheets often start a UTF-8 CSV file with a byte order mark,
	// which would otherwise stick to the first field.
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	if bom, err := br.Peek(2); err == nil && (string(bom) == "\xff\xfe" || string(bom) == "\xfe\xff") {
		// What a spreadsheet's "Unicode text" is: two bytes a character,
		// which no line of it would explain.
		return &tracker.RowError{Line: 1, Err: errUTF16}
	}
	lim := &lineLimiter{r: br}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	cr.ReuseRecord = true
	// Spaces around a field are dropped: before a quoted one, as the
	// reader would otherwise take its quote for one inside the field.
	cr.TrimLeadingSpace = true
	first := true
	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, errLineTooLong) || errors.Is(err, errOpenQuote) {
				return &tracker.RowError{Line: lim.record + 1, Err: err}
			}
			if errors.Is(err, syscall.EISDIR) {
				return reword("it is a directory: give a CSV file", domain.ErrInvalid)
			}
			if errors.Is(err, errLoneCR) || lim.loneCR {
				return &tracker.RowError{Line: 1, Err: errLoneCR}
			}
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				// The record's first line: an unbalanced quote is found
				// only where the file ends or the next quote is.
				return &tracker.RowError{Line: perr.StartLine, Err: reword(quoteAdvice(perr.Err), domain.ErrInvalid)}
			}
			return err
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
			if strings.ContainsRune(rec[i], '\r') {
				// No column holds a line break.
				return &tracker.RowError{Line: line, Err: errLoneCR}
			}
		}
		if first {
			first = false
			if isHeader(rec, columns) {
				continue
			}
			if looksLikeHeader(rec) {
				// Rather than the first column that does not parse, such
				// as `invalid date "price"` for symbol,price,date.
				return &tracker.RowError{Line: line, Err: reword(fmt.Sprintf("neither the header %s nor a row of data (got %s)",
					strings.Join(columns, ","), printable(strings.Join(rec, ","))), domain.ErrInvalid)}
			}
		}
		if len(rec) != len(columns) {
			return &tracker.RowError{Line: line, Err: reword(fmt.Sprintf("%s, want %d (%s)",
				count(len(rec), "field", "fields"), len(columns), strings.Join(columns, ",")), domain.ErrInvalid)}
		}
		if rows++; rows > maxImportRows {
			return &tracker.RowError{Line: line, Err: errTooManyRows}
		}
		if err := row(line, rec); err != nil {
			return &tracker.RowError{Line: line, Err: err}
		}
	}
}

// maxImportRows bounds the rows of one import, which are all read, and
// held, before any is written (all or nothing): a stream that never ends,
// or a file of millions of rows, would otherwise take all the memory
// there is (about 1.5 KB a row).
const maxImportRows = 100_000

var errTooManyRows = reword(fmt.Sprintf("more than %d rows: import the file in parts of at most %d rows "+
	"(each part is imported all or nothing)", maxImportRows, maxImportRows), domain.ErrInvalid)

func isHeader(rec, columns []string) bool {
	if len(rec) != len(columns) {
		return false
	}
	for i, c := range columns {
		if !strings.EqualFold(strings.TrimSpace(rec[i]), c) {
			return false
		}
	}
	return true
}

// looksLikeHeader reports whether a first record is a header line rather
// than a row of data: it has fields (one is a lone word, or a line with
// another separator), a word among them, and no field is a date, a number
// or a side, which every row has (a symbol could be a word of a header).
func looksLikeHeader(rec []string) bool {
	if len(rec) < 2 {
		return false
	}
	word := false
	for _, f := range rec {
		if _, err := domain.ParseDate(f); err == nil {
			return false
		}
		if _, err := decimal.NewFromString(f); err == nil {
			return false
		}
		if _, err := tracker.ParseSide(f); err == nil {
			return false
		}
		word = word || strings.ContainsFunc(f, unicode.IsLetter)
	}
	return word
}

// printsAsIs reports whether s is UTF-8 text of printable characters only.
func printsAsIs(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// quoteAdvice says what is wrong with the quotes of a CSV record, and how
// to write them, for encoding/csv's terse errors.
func quoteAdvice(err error) string {
	switch {
	case errors.Is(err, csv.ErrQuote):
		return `a quoted field has no closing quote, or a quote inside it that is not doubled: ` +
			`end the field with ", and write "" for each " inside it`
	case errors.Is(err, csv.ErrBareQuote):
		return `a field that does not begin with a quote has one inside it: ` +
			`put the field in quotes and write "" for each " inside it`
	}
	return err.Error()
}

// shownPath is a file name as a message shows it: as it is, or quoted
// when it holds bytes that are not UTF-8 or characters that do not print.
func shownPath(name string) string {
	if printsAsIs(name) {
		return name
	}
	return strconv.Quote(name)
}

// printable shows s in a message as it is when it is short, printable text,
// and quoted and clipped otherwise.
func printable(s string) string {
	const max = 80
	if len(s) <= max && printsAsIs(s) {
		return s
	}
	// Quoted, escapes and all, it is at most max characters long (a
	// control character is four, \x1f), cut where a character begins.
	p := s
	if len(p) > max {
		p = p[:max]
		for len(p) > 0 && !utf8.RuneStart(s[len(p)]) {
			p = p[:len(p)-1]
		}
	}
	for len(p) > 0 && len(strconv.Quote(p)) > max+2 {
		_, n := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-n]
	}
	if len(p) < len(s) {
		return strconv.Quote(p) + "…"
	}
	return strconv.Quote(p)
}

// readPrices parses symbol,date,price rows.
func readPrices(r io.Reader, progress func(int)) ([]tracker.PriceRow, error) {
	var rows []tracker.PriceRow
	err := csvRows(r, []string{"symbol", "date", "price"}, func(line int, rec []string) error {
		sym, err := domain.ParseSymbol(rec[0])
		if err != nil {
			return err
		}
		day, err := domain.ParseDate(rec[1])
		if err != nil {
			return err
		}
		price, err := domain.ParsePrice(rec[2])
		if err != nil {
			return err
		}
		rows = append(rows, tracker.PriceRow{Line: line, Symbol: sym, Price: price, Date: day})
		progress(len(rows))
		return nil
	})
	return rows, err
}

// readTrades parses date,side,symbol,quantity,price rows.
func readTrades(r io.Reader, progress func(int)) ([]tracker.Trade, error) {
	var trades []tracker.Trade
	err := csvRows(r, []string{"date", "side", "symbol", "quantity", "price"}, func(line int, rec []string) error {
		day, err := domain.ParseDate(rec[0])
		if err != nil {
			return err
		}
		side, err := tracker.ParseSide(rec[1])
		if err != nil {
			return err
		}
		sym, err := domain.ParseSymbol(rec[2])
		if err != nil {
			return err
		}
		qty, err := domain.ParseQuantity(rec[3])
		if err != nil {
			return err
		}
		price, err := domain.ParsePrice(rec[4])
		if err != nil {
			return err
		}
		trades = append(trades, tracker.Trade{Line: line, Side: side, Symbol: sym, Quantity: qty, Price: price, Date: day})
		progress(len(trades))
		return nil
	})
	return trades, err
}
