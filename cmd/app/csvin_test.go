package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
