package domain_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
)

func byID(secs ...*domain.Security) map[uuid.UUID]*domain.Security {
	m := make(map[uuid.UUID]*domain.Security, len(secs))
	for _, s := range secs {
		m[s.ID()] = s
	}
	return m
}

func TestHoldingsAndValue(t *testing.T) {
	// Created in reverse symbol order so that id order (Holdings) and
	// symbol order (Value) differ.
	ccc := newSecurity(t, "CCC", "USD")
	bbb := newSecurity(t, "BBB", "USD")
	aaa := newSecurity(t, "AAA", "USD")
	unheld := newSecurity(t, "ZZZ", "USD")
	require.NoError(t, aaa.SetPrice(dec("3.125"), date(t, "2024-06-28")))
	require.NoError(t, bbb.SetPrice(dec("140"), date(t, "2024-06-27")))
	require.NoError(t, unheld.SetPrice(dec("1"), date(t, "2024-06-28")))

	p := newPortfolio(t, "Main", "USD")
	buy(t, p, aaa, "10", "1.5", "2024-01-02")
	buy(t, p, bbb, "2.5", "100.1", "2024-01-03")
	buy(t, p, ccc, "1", "7", "2024-01-04")
	buy(t, p, aaa, "6", "2.25", "2024-02-01")

	hs := p.Holdings()
	require.Len(t, hs, 3)
	assert.Equal(t, []uuid.UUID{ccc.ID(), bbb.ID(), aaa.ID()}, []uuid.UUID{hs[0].SecurityID, hs[1].SecurityID, hs[2].SecurityID})
	requireDec(t, "1", hs[0].Quantity)
	requireDec(t, "7", hs[0].CostBasis)
	requireDec(t, "2.5", hs[1].Quantity)
	requireDec(t, "250.25", hs[1].CostBasis)
	requireDec(t, "16", hs[2].Quantity)
	requireDec(t, "28.5", hs[2].CostBasis) // 10×1.5 + 6×2.25
	for _, h := range hs {
		assert.False(t, h.Priced)
		assert.True(t, h.MarketValue.IsZero())
		assert.True(t, h.Weight.IsZero())
	}

	v, err := p.Value(byID(aaa, bbb, ccc, unheld))
	require.NoError(t, err)
	require.Len(t, v.Holdings, 3)
	a, b, c := v.Holdings[0], v.Holdings[1], v.Holdings[2]
	assert.Equal(t, []uuid.UUID{aaa.ID(), bbb.ID(), ccc.ID()}, []uuid.UUID{a.SecurityID, b.SecurityID, c.SecurityID})

	assert.True(t, a.Priced)
	requireDec(t, "16", a.Quantity)
	requireDec(t, "28.5", a.CostBasis)
	requireDec(t, "3.125", a.Price)
	assert.Equal(t, date(t, "2024-06-28"), a.PriceDate)
	requireDec(t, "50", a.MarketValue)
	requireDec(t, "21.5", a.UnrealizedGain)
	requireDec(t, "0.125", a.Weight)

	assert.True(t, b.Priced)
	requireDec(t, "140", b.Price)
	assert.Equal(t, date(t, "2024-06-27"), b.PriceDate)
	requireDec(t, "350", b.MarketValue)
	requireDec(t, "99.75", b.UnrealizedGain)
	requireDec(t, "0.875", b.Weight)

	assert.False(t, c.Priced)
	requireDec(t, "1", c.Quantity)
	requireDec(t, "7", c.CostBasis)
	assert.True(t, c.Price.IsZero())
	assert.True(t, c.PriceDate.IsZero())
	assert.True(t, c.MarketValue.IsZero())
	assert.True(t, c.UnrealizedGain.IsZero())
	assert.True(t, c.Weight.IsZero())

	requireDec(t, "285.75", v.CostBasis) // priced and unpriced
	requireDec(t, "400", v.MarketValue)  // priced only
	requireDec(t, "121.25", v.UnrealizedGain)
	assert.Equal(t, 1, v.Unpriced)
	requireDec(t, "1", a.Weight.Add(b.Weight).Add(c.Weight))
}

func TestValueWeightsAreRounded(t *testing.T) {
	p := newPortfolio(t, "Main", "EUR")
	m := map[uuid.UUID]*domain.Security{}
	for _, sym := range []string{"A", "B", "C"} {
		s := newSecurity(t, sym, "EUR")
		require.NoError(t, s.SetPrice(dec("1"), date(t, "2024-01-02")))
		buy(t, p, s, "1", "1", "2024-01-01")
		m[s.ID()] = s
	}
	v, err := p.Value(m)
	require.NoError(t, err)
	sum := decimal.Zero
	for _, h := range v.Holdings {
		requireDec(t, "0.3333333333", h.Weight)
		sum = sum.Add(h.Weight)
	}
	// Rounded each on its own to WeightPlaces, the weights miss 1 by at
	// most a few units in the last place.
	assert.True(t, sum.Sub(decimal.NewFromInt(1)).Abs().LessThanOrEqual(decimal.New(3, -domain.WeightPlaces)), sum)

	// Rounded, not cut: two thirds end in 7.
	q := newPortfolio(t, "Thirds", "EUR")
	one, two := newSecurity(t, "ONE", "EUR"), newSecurity(t, "TWO", "EUR")
	for _, s := range []*domain.Security{one, two} {
		require.NoError(t, s.SetPrice(dec("1"), date(t, "2024-01-02")))
	}
	buy(t, q, one, "1", "1", "2024-01-01")
	buy(t, q, two, "2", "1", "2024-01-01")
	v, err = q.Value(byID(one, two))
	require.NoError(t, err)
	weights := map[uuid.UUID]decimal.Decimal{}
	for _, h := range v.Holdings {
		weights[h.SecurityID] = h.Weight
	}
	requireDec(t, "0.3333333333", weights[one.ID()])
	requireDec(t, "0.6666666667", weights[two.ID()])
}

func TestValueZeroMarketValue(t *testing.T) {
	p := newPortfolio(t, "Main", "USD")
	s := newSecurity(t, "DEAD", "USD")
	require.NoError(t, s.SetPrice(decimal.Zero, date(t, "2024-01-02")))
	buy(t, p, s, "100", "5", "2024-01-01")

	v, err := p.Value(byID(s))
	require.NoError(t, err, "a zero total must not divide by zero")
	require.Len(t, v.Holdings, 1)
	assert.True(t, v.Holdings[0].Priced)
	assert.True(t, v.Holdings[0].Weight.IsZero())
	requireDec(t, "-500", v.UnrealizedGain)
	assert.Equal(t, 0, v.Unpriced)
}

func TestValueEmptyPortfolio(t *testing.T) {
	v, err := newPortfolio(t, "Main", "USD").Value(nil)
	require.NoError(t, err)
	assert.Empty(t, v.Holdings)
	assert.True(t, v.CostBasis.IsZero())
	assert.True(t, v.MarketValue.IsZero())
	assert.True(t, v.UnrealizedGain.IsZero())
	assert.Equal(t, 0, v.Unpriced)
}

func TestValueErrors(t *testing.T) {
	aaa := newSecurity(t, "AAA", "USD")
	other := newSecurity(t, "OTH", "USD")
	eurTwin, err := domain.RestoreSecurity(domain.SecurityState{ID: aaa.ID(), Symbol: "AAA", Name: "AAA", Currency: "EUR"})
	require.NoError(t, err)

	tests := []struct {
		name string
		secs map[uuid.UUID]*domain.Security
		want error
	}{
		{"missing", byID(other), domain.ErrNotFound},
		{"nil map", nil, domain.ErrNotFound},
		{"nil entry", map[uuid.UUID]*domain.Security{aaa.ID(): nil}, domain.ErrNotFound},
		{"filed under another id", map[uuid.UUID]*domain.Security{aaa.ID(): other}, domain.ErrInvalid},
		// Buy refuses this, but storage might hold it.
		{"other currency", byID(eurTwin), domain.ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPortfolio(t, "Main", "USD")
			buy(t, p, aaa, "1", "1", "2024-01-01")
			v, err := p.Value(tt.secs)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), `value "Main": `)
			assert.Empty(t, v.Holdings)
		})
	}
}
