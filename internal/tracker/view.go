package tracker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
)

// The views are what the tracker returns; their JSON form is the app's
// --json output and the HTTP API's bodies. Field names are part of the
// documented interface: add fields, do not rename them. Decimals are JSON
// strings without insignificant trailing zeros ("12.5"), dates are
// "YYYY-MM-DD", ids are UUIDs.

// Date is a calendar day, "YYYY-MM-DD" in JSON.
type Date struct{ time.Time }

// NewDate returns the day of t.
func NewDate(t time.Time) Date { return Date{domain.Day(t)} }

func (d Date) String() string { return d.Format(time.DateOnly) }

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "YYYY-MM-DD" with domain.ParseDate's rules.
func (d *Date) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: a date is a string like \"2024-03-01\"", domain.ErrInvalidDate)
	}
	t, err := domain.ParseDate(s)
	if err != nil {
		return err
	}
	*d = Date{t}
	return nil
}

// SecurityView is a security.
type SecurityView struct {
	ID        uuid.UUID        `json:"id"`
	Symbol    string           `json:"symbol"`
	Name      string           `json:"name"`
	Currency  string           `json:"currency"`
	LastPrice *decimal.Decimal `json:"last_price"` // null: no price yet
	PriceDate *Date            `json:"price_date"`
}

func securityView(s *domain.Security) SecurityView {
	v := SecurityView{ID: s.ID(), Symbol: s.Symbol(), Name: s.Name(), Currency: s.Currency()}
	if price, on, ok := s.LastPrice(); ok {
		d := NewDate(on)
		v.LastPrice, v.PriceDate = &price, &d
	}
	return v
}

// LotView is one lot of a portfolio.
type LotView struct {
	ID         uuid.UUID       `json:"id"`
	SecurityID uuid.UUID       `json:"security_id"`
	Symbol     string          `json:"symbol"`
	Quantity   decimal.Decimal `json:"quantity"`
	UnitCost   decimal.Decimal `json:"unit_cost"`
	Cost       decimal.Decimal `json:"cost"`
	AcquiredOn Date            `json:"acquired_on"`
}

// PortfolioView is a portfolio with its lots in FIFO order.
type PortfolioView struct {
	ID       uuid.UUID `json:"id"`
	Name     string    `json:"name"`
	Currency string    `json:"currency"`
	Version  int64     `json:"version"`
	Lots     []LotView `json:"lots"`
}

func portfolioView(p *domain.Portfolio, secs map[uuid.UUID]*domain.Security) PortfolioView {
	v := PortfolioView{ID: p.ID(), Name: p.Name(), Currency: p.Currency(), Version: p.Version(), Lots: []LotView{}}
	for l := range p.Lots() {
		lv := LotView{
			ID: l.ID(), SecurityID: l.SecurityID(),
			Quantity: l.Quantity(), UnitCost: l.UnitCost(), Cost: l.Cost(),
			AcquiredOn: NewDate(l.AcquiredOn()),
		}
		if s := secs[l.SecurityID()]; s != nil {
			lv.Symbol = s.Symbol()
		}
		v.Lots = append(v.Lots, lv)
	}
	return v
}

// PortfolioSummary is a line of the portfolio list.
type PortfolioSummary struct {
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Currency  string          `json:"currency"`
	Version   int64           `json:"version"`
	Lots      int             `json:"lots"`
	CostBasis decimal.Decimal `json:"cost_basis"`
}

func portfolioSummary(p *domain.Portfolio) PortfolioSummary {
	cost := decimal.Zero
	for l := range p.Lots() {
		cost = cost.Add(l.Cost())
	}
	return PortfolioSummary{ID: p.ID(), Name: p.Name(), Currency: p.Currency(), Version: p.Version(), Lots: p.NumInvestments(), CostBasis: cost}
}

// TradeView is the outcome of one trade.
type TradeView struct {
	Portfolio string          `json:"portfolio"`
	Side      Side            `json:"side"`
	Symbol    string          `json:"symbol"`
	Quantity  decimal.Decimal `json:"quantity"`
	Price     decimal.Decimal `json:"price"`
	Date      Date            `json:"date"`
	// LotID is the lot a buy created.
	LotID *uuid.UUID `json:"lot_id,omitempty"`
	// CostBasis (FIFO) and RealizedGain of a sell.
	CostBasis    *decimal.Decimal `json:"cost_basis,omitempty"`
	RealizedGain *decimal.Decimal `json:"realized_gain,omitempty"`
	// Version is the portfolio's version after the trade.
	Version int64 `json:"version"`
}

// HoldingView is the position in one security.
type HoldingView struct {
	Symbol    string          `json:"symbol"`
	Name      string          `json:"name"`
	Quantity  decimal.Decimal `json:"quantity"`
	CostBasis decimal.Decimal `json:"cost_basis"`
	// Price to Weight are null when the security has no price.
	Price          *decimal.Decimal `json:"price"`
	PriceDate      *Date            `json:"price_date"`
	MarketValue    *decimal.Decimal `json:"market_value"`
	UnrealizedGain *decimal.Decimal `json:"unrealized_gain"`
	// Weight is the share of the priced market value, a fraction in [0, 1].
	Weight *decimal.Decimal `json:"weight"`
}

// ReportView values a portfolio.
type ReportView struct {
	ID             uuid.UUID       `json:"id"`
	Portfolio      string          `json:"portfolio"`
	Currency       string          `json:"currency"`
	Version        int64           `json:"version"`
	AsOf           Date            `json:"as_of"`
	Holdings       []HoldingView   `json:"holdings"`
	CostBasis      decimal.Decimal `json:"cost_basis"`
	MarketValue    decimal.Decimal `json:"market_value"`
	UnrealizedGain decimal.Decimal `json:"unrealized_gain"`
	// Unpriced counts holdings left out of MarketValue and UnrealizedGain.
	Unpriced int `json:"unpriced"`
}

// reportView values p. Its as_of is today in UTC, or the latest date of a
// lot or price it includes if that is later: a date may be tomorrow in
// UTC (it is today somewhere), and a report dated before what it counts
// would contradict itself.
func reportView(p *domain.Portfolio, val domain.Valuation, secs map[uuid.UUID]*domain.Security, now time.Time) ReportView {
	asOf := domain.Day(now)
	for _, lot := range p.Investments() {
		asOf = latest(asOf, lot.AcquiredOn())
	}
	for _, h := range val.Holdings {
		if h.Priced {
			asOf = latest(asOf, h.PriceDate)
		}
	}
	v := ReportView{
		ID: p.ID(), Portfolio: p.Name(), Currency: p.Currency(), Version: p.Version(), AsOf: NewDate(asOf),
		Holdings:  make([]HoldingView, 0, len(val.Holdings)),
		CostBasis: val.CostBasis, MarketValue: val.MarketValue, UnrealizedGain: val.UnrealizedGain,
		Unpriced: val.Unpriced,
	}
	for _, h := range val.Holdings {
		s := secs[h.SecurityID]
		hv := HoldingView{Symbol: s.Symbol(), Name: s.Name(), Quantity: h.Quantity, CostBasis: h.CostBasis}
		if h.Priced {
			price, mv, gain, w, d := h.Price, h.MarketValue, h.UnrealizedGain, h.Weight, NewDate(h.PriceDate)
			hv.Price, hv.MarketValue, hv.UnrealizedGain, hv.Weight, hv.PriceDate = &price, &mv, &gain, &w, &d
		}
		v.Holdings = append(v.Holdings, hv)
	}
	return v
}

func latest(a, b time.Time) time.Time {
	if b = domain.Day(b); b.After(a) {
		return b
	}
	return a
}

// sortByDate orders trades by day, keeping file order within a day; a
// trade without a date is one of today. The time of day and the time zone
// of a date do not count: a trade is of the day its date names, as
// everywhere else (domain.Day).
func sortByDate(ts []Trade, today time.Time) []Trade {
	out := slices.Clone(ts)
	day := func(t Trade) time.Time {
		if t.Date.IsZero() {
			return domain.Day(today)
		}
		return domain.Day(t.Date)
	}
	slices.SortStableFunc(out, func(a, b Trade) int { return day(a).Compare(day(b)) })
	return out
}
