package main

import (
	"io"
	"io/fs"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
)

// The readers return every row of data with the line it is on, its values
// parsed: header line, byte order mark, CRLF, blank padding and case set
// aside.
func TestReadTradesRows(t *testing.T) {
	file := "\ufeffDate,Side,Symbol,Quantity,Price\r\n" +
		"2024-01-02,buy,AAPL,10,150.5\r\n" +
		"\r\n" +
		" 2024-02-01 , SELL , brk.b ,3.25,160.0000\r\n"
	var progress []int
	trades, err := readTrades(strings.NewReader(file), func(n int) { progress = append(progress, n) })
	require.NoError(t, err)
	require.Len(t, trades, 2)
	got := make([]string, len(trades))
	for i, tr := range trades {
		got[i] = strings.Join([]string{
			tr.Date.Format("2006-01-02"), string(tr.Side), tr.Symbol, tr.Quantity.String(), tr.Price.String(),
		}, " ")
	}
	assert.Equal(t, []string{"2024-01-02 buy AAPL 10 150.5", "2024-02-01 sell BRK.B 3.25 160"}, got)
	assert.Equal(t, tracker.Sell, trades[1].Side)
	assert.Equal(t, []int{2, 4}, []int{trades[0].Line, trades[1].Line}, "the blank line counts")
	assert.Equal(t, []int{1, 2}, progress)
}

func TestReadPricesRows(t *testing.T) {
	file := "AAPL,2024-06-28,190.5\nmsft, 2024-06-28 ,415.10\n"
	rows, err := readPrices(strings.NewReader(file), func(int) {})
	require.NoError(t, err)
	require.Len(t, rows, 2, "no header: the first line is data")
	got := make([]string, len(rows))
	for i, r := range rows {
		got[i] = strings.Join([]string{r.Symbol, r.Date.Format("2006-01-02"), r.Price.String()}, " ")
	}
	assert.Equal(t, []string{"AAPL 2024-06-28 190.5", "MSFT 2024-06-28 415.1"}, got)
	assert.Equal(t, []int{1, 2}, []int{rows[0].Line, rows[1].Line})
}

// A file in UTF-16, byte order mark in front, is refused as such: read as
// UTF-8 it would be a line of one field with NUL bytes between letters.
func TestReadUTF16IsRefused(t *testing.T) {
	for name, bom := range map[string]string{"little-endian": "\xff\xfe", "big-endian": "\xfe\xff"} {
		var utf16 strings.Builder
		utf16.WriteString(bom)
		for _, b := range []byte("AAPL,2024-06-28,190.5\n") {
			if name == "little-endian" {
				utf16.Write([]byte{b, 0})
			} else {
				utf16.Write([]byte{0, b})
			}
		}
		_, err := readPrices(strings.NewReader(utf16.String()), func(int) {})
		var rowErr *tracker.RowError
		require.ErrorAs(t, err, &rowErr, name)
		assert.Equal(t, 1, rowErr.Line)
		assert.ErrorIs(t, err, domain.ErrInvalid)
		assert.Contains(t, err.Error(), "the file is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8", name)
	}
}

// ones yields n bytes of '1', with no newline, without holding them.
type ones struct{ n int }

func (o *ones) Read(p []byte) (int, error) {
	if o.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), o.n)
	for i := range p[:k] {
		p[i] = '1'
	}
	o.n -= k
	return k, nil
}

// A line far longer than any row (64 MiB here) is refused by its number
// once it passes the bound, without the reader taking it into memory.
func TestReadLongLineIsBoundedInMemory(t *testing.T) {
	in := io.MultiReader(strings.NewReader("AAPL,2024-06-28,190.5\nAAPL,2024-06-29,"), &ones{n: 64 << 20})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readPrices(in, func(int) {})
	runtime.ReadMemStats(&after)
	var rowErr *tracker.RowError
	require.ErrorAs(t, err, &rowErr)
	assert.Equal(t, 2, rowErr.Line)
	assert.ErrorContains(t, err, "line longer than 65536 bytes")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "allocated while reading")
}

// digitLines yields a line of 1000 '1's n times, without holding them.
type digitLines struct{ n, at int }

func (l *digitLines) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && l.n > 0 {
		if l.at == 1000 {
			p[k] = '\n'
			l.at, l.n = 0, l.n-1
		} else {
			p[k] = '1'
			l.at++
		}
		k++
	}
	return k, nil
}

// A quote that is never closed would have encoding/csv read the rest of
// the file into one field, over any number of short lines: the record is
// refused once it passes the bound, by the line it begins on, without the
// file in memory (64 MiB here), whether the quote opens a field or is one
// too many in a file of good rows.
func TestReadOpenQuoteIsBoundedInMemory(t *testing.T) {
	good := strings.Repeat("AAPL,2024-06-28,190.5\n", 100_000)
	for name, in := range map[string]func() io.Reader{
		"field": func() io.Reader {
			return io.MultiReader(strings.NewReader("AAPL,2024-06-28,190.5\nAAPL,2024-06-29,\""), &digitLines{n: 64 << 10})
		},
		"stray": func() io.Reader {
			return io.MultiReader(strings.NewReader("AAPL,2024-06-28,190.5\n\"MSFT,2024-06-28,415\n"), strings.NewReader(good), &digitLines{n: 64 << 10})
		},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readPrices(in(), func(int) {})
		runtime.ReadMemStats(&after)
		var rowErr *tracker.RowError
		require.ErrorAs(t, err, &rowErr, name)
		assert.Equal(t, 2, rowErr.Line, name)
		assert.ErrorIs(t, err, domain.ErrInvalid)
		assert.EqualError(t, err, "line 2: a quoted field runs on over the next lines for more than 65536 bytes: is its closing quote missing?", name)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "%s: allocated while reading", name)
	}

	// A quoted field may hold doubled quotes, commas and, within the
	// bound, line breaks; the reader takes them as encoding/csv does.
	_, err := readPrices(strings.NewReader("\"AA\"\"PL\",2024-06-28,190.5\n"), func(int) {})
	assert.ErrorContains(t, err, `line 1: invalid symbol "AA\"PL"`)
	_, err = readPrices(strings.NewReader("AAPL,2024-06-28,\"19\n0.5\"\n"), func(int) {})
	assert.ErrorContains(t, err, `line 1: invalid price "19\n0.5"`)
}

// Spaces before and after a field are dropped, before a quoted one too.
func TestReadSpacesAroundQuotedFields(t *testing.T) {
	rows, err := readPrices(strings.NewReader("symbol, date, price\nAAPL, \"2024-06-28\",  \"190.5\"\n\t\"MSFT\",2024-06-28 ,415\n"), func(int) {})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "AAPL 2024-06-28 190.5", rows[0].Symbol+" "+rows[0].Date.Format("2006-01-02")+" "+rows[0].Price.String())
	assert.Equal(t, "MSFT", rows[1].Symbol)
	assert.Equal(t, 3, rows[1].Line)
}

// Standard input that is a directory (folio price import - < dir) is
// refused as a directory given as the file is.
func TestReadADirectory(t *testing.T) {
	_, err := readPrices(iotest.ErrReader(&fs.PathError{Op: "read", Path: "/dev/stdin", Err: syscall.EISDIR}), func(int) {})
	assert.ErrorIs(t, err, domain.ErrInvalid)
	assert.EqualError(t, err, "it is a directory: give a CSV file")
}

// A file whose lines end in a lone CR (classic Mac OS) reads as one line:
// the error says so, rather than counting its fields. A lone CR at the
// very end of a line that also ends in LF is white space, as before.
func TestReadCROnlyLineEndings(t *testing.T) {
	_, err := readPrices(strings.NewReader("symbol,date,price\rAAPL,2024-06-28,190.5\rMSFT,2024-06-28,415\r"), func(int) {})
	var rowErr *tracker.RowError
	require.ErrorAs(t, err, &rowErr)
	assert.Equal(t, 1, rowErr.Line)
	assert.EqualError(t, err, "line 1: lines end in a lone carriage return (CR), as in files saved by classic Mac OS programs: save the file with LF or CRLF line endings")
	_, err = readTrades(strings.NewReader("2024-01-02,buy,AAPL,10,150.5\r2024-01-03,buy,AAPL,10,150.5\r"), func(int) {})
	assert.ErrorContains(t, err, "line 1: lines end in a lone carriage return (CR)")
	// Quoted fields, as spreadsheets write them, and a file longer than a
	// line may be: the same words, not a quote or a length.
	for name, file := range map[string]string{
		"quoted": `"symbol","date","price"` + "\r" + `"AAPL","2024-06-28","190.5"` + "\r",
		"long":   "symbol,date,price\r" + strings.Repeat("AAPL,2024-06-28,190.5\r", 5000),
	} {
		_, err = readPrices(strings.NewReader(file), func(int) {})
		assert.EqualError(t, err, "line 1: lines end in a lone carriage return (CR), as in files saved by classic Mac OS programs: save the file with LF or CRLF line endings", name)
	}

	rows, err := readPrices(strings.NewReader("AAPL,2024-06-28,190.5\r\r\nMSFT,2024-06-28,415\n"), func(int) {})
	require.NoError(t, err)
	assert.Len(t, rows, 2)
}

// encoding/csv's quote errors come with what to write instead.
func TestReadQuoteErrorsSayHowToQuote(t *testing.T) {
	for file, want := range map[string]string{
		"2024-06-01,buy,AAPL,1,\"20\n":                           `line 1: a quoted field has no closing quote, or a quote inside it that is not doubled: end the field with ", and write "" for each " inside it`,
		"2024-06-01,buy,\"AA\"PL\",1,20\n":                       `line 1: a quoted field has no closing quote, or a quote inside it that is not doubled: end the field with ", and write "" for each " inside it`,
		"2024-06-01,buy,AAPL,1,20\n2024-06-01,buy,AA\"PL,1,20\n": `line 2: a field that does not begin with a quote has one inside it: put the field in quotes and write "" for each " inside it`,
	} {
		_, err := readTrades(strings.NewReader(file), func(int) {})
		assert.ErrorIs(t, err, domain.ErrInvalid, "%q", file)
		assert.EqualError(t, err, want, "%q", file)
	}
}

// A file that fails to read is named once: the message puts the name in
// front, so the cause comes without Go's "read NAME:".
func TestReadErrorNamesTheFileOnce(t *testing.T) {
	r := readUntilDone(t.Context(), io.NopCloser(iotest.ErrReader(&fs.PathError{Op: "read", Path: "/data/x.csv", Err: syscall.EIO})))
	defer r.Close()
	_, err := io.ReadAll(r)
	assert.ErrorIs(t, err, syscall.EIO)
	assert.EqualError(t, err, "cannot read: input/output error")
}
