package tracker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func TestParseSide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want tracker.Side
	}{
		{"buy", tracker.Buy}, {"BUY", tracker.Buy}, {"Buy", tracker.Buy},
		{"sell", tracker.Sell}, {"SeLL", tracker.Sell},
	} {
		got, err := tracker.ParseSide(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	for _, in := range []string{"", " buy", "buy ", "b", "purchase", "sell;", "'; DROP TABLE investment; --", "ｂｕｙ"} {
		got, err := tracker.ParseSide(in)
		require.ErrorIs(t, err, domain.ErrInvalid, "%q", in)
		assert.Empty(t, got)
		if len(in) <= 16 {
			assert.Contains(t, err.Error(), `"`+in+`"`, "names the value")
		}
	}
	// A long value is not echoed back.
	long := strings.Repeat("x", 10_000)
	_, err := tracker.ParseSide(long)
	require.ErrorIs(t, err, domain.ErrInvalid)
	assert.Less(t, len(err.Error()), 100, "got %d bytes", len(err.Error()))
	assert.Contains(t, err.Error(), "10000 bytes")
}

func TestRefString(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("01890a5d-ac96-774b-bcce-b302099a8057")
	assert.Equal(t, "01890a5d-ac96-774b-bcce-b302099a8057", tracker.ByID(id).String())
	assert.Equal(t, `"Main"`, tracker.ByName("Main").String())
	assert.Equal(t, `"a \"b\"\n"`, tracker.ByName("a \"b\"\n").String())
	assert.Equal(t, tracker.Ref{ID: id}, tracker.ByID(id))
	assert.Equal(t, tracker.Ref{Name: "x"}, tracker.ByName("x"))
}

func TestDate(t *testing.T) {
	t.Parallel()
	tokyo := time.FixedZone("JST", 9*3600)
	d := tracker.NewDate(time.Date(2024, 3, 1, 2, 30, 0, 0, tokyo))
	assert.Equal(t, "2024-03-01", d.String(), "the day where the time was read")
	assert.True(t, d.Equal(day("2024-03-01")))
	assert.Equal(t, time.UTC, d.Location())

	b, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Equal(t, `"2024-03-01"`, string(b))

	var got tracker.Date
	require.NoError(t, json.Unmarshal([]byte(`"2024-02-29"`), &got))
	assert.True(t, got.Equal(day("2024-02-29")))

	got = d
	require.NoError(t, json.Unmarshal([]byte(`null`), &got))
	assert.Equal(t, d, got, "null leaves the date as it was")

	for _, in := range []string{`"2023-02-29"`, `"2024-13-01"`, `"1899-12-31"`, `"01/02/2024"`, `"2024-3-1"`, `""`, `20240301`, `true`, `{}`} {
		var bad tracker.Date
		err := json.Unmarshal([]byte(in), &bad)
		require.ErrorIs(t, err, domain.ErrInvalidDate, in)
		assert.True(t, bad.IsZero(), in)
	}
}

// The views' JSON is the documented interface of the app's --json output
// and the HTTP API: field names, decimals as strings without trailing
// zeros, dates as YYYY-MM-DD, empty lists as [].
func TestViewsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.security(t, "AAPL", "USD")
	e.price(t, "AAPL", "12.50", "2024-06-01")
	p := e.portfolio(t, "Main")

	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"`+p.ID.String()+`","name":"Main","currency":"USD","version":1,"lots":[]}`, string(b))

	buy := e.trade(t, p.ID, tracker.Buy, "AAPL", "2.000", "10.10", "2024-01-01")
	b, err = json.Marshal(buy)
	require.NoError(t, err)
	assert.JSONEq(t, `{"portfolio":"Main","side":"buy","symbol":"AAPL","quantity":"2","price":"10.1","date":"2024-01-01",
		"lot_id":"`+buy.LotID.String()+`","version":2}`, string(b))

	sell := e.trade(t, p.ID, tracker.Sell, "AAPL", "0.5", "12", "2024-02-01")
	b, err = json.Marshal(sell)
	require.NoError(t, err)
	assert.JSONEq(t, `{"portfolio":"Main","side":"sell","symbol":"AAPL","quantity":"0.5","price":"12","date":"2024-02-01",
		"cost_basis":"5.05","realized_gain":"0.95","version":3}`, string(b))

	// Read back from the database, where every number has ten decimals.
	v, err := e.svc.Portfolio(ctx, tracker.ByID(p.ID))
	require.NoError(t, err)
	sec, err := e.svc.Security(ctx, "AAPL")
	require.NoError(t, err)
	b, err = json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"`+p.ID.String()+`","name":"Main","currency":"USD","version":3,"lots":[
		{"id":"`+buy.LotID.String()+`","security_id":"`+sec.ID.String()+`","symbol":"AAPL",
		 "quantity":"1.5","unit_cost":"10.1","cost":"15.15","acquired_on":"2024-01-01"}]}`, string(b))

	b, err = json.Marshal(sec)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"`+sec.ID.String()+`","symbol":"AAPL","name":"AAPL Corp.","currency":"USD",
		"last_price":"12.5","price_date":"2024-06-01"}`, string(b))

	r, err := e.svc.Report(ctx, tracker.ByID(p.ID))
	require.NoError(t, err)
	b, err = json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"`+p.ID.String()+`","portfolio":"Main","currency":"USD","version":3,"as_of":"2024-06-15",
		"holdings":[{"symbol":"AAPL","name":"AAPL Corp.","quantity":"1.5","cost_basis":"15.15","price":"12.5",
			"price_date":"2024-06-01","market_value":"18.75","unrealized_gain":"3.6","weight":"1"}],
		"cost_basis":"15.15","market_value":"18.75","unrealized_gain":"3.6","unpriced":0}`, string(b))

	ps, err := e.svc.Portfolios(ctx, uow.ListOptions{})
	require.NoError(t, err)
	b, err = json.Marshal(ps)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":"`+p.ID.String()+`","name":"Main","currency":"USD","version":3,"lots":1,"cost_basis":"15.15"}]`, string(b))

	// An unpriced security's price and holding figures are null.
	e.security(t, "NOPR", "USD")
	nopr, err := e.svc.Security(ctx, "NOPR")
	require.NoError(t, err)
	b, err = json.Marshal(nopr)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"`+nopr.ID.String()+`","symbol":"NOPR","name":"NOPR Corp.","currency":"USD","last_price":null,"price_date":null}`, string(b))
}
