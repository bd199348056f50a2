package domain

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// WeightPlaces is the number of decimal places weights are rounded to
// (half away from zero). A weight is the one quotient in a valuation; every
// other figure is exact. Because each weight is rounded on its own, the
// weights of a valuation may add up to 1 plus or minus a few units in the
// last place.
const WeightPlaces = 10

// Holding is the position in one security: all its lots added up, and its
// value if the security has a price.
type Holding struct {
	// SecurityID is the id of the security held.
	SecurityID uuid.UUID
	// Quantity is the number of shares held, over all lots.
	Quantity decimal.Decimal
	// CostBasis is the sum of the lots' costs.
	CostBasis decimal.Decimal

	// Priced is true if the security has a price. Price, PriceDate,
	// MarketValue and UnrealizedGain are set only then, and are zero
	// otherwise.
	Priced bool
	// Price is the security's last price.
	Price decimal.Decimal
	// PriceDate is the day Price applies to.
	PriceDate time.Time
	// MarketValue is Quantity × Price.
	MarketValue decimal.Decimal
	// UnrealizedGain is MarketValue − CostBasis, negative for a loss.
	UnrealizedGain decimal.Decimal

	// Weight is MarketValue divided by the total market value of the
	// priced holdings, a fraction in [0, 1] rounded to WeightPlaces. It is
	// zero when the holding is unpriced or the total is zero.
	Weight decimal.Decimal
}

// Valuation is a portfolio valued at the securities' last prices.
type Valuation struct {
	// Holdings has one entry per security held, ordered by symbol, then
	// by security id.
	Holdings []Holding
	// CostBasis is the total cost basis of all holdings, priced or not.
	CostBasis decimal.Decimal
	// MarketValue is the total market value of the priced holdings.
	MarketValue decimal.Decimal
	// UnrealizedGain is the total unrealized gain of the priced holdings.
	// It is not MarketValue − CostBasis when some holdings are unpriced.
	UnrealizedGain decimal.Decimal
	// Unpriced is the number of holdings whose security has no price, so
	// that a caller can warn that the totals leave them out.
	Unpriced int
}

// Holdings returns the quantity and cost basis held in each security, one
// Holding per security, ordered by security id. Prices are not known to the
// portfolio, so every Holding has Priced false; see Value.
func (p *Portfolio) Holdings() []Holding {
	var hs []Holding
	index := make(map[uuid.UUID]int)
	for _, l := range p.lots {
		i, ok := index[l.securityID]
		if !ok {
			i = len(hs)
			index[l.securityID] = i
			hs = append(hs, Holding{
				SecurityID:     l.securityID,
				Quantity:       decimal.Zero,
				CostBasis:      decimal.Zero,
				Price:          decimal.Zero,
				MarketValue:    decimal.Zero,
				UnrealizedGain: decimal.Zero,
				Weight:         decimal.Zero,
			})
		}
		hs[i].Quantity = hs[i].Quantity.Add(l.quantity)
		hs[i].CostBasis = hs[i].CostBasis.Add(l.Cost())
	}
	slices.SortFunc(hs, func(a, b Holding) int { return bytes.Compare(a.SecurityID[:], b.SecurityID[:]) })
	return hs
}

// Value values the portfolio at the last prices of its securities, which
// securities maps by id. It may hold other securities too.
//
// It returns an error wrapping ErrNotFound if a security held is missing
// from securities (or nil), ErrInvalid if one is filed under another id than
// its own, and ErrCurrencyMismatch if one is priced in another currency than
// the portfolio's; adding up amounts in different currencies would give a
// meaningless total, so no partial valuation is returned.
func (p *Portfolio) Value(securities map[uuid.UUID]*Security) (Valuation, error) {
	hs := p.Holdings()
	symbols := make(map[uuid.UUID]string, len(hs))
	v := Valuation{
		Holdings:       hs,
		CostBasis:      decimal.Zero,
		MarketValue:    decimal.Zero,
		UnrealizedGain: decimal.Zero,
	}
	for i := range hs {
		h := &hs[i]
		sec := securities[h.SecurityID]
		if sec == nil {
			return Valuation{}, fmt.Errorf("value %q: security %s: %w", p.name, h.SecurityID, ErrNotFound)
		}
		if sec.id != h.SecurityID {
			return Valuation{}, fmt.Errorf("value %q: %w: security %s is filed under id %s", p.name, ErrInvalid, sec.id, h.SecurityID)
		}
		if sec.currency != p.currency {
			return Valuation{}, fmt.Errorf("value %q: %w: %s is priced in %s but the portfolio is in %s",
				p.name, ErrCurrencyMismatch, sec.symbol, sec.currency, p.currency)
		}
		symbols[h.SecurityID] = sec.symbol
		v.CostBasis = v.CostBasis.Add(h.CostBasis)
		price, on, ok := sec.LastPrice()
		if !ok {
			v.Unpriced++
			continue
		}
		h.Priced, h.Price, h.PriceDate = true, price, on
		h.MarketValue = h.Quantity.Mul(price)
		h.UnrealizedGain = h.MarketValue.Sub(h.CostBasis)
		v.MarketValue = v.MarketValue.Add(h.MarketValue)
		v.UnrealizedGain = v.UnrealizedGain.Add(h.UnrealizedGain)
	}
	if v.MarketValue.Sign() > 0 {
		for i := range hs {
			if hs[i].Priced {
				hs[i].Weight = hs[i].MarketValue.DivRound(v.MarketValue, WeightPlaces)
			}
		}
	}
	slices.SortFunc(hs, func(a, b Holding) int {
		if c := cmp.Compare(symbols[a.SecurityID], symbols[b.SecurityID]); c != 0 {
			return c
		}
		return bytes.Compare(a.SecurityID[:], b.SecurityID[:])
	})
	return v, nil
}
