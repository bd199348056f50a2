package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
)

func TestNewPortfolio(t *testing.T) {
	p, err := domain.NewPortfolio("  Retirement ", "eur")
	require.NoError(t, err)
	assert.Equal(t, "Retirement", p.Name())
	assert.Equal(t, "EUR", p.Currency())
	assert.Equal(t, int64(0), p.Version(), "a new portfolio is not saved yet")
	assert.Equal(t, uuid.Version(7), p.ID().Version())
	assert.Empty(t, p.Investments())
	assert.Empty(t, p.Holdings())

	_, err = domain.NewPortfolio("\t", "EUR")
	assert.ErrorIs(t, err, domain.ErrInvalidName)
	_, err = domain.NewPortfolio("Retirement", "EURO")
	assert.ErrorIs(t, err, domain.ErrInvalidCurrency)
	assert.EqualError(t, err, `create portfolio "Retirement": invalid currency "EURO": a currency code is three letters, such as USD or EUR`)
}

func TestPortfolioRename(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the name afterwards
		err  error
	}{
		{"new name", "Pension", "Pension", nil},
		{"trimmed", "  Pension\n", "Pension", nil},
		{"same name", "Retirement", "Retirement", nil},
		{"same name after trimming", " Retirement ", "Retirement", nil},
		{"sql verbatim", "x'; DELETE FROM investment; --", "x'; DELETE FROM investment; --", nil},
		{"empty", "", "Retirement", domain.ErrInvalidName},
		{"spaces", "   ", "Retirement", domain.ErrInvalidName},
		{"control", "Pen\bsion", "Retirement", domain.ErrInvalidName},
		{"too long", strings.Repeat("x", 101), "Retirement", domain.ErrInvalidName},
		{"invalid utf-8", "Pen\xc3sion", "Retirement", domain.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPortfolio(t, "Retirement", "USD")
			sec := newSecurity(t, "AAPL", "USD")
			buy(t, p, sec, "1", "1", "2024-01-02")
			before := p.State()

			err := p.Rename(tt.in)
			assert.Equal(t, tt.want, p.Name())
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				assert.Contains(t, err.Error(), `rename portfolio "Retirement": invalid name`)
				assert.Equal(t, before, p.State())
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestBuy(t *testing.T) {
	usd := newSecurity(t, "AAPL", "USD")
	eur := newSecurity(t, "SAP", "EUR")
	tests := []struct {
		name     string
		sec      *domain.Security
		qty      decimal.Decimal
		cost     decimal.Decimal
		on       time.Time
		want     error  // nil: accepted
		contains string // part of the error message
	}{
		{"plain", usd, dec("10"), dec("187.32"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), nil, ""},
		{"fractional shares", usd, dec("0.0000000001"), dec("187.32"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), nil, ""},
		{"zero cost (gift)", usd, dec("3"), decimal.Zero, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), nil, ""},
		{"time of day dropped", usd, dec("1"), dec("1"), time.Date(2024, 1, 2, 17, 45, 0, 0, time.UTC), nil, ""},
		{"currency mismatch", eur, dec("1"), dec("1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrCurrencyMismatch,
			`buy SAP in "Main": currency mismatch: SAP is priced in EUR but the portfolio is in USD, and folio does not convert currencies`},
		{"zero quantity", usd, decimal.Zero, dec("1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidQuantity,
			`buy AAPL in "Main": invalid quantity 0: must be greater than 0`},
		{"negative quantity", usd, dec("-1"), dec("1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidQuantity, "must be greater than 0"},
		{"quantity too precise", usd, dec("1.00000000001"), dec("1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidQuantity, "10 after it"},
		{"negative cost", usd, dec("1"), dec("-0.01"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidPrice,
			`buy AAPL in "Main": unit cost: invalid price -0.01: must not be negative`},
		{"cost too large", usd, dec("1"), dec("1000000000000000000"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidPrice, "18 digits"},
		{"no date", usd, dec("1"), dec("1"), time.Time{}, domain.ErrInvalidDate, "a date is required"},
		{"date too early", usd, dec("1"), dec("1"), time.Date(1850, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidDate, "1850-01-02"},
		{"nil security", nil, dec("1"), dec("1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalid, "invalid security: none given"},
		{"zero security", &domain.Security{}, dec("1"), dec("1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalid, "invalid security: none given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPortfolio(t, "Main", "USD")
			buy(t, p, usd, "5", "100", "2023-06-01")
			before := p.State()

			lot, err := p.Buy(tt.sec, tt.qty, tt.cost, tt.on)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.Contains(t, err.Error(), tt.contains)
				assert.Equal(t, domain.Investment{}, lot)
				assert.Equal(t, before, p.State(), "a refused buy must leave the portfolio unchanged")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uuid.Version(7), lot.ID().Version())
			assert.Equal(t, tt.sec.ID(), lot.SecurityID())
			requireDec(t, tt.qty.String(), lot.Quantity())
			requireDec(t, tt.cost.String(), lot.UnitCost())
			requireDec(t, tt.qty.Mul(tt.cost).String(), lot.Cost())
			assert.Equal(t, domain.Day(tt.on), lot.AcquiredOn())

			got, ok := p.Investment(lot.ID())
			require.True(t, ok)
			assert.Equal(t, lot, got)
			assert.Len(t, p.Investments(), 2)
		})
	}
}

func TestBuyKeepsFIFOOrder(t *testing.T) {
	p := newPortfolio(t, "Main", "USD")
	sec := newSecurity(t, "AAPL", "USD")
	c := buy(t, p, sec, "1", "1", "2024-03-01")
	a := buy(t, p, sec, "1", "1", "2024-01-01") // back-dated
	d := buy(t, p, sec, "1", "1", "2024-03-01") // same day as c, later
	b := buy(t, p, sec, "1", "1", "2024-02-01")
	assert.Equal(t, []uuid.UUID{a.ID(), b.ID(), c.ID(), d.ID()}, ids(p.Investments()))
}

// threeLots buys 10 @ 100 on Jan 10, 20 @ 110 on Feb 10 and 30 @ 120.5 on
// Mar 10, in a shuffled order, plus an unrelated lot of another security.
func threeLots(t *testing.T) (p *domain.Portfolio, sec, other *domain.Security, jan, feb, mar, oth domain.Investment) {
	p = newPortfolio(t, "Main", "USD")
	sec = newSecurity(t, "AAPL", "USD")
	other = newSecurity(t, "MSFT", "USD")
	feb = buy(t, p, sec, "20", "110", "2024-02-10")
	oth = buy(t, p, other, "7", "300", "2024-01-01")
	mar = buy(t, p, sec, "30", "120.5", "2024-03-10")
	jan = buy(t, p, sec, "10", "100", "2024-01-10")
	return p, sec, other, jan, feb, mar, oth
}

func TestSellFIFOAcrossLots(t *testing.T) {
	p, sec, _, jan, feb, mar, oth := threeLots(t)

	// 10 from January, 20 from February, 15 of March's 30.
	sale, err := p.Sell(sec, dec("45"), date(t, "2024-04-01"))
	require.NoError(t, err)

	requireDec(t, "45", sale.Quantity)
	requireDec(t, "5007.5", sale.Cost) // 10×100 + 20×110 + 15×120.5
	require.Len(t, sale.Consumed, 3)
	want := []domain.LotSale{
		{InvestmentID: jan.ID(), Quantity: dec("10"), UnitCost: dec("100"), Closed: true},
		{InvestmentID: feb.ID(), Quantity: dec("20"), UnitCost: dec("110"), Closed: true},
		{InvestmentID: mar.ID(), Quantity: dec("15"), UnitCost: dec("120.5"), Closed: false},
	}
	for i, w := range want {
		got := sale.Consumed[i]
		assert.Equal(t, w.InvestmentID, got.InvestmentID, i)
		requireDec(t, w.Quantity.String(), got.Quantity, i)
		requireDec(t, w.UnitCost.String(), got.UnitCost, i)
		assert.Equal(t, w.Closed, got.Closed, i)
	}
	requireDec(t, "1765", sale.RealizedGain(dec("150.5"))) // 45×150.5 − 5007.5 = 6772.5 − 5007.5
	requireDec(t, "-5007.5", sale.RealizedGain(decimal.Zero))

	// The used-up lots are gone; March keeps its id with 15 left; the
	// other security is untouched.
	assert.Equal(t, []uuid.UUID{oth.ID(), mar.ID()}, ids(p.Investments()))
	_, ok := p.Investment(jan.ID())
	assert.False(t, ok)
	_, ok = p.Investment(feb.ID())
	assert.False(t, ok)
	left, ok := p.Investment(mar.ID())
	require.True(t, ok)
	requireDec(t, "15", left.Quantity())
	requireDec(t, "120.5", left.UnitCost())
	assert.Equal(t, mar.AcquiredOn(), left.AcquiredOn())
	o, _ := p.Investment(oth.ID())
	assert.Equal(t, oth, o)
}

func TestSellFractionalIsExact(t *testing.T) {
	p := newPortfolio(t, "Main", "USD")
	sec := newSecurity(t, "BTC", "USD")
	a := buy(t, p, sec, "0.1", "0.3", "2024-01-01")
	b := buy(t, p, sec, "0.2", "0.7", "2024-01-02")

	sale, err := p.Sell(sec, dec("0.3"), date(t, "2024-01-03"))
	require.NoError(t, err)
	requireDec(t, "0.17", sale.Cost) // 0.1×0.3 + 0.2×0.7, no float rounding
	assert.Empty(t, p.Investments())
	assert.True(t, sale.Consumed[0].Closed && sale.Consumed[1].Closed)
	assert.Equal(t, a.ID(), sale.Consumed[0].InvestmentID)
	assert.Equal(t, b.ID(), sale.Consumed[1].InvestmentID)
}

func TestSellExactlyAll(t *testing.T) {
	p, sec, _, _, _, _, oth := threeLots(t)

	sale, err := p.Sell(sec, dec("60"), date(t, "2024-03-10"))
	require.NoError(t, err)
	requireDec(t, "60", sale.Quantity)
	requireDec(t, "6815", sale.Cost) // 1000 + 2200 + 3615
	require.Len(t, sale.Consumed, 3)
	for _, c := range sale.Consumed {
		assert.True(t, c.Closed)
	}
	assert.Equal(t, []uuid.UUID{oth.ID()}, ids(p.Investments()))
}

func TestSellRefusedLeavesPortfolioUnchanged(t *testing.T) {
	tests := []struct {
		name    string
		sec     func(sec, other *domain.Security) *domain.Security
		qty     decimal.Decimal
		on      string
		want    error
		message string
	}{
		{"more than held", func(s, _ *domain.Security) *domain.Security { return s }, dec("60.0000000001"), "2024-12-31",
			domain.ErrInsufficientQuantity, `sell AAPL from "Main": insufficient quantity: held 60 on 2024-12-31, asked to sell 60.0000000001`},
		{"more than held on that day", func(s, _ *domain.Security) *domain.Security { return s }, dec("31"), "2024-03-09",
			domain.ErrInsufficientQuantity, `sell AAPL from "Main": insufficient quantity: held 30 on 2024-03-09, asked to sell 31`},
		{"before any lot", func(s, _ *domain.Security) *domain.Security { return s }, dec("1"), "2024-01-09",
			domain.ErrInsufficientQuantity, "held 0 on 2024-01-09"},
		{"security not held", func(_, _ *domain.Security) *domain.Security { return newSecurity(t, "NVDA", "USD") }, dec("1"), "2024-12-31",
			domain.ErrInsufficientQuantity, "held 0"},
		{"zero quantity", func(s, _ *domain.Security) *domain.Security { return s }, decimal.Zero, "2024-12-31",
			domain.ErrInvalidQuantity, "must be greater than 0"},
		{"negative quantity", func(s, _ *domain.Security) *domain.Security { return s }, dec("-5"), "2024-12-31",
			domain.ErrInvalidQuantity, "must be greater than 0"},
		{"too precise", func(s, _ *domain.Security) *domain.Security { return s }, dec("0.00000000001"), "2024-12-31",
			domain.ErrInvalidQuantity, "at most 18 digits"},
		{"nil security", func(_, _ *domain.Security) *domain.Security { return nil }, dec("1"), "2024-12-31",
			domain.ErrInvalid, "invalid security: none given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, sec, other, _, _, _, _ := threeLots(t)
			before := p.State()

			sale, err := p.Sell(tt.sec(sec, other), tt.qty, date(t, tt.on))
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.message)
			assert.Equal(t, domain.Sale{}, sale)
			assert.Equal(t, before, p.State())
		})
	}

	t.Run("zero date", func(t *testing.T) {
		p, sec, _, _, _, _, _ := threeLots(t)
		before := p.State()
		_, err := p.Sell(sec, dec("1"), time.Time{})
		require.ErrorIs(t, err, domain.ErrInvalidDate)
		assert.Equal(t, before, p.State())
	})
}

func TestSellIgnoresLotsAcquiredAfterTheSale(t *testing.T) {
	p, sec, _, jan, feb, mar, _ := threeLots(t)

	// On Feb 10 the January and February lots were held, March's not.
	sale, err := p.Sell(sec, dec("25"), date(t, "2024-02-10"))
	require.NoError(t, err)
	require.Len(t, sale.Consumed, 2)
	assert.Equal(t, jan.ID(), sale.Consumed[0].InvestmentID)
	assert.Equal(t, feb.ID(), sale.Consumed[1].InvestmentID)
	requireDec(t, "2650", sale.Cost) // 10×100 + 15×110

	left, _ := p.Investment(feb.ID())
	requireDec(t, "5", left.Quantity())
	untouched, _ := p.Investment(mar.ID())
	assert.Equal(t, mar, untouched)

	// A sale dated by an instant late on Feb 10 in Tokyo is still Feb 10.
	late := time.Date(2024, 2, 10, 23, 0, 0, 0, time.FixedZone("JST", 9*3600))
	_, err = p.Sell(sec, dec("6"), late)
	require.ErrorIs(t, err, domain.ErrInsufficientQuantity)
	assert.Contains(t, err.Error(), "held 5 on 2024-02-10")
}

func TestSellSameDayLotsInCreationOrder(t *testing.T) {
	p := newPortfolio(t, "Main", "USD")
	sec := newSecurity(t, "AAPL", "USD")
	first := buy(t, p, sec, "1", "10", "2024-05-01")
	second := buy(t, p, sec, "1", "20", "2024-05-01")
	third := buy(t, p, sec, "1", "30", "2024-05-01")

	sale, err := p.Sell(sec, dec("1.5"), date(t, "2024-05-01"))
	require.NoError(t, err)
	require.Len(t, sale.Consumed, 2)
	assert.Equal(t, first.ID(), sale.Consumed[0].InvestmentID)
	assert.Equal(t, second.ID(), sale.Consumed[1].InvestmentID)
	requireDec(t, "20", sale.Cost) // 1×10 + 0.5×20
	assert.Equal(t, []uuid.UUID{second.ID(), third.ID()}, ids(p.Investments()))
}

func TestRemoveInvestment(t *testing.T) {
	p, _, _, jan, feb, mar, oth := threeLots(t)

	require.NoError(t, p.RemoveInvestment(feb.ID()))
	assert.Equal(t, []uuid.UUID{oth.ID(), jan.ID(), mar.ID()}, ids(p.Investments()))

	before := p.State()
	err := p.RemoveInvestment(feb.ID())
	require.ErrorIs(t, err, domain.ErrNotFound)
	assert.EqualError(t, err, `remove investment `+feb.ID().String()+` from "Main": not found`)
	assert.Equal(t, before, p.State())

	require.ErrorIs(t, p.RemoveInvestment(uuid.Nil), domain.ErrNotFound)
}

func TestInvestmentsIsACopy(t *testing.T) {
	p, _, _, jan, _, _, _ := threeLots(t)
	before := p.State()

	lots := p.Investments()
	lots[0] = domain.Investment{}
	_ = append(lots[:1], lots[2:]...)
	assert.Equal(t, before, p.State())

	_, ok := p.Investment(uuid.New())
	assert.False(t, ok)
	got, ok := p.Investment(jan.ID())
	require.True(t, ok)
	assert.Equal(t, jan, got)
}

func TestLotsWalksInFIFOOrder(t *testing.T) {
	p, _, _, _, _, _, _ := threeLots(t)
	var walked []domain.Investment
	for l := range p.Lots() {
		walked = append(walked, l)
	}
	assert.Equal(t, p.Investments(), walked)
	assert.Equal(t, 4, p.NumInvestments())

	for range p.Lots() {
		break // stopping early is allowed
	}
	empty, err := domain.NewPortfolio("Empty", "USD")
	require.NoError(t, err)
	for range empty.Lots() {
		t.Fatal("a new portfolio has no lots")
	}
	assert.Zero(t, empty.NumInvestments())
}

func TestCloneSharesNothing(t *testing.T) {
	p, sec, _, jan, _, _, _ := threeLots(t)
	before := p.State()
	c := p.Clone()
	assert.Equal(t, before, c.State())
	assert.Equal(t, p.Changes(), c.Changes())

	// Removing a lot shifts the lots after it within their array: the
	// original must not see it.
	require.NoError(t, c.RemoveInvestment(jan.ID()))
	_, err := c.Sell(sec, dec("5"), date(t, "2024-04-01"))
	require.NoError(t, err)
	require.NoError(t, c.Rename("Clone"))
	assert.Equal(t, before, p.State(), "the original is unchanged")

	after := c.State()
	require.NoError(t, p.RemoveInvestment(jan.ID()))
	_, err = p.Buy(sec, dec("1"), dec("1"), date(t, "2024-05-01"))
	require.NoError(t, err)
	assert.Equal(t, after, c.State(), "the clone is unchanged")

	s := newSecurity(t, "AAPL", "USD")
	require.NoError(t, s.SetPrice(dec("5"), date(t, "2024-01-02")))
	sc := s.Clone()
	require.NoError(t, sc.Rename("Other"))
	require.NoError(t, sc.SetPrice(dec("6"), date(t, "2024-01-03")))
	assert.Equal(t, "AAPL Inc.", s.Name())
	price, _, _ := s.LastPrice()
	requireDec(t, "5", price)
}

// TestTradesBeforeTheLatestSaleAreRefused: a portfolio keeps the lots it
// holds, not its trades, so a trade dated before its latest sale (a buy
// would have changed what that sale took first in, first out; a sale
// would need shares it may have taken) is refused and changes nothing. Trades on the day of the latest sale, or later, are
// recorded.
func TestTradesBeforeTheLatestSaleAreRefused(t *testing.T) {
	p := newPortfolio(t, "Main", "USD")
	sec := newSecurity(t, "AAPL", "USD")
	other := newSecurity(t, "MSFT", "USD")
	_, ok := p.LastSale()
	assert.False(t, ok, "a new portfolio has no sale")

	buy(t, p, sec, "10", "100", "2024-01-01")
	buy(t, p, sec, "10", "200", "2024-03-01")
	buy(t, p, other, "5", "50", "2024-01-01")
	// Back-dated buys before any sale are fine: nothing was sold yet.
	buy(t, p, other, "5", "40", "2023-12-01")
	_, err := p.Sell(sec, dec("10"), date(t, "2024-06-01"))
	require.NoError(t, err)
	last, ok := p.LastSale()
	require.True(t, ok)
	assert.Equal(t, date(t, "2024-06-01"), last)

	before, changes := p.State(), p.Changes()
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		// 10 shares were held on Feb 1, but the June sale took them.
		{"sale", func() error { _, err := p.Sell(sec, dec("10"), date(t, "2024-02-01")); return err },
			`sell AAPL from "Main": trade out of date order: the latest sale from this portfolio is dated 2024-06-01, and a sale dated 2024-02-01, before it, would need shares that sale may have taken first in, first out; record trades in date order`},
		// FIFO would have sold this lot in June, and kept the March one.
		{"buy", func() error { _, err := p.Buy(sec, dec("10"), dec("50"), date(t, "2024-01-15")); return err },
			`buy AAPL in "Main": trade out of date order: the latest sale from this portfolio is dated 2024-06-01, and a buy dated 2024-01-15, before it, would have changed what that sale took first in, first out;`},
		// The rule is the portfolio's, whatever the security.
		{"buy of another security", func() error { _, err := p.Buy(other, dec("1"), dec("50"), date(t, "2024-05-31")); return err },
			"a buy dated 2024-05-31, before it"},
		{"sale of another security", func() error { _, err := p.Sell(other, dec("1"), date(t, "2024-05-31")); return err },
			"a sale dated 2024-05-31, before it"},
	} {
		err := tc.do()
		require.ErrorIs(t, err, domain.ErrOutOfOrder, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		assert.Equal(t, before, p.State(), tc.name)
		assert.Equal(t, changes, p.Changes(), tc.name)
	}

	// The day of the latest sale is in order: a buy on it comes after the
	// sale that day, as lots of one day go in the order recorded.
	lot := buy(t, p, sec, "1", "300", "2024-06-01")
	sale, err := p.Sell(sec, dec("10"), date(t, "2024-06-01"))
	require.NoError(t, err)
	require.Len(t, sale.Consumed, 1)
	assert.NotEqual(t, lot.ID(), sale.Consumed[0].InvestmentID, "the March lot goes first")
	// An earlier sale's day does not move the latest back.
	_, err = p.Sell(other, dec("1"), date(t, "2024-07-01"))
	require.NoError(t, err)
	last, _ = p.LastSale()
	assert.Equal(t, date(t, "2024-07-01"), last)
	_, err = p.Sell(other, dec("1"), date(t, "2024-06-30"))
	require.ErrorIs(t, err, domain.ErrOutOfOrder)
}

// Lots walks the lots as they are; a change to them during the walk panics
// at the walk's next step rather than yield what the portfolio never held
// (a sale that closes lots moves the others in place). A rename changes
// no lot, and the walk goes on.
func TestLotsPanicsWhenTheLotsChangeDuringTheWalk(t *testing.T) {
	p, sec, _, jan, feb, mar, oth := threeLots(t)
	var walked []uuid.UUID
	for l := range p.Lots() {
		walked = append(walked, l.ID())
		require.NoError(t, p.Rename("Renamed while walked"))
	}
	assert.Equal(t, ids(p.Investments()), walked)
	assert.ElementsMatch(t, []uuid.UUID{jan.ID(), feb.ID(), mar.ID(), oth.ID()}, walked)

	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"sell", func() { _, err := p.Sell(sec, dec("1"), date(t, "2024-04-01")); require.NoError(t, err) }},
		{"buy", func() { _, err := p.Buy(sec, dec("1"), dec("1"), date(t, "2024-04-01")); require.NoError(t, err) }},
		{"remove", func() { require.NoError(t, p.RemoveInvestment(oth.ID())) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := 0
			assert.PanicsWithValue(t, `domain: portfolio "Renamed while walked" changed while its Lots were walked; walk Investments to change it`, func() {
				for range p.Lots() {
					steps++
					if steps == 1 {
						tc.change()
					}
				}
			})
			assert.Equal(t, 1, steps, "no lot is yielded after the change")
		})
	}
	// Investments is a copy: changing the lots while walking it is fine.
	for _, l := range p.Investments() {
		if l.SecurityID() == sec.ID() {
			_, err := p.Sell(sec, dec("1"), date(t, "2024-04-01"))
			require.NoError(t, err)
		}
	}
}

// A portfolio holds at most MaxLots lots: the next Buy is refused and
// changes nothing, and a sale that closes a lot makes room again.
func TestBuyStopsAtMaxLots(t *testing.T) {
	p := newPortfolio(t, "Busy", "USD")
	sec := newSecurity(t, "AAPL", "USD")
	on := date(t, "2024-01-02")
	for range domain.MaxLots {
		_, err := p.Buy(sec, dec("1"), dec("10"), on)
		require.NoError(t, err)
	}
	changes := p.Changes()
	_, err := p.Buy(sec, dec("1"), dec("10"), on)
	require.ErrorIs(t, err, domain.ErrInvalid)
	assert.ErrorContains(t, err, `buy AAPL in "Busy": invalid buy: the portfolio holds 10000 lots, the most one may`)
	assert.Equal(t, changes, p.Changes(), "nothing changed")
	assert.Len(t, p.Investments(), domain.MaxLots)

	_, err = p.Sell(sec, dec("1"), on)
	require.NoError(t, err)
	_, err = p.Buy(sec, dec("1"), dec("10"), on)
	require.NoError(t, err, "the sale closed a lot")
	assert.Len(t, p.Investments(), domain.MaxLots)
}
