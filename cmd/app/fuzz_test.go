package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/tracker"
)

// FuzzReadTrades feeds arbitrary files to the trade CSV reader: it never
// panics, refuses with a *tracker.RowError naming a line and saying why in
// a bounded, printable message, and what it accepts is canonical and comes
// back from PostgreSQL unchanged in the columns it is stored in.
func FuzzReadTrades(f *testing.F) {
	for _, seed := range []string{
		"date,side,symbol,quantity,price\n2024-01-02,buy,AAPL,10,150.5\n2024-02-01,sell,AAPL,3,160\n",
		"2024-01-02,BUY, aapl ,0.0000000001,0\n",
		"\ufeffdate,side,symbol,quantity,price\r\n2024-01-02,buy,BRK.B,1,1\r\n",
		"2024-01-02,buy,AAPL,-5,1\n",
		"2024-01-02,buy,AAPL,1e400,1\n",
		"2024-01-02,buy,AAPL,NaN,1\n",
		"2024-02-30,buy,AAPL,1,1\n",
		"2024-01-02,hold,AAPL,1,1\n",
		"2024-01-02,buy,'; DROP TABLE portfolio; --,1,1\n",
		"2024-01-02,buy,\"AA\nPL\",1,1\n",
		"\"2024-01-02,buy,AAPL,1,1\n",
		"2024-01-02,buy,AAPL,999999999999999999.9999999999,99999999999999999.0000000001\n",
		"2024-01-02,buy,AAPL,1234567890123456789,1\n",
		"2024-01-02,buy,Épargne,1,1\n",
		"\x00,\xff,\xfe,1,1\n",
		",,,,\n",
		"a,b\n",
		strings.Repeat("9", 100) + ",buy,AAPL,1,1\n",
	} {
		f.Add([]byte(seed))
	}
	pool := pgtest.NewPool(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		trades, err := readTrades(bytes.NewReader(file), func(int) {})
		if err != nil {
			checkRefusal(t, err)
			return
		}
		want := csvOracle(t, file, "date", "side", "symbol", "quantity", "price")
		if len(trades) != len(want) {
			t.Fatalf("%d trades read from %d rows of data", len(trades), len(want))
		}
		for i, tr := range trades {
			rec := want[i]
			day, _ := domain.ParseDate(rec.fields[0])
			side, _ := tracker.ParseSide(rec.fields[1])
			sym, _ := domain.ParseSymbol(rec.fields[2])
			qty, _ := domain.ParseQuantity(rec.fields[3])
			price, _ := domain.ParsePrice(rec.fields[4])
			if tr.Line != rec.line || !tr.Date.Equal(day) || tr.Side != side || tr.Symbol != sym ||
				!tr.Quantity.Equal(qty) || !tr.Price.Equal(price) {
				t.Fatalf("trade %d is %+v, from line %d: %q", i, tr, rec.line, rec.fields)
			}
			if err := domain.CheckDate(tr.Date); err != nil {
				t.Fatalf("date %s accepted: %v", tr.Date, err)
			}
			if tr.Side != tracker.Buy && tr.Side != tracker.Sell {
				t.Fatalf("side %q accepted", tr.Side)
			}
			if sym, err := domain.ParseSymbol(tr.Symbol); err != nil || sym != tr.Symbol {
				t.Fatalf("symbol %q accepted but not canonical (%q, %v)", tr.Symbol, sym, err)
			}
			if err := domain.CheckQuantity(tr.Quantity); err != nil {
				t.Fatalf("quantity %s accepted: %v", tr.Quantity, err)
			}
			if err := domain.CheckPrice(tr.Price); err != nil {
				t.Fatalf("price %s accepted: %v", tr.Price, err)
			}
			roundTrip(t, pool, tr.Quantity, tr.Price, tr.Date.Format("2006-01-02"))
		}
	})
}

// FuzzReadPrices is FuzzReadTrades for price files.
func FuzzReadPrices(f *testing.F) {
	for _, seed := range []string{
		"symbol,date,price\nAAPL,2024-06-28,190.5\nmsft, 2024-06-28 ,415.10\n",
		"AAPL,2024-06-28,-1\n",
		"AAPL,2024-13-01,1\n",
		"AA PL,2024-06-01,1\n",
		"AAPL,2024-06-01,1,2\n",
		"\"AAPL,2024-06-01,1\n",
		"AAPL,0000-01-01,1\n",
		"AAPL,2024-06-01,0.00000000001\n",
		"\ufeffsymbol,date,price\n",
		"AAPL, \"2024-06-01\",\t\"1\"\n",
		"AAPL, \"2024-06-01\" ,1\n",
		"\"AAPL\" ,2024-06-01,1\n",
		"AAPL,2024-06-01,\"1\n2\"\n",
	} {
		f.Add([]byte(seed))
	}
	pool := pgtest.NewPool(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		rows, err := readPrices(bytes.NewReader(file), func(int) {})
		if err != nil {
			checkRefusal(t, err)
			return
		}
		want := csvOracle(t, file, "symbol", "date", "price")
		if len(rows) != len(want) {
			t.Fatalf("%d prices read from %d rows of data", len(rows), len(want))
		}
		for i, r := range rows {
			rec := want[i]
			sym, _ := domain.ParseSymbol(rec.fields[0])
			day, _ := domain.ParseDate(rec.fields[1])
			price, _ := domain.ParsePrice(rec.fields[2])
			if r.Line != rec.line || r.Symbol != sym || !r.Date.Equal(day) || !r.Price.Equal(price) {
				t.Fatalf("price %d is %+v, from line %d: %q", i, r, rec.line, rec.fields)
			}
			if err := domain.CheckDate(r.Date); err != nil {
				t.Fatalf("date %s accepted: %v", r.Date, err)
			}
			if sym, err := domain.ParseSymbol(r.Symbol); err != nil || sym != r.Symbol {
				t.Fatalf("symbol %q accepted but not canonical", r.Symbol)
			}
			if err := domain.CheckPrice(r.Price); err != nil {
				t.Fatalf("price %s accepted: %v", r.Price, err)
			}
			roundTrip(t, pool, r.Price, r.Price, r.Date.Format("2006-01-02"))
		}
	})
}

// oracleRow is a record of data as encoding/csv reads it, fields trimmed,
// with the line it starts on.
type oracleRow struct {
	line   int
	fields []string
}

// csvOracle reads an accepted file with encoding/csv on its own: every
// record but a header line is a row of data, with as many fields as there
// are columns. The reader under test must have returned one row for each,
// in order, from the same line and fields.
func csvOracle(t *testing.T, file []byte, columns ...string) []oracleRow {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(file, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true // the spaces around a field are dropped, before a quote too
	var out []oracleRow
	for i := 0; ; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("accepted, but encoding/csv refuses it: %v", err)
		}
		line, _ := cr.FieldPos(0)
		for j := range rec {
			rec[j] = strings.TrimSpace(rec[j])
		}
		if i == 0 && len(rec) == len(columns) && slices.EqualFunc(rec, columns, strings.EqualFold) {
			continue
		}
		if len(rec) != len(columns) {
			t.Fatalf("accepted line %d with %d fields: %q", line, len(rec), rec)
		}
		out = append(out, oracleRow{line: line, fields: rec})
	}
}

// checkRefusal: a refusal names its line and says what is wrong, briefly,
// in printable text.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var rowErr *tracker.RowError
	if !errors.As(err, &rowErr) || rowErr.Line < 1 {
		t.Fatalf("refusal without a line: %v", err)
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("refusal is not an invalid-input error: %v", err)
	}
	msg := err.Error()
	if !utf8.ValidString(msg) || len(msg) > 400 || strings.ContainsAny(msg, "\x00\n\r") {
		t.Fatalf("refusal message not fit to print (%d bytes): %q", len(msg), msg)
	}
}

// roundTrip sends an accepted quantity, price and date through the column
// types they are stored in and checks nothing changed: NUMERIC(28,10) would
// round a value the domain let through with too many digits, or refuse one
// too large.
func roundTrip(t *testing.T, pool *pgxpool.Pool, qty, price decimal.Decimal, day string) {
	t.Helper()
	var q, p decimal.Decimal
	var d string
	err := pool.QueryRow(t.Context(), "select $1::numeric(28,10), $2::numeric(28,10), $3::date::text",
		qty, price, day).Scan(&q, &p, &d)
	if err != nil {
		t.Fatalf("round trip of %s, %s, %s: %v", qty, price, day, err)
	}
	if !q.Equal(qty) || !p.Equal(price) || d != day {
		t.Fatalf("changed by the database: %s→%s, %s→%s, %s→%s", qty, q, price, p, day, d)
	}
}
