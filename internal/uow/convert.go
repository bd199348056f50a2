package uow

import (
	"errors"
	"fmt"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/domain"
)

// Converters between dbgen rows and domain states: the one place the two
// shapes meet.

// lotRow is a row of the investment table as the queries that load lots
// select it: the columns a lot needs, not the timestamps, which the domain
// does not carry (a thousand portfolios' lots are ten thousand rows). sqlc
// generates one type per query for it; they are all this shape.
type lotRow interface {
	dbgen.ListInvestmentsByPortfolioRow | dbgen.ListInvestmentsByPortfolioIDsRow |
		dbgen.ListInvestmentsByPortfolioNameRow | dbgen.ListInvestmentsForPortfolioListRow
}

// lot is the shape every lotRow converts to.
type lot = dbgen.ListInvestmentsByPortfolioIDsRow

func portfolioState[R lotRow](row *dbgen.Portfolio, lots []*R) domain.PortfolioState {
	st := domain.PortfolioState{
		ID:       row.ID,
		Name:     row.Name,
		Currency: row.Currency,
		Version:  row.Version,
	}
	if row.LastSaleOn != nil {
		st.LastSaleOn = *row.LastSaleOn
	}
	if len(lots) > 0 {
		st.Investments = make([]domain.InvestmentState, len(lots))
		for i, r := range lots {
			l := lot(*r)
			st.Investments[i] = domain.InvestmentState{
				ID:         l.ID,
				SecurityID: l.SecurityID,
				Quantity:   l.Quantity,
				UnitCost:   l.UnitCost,
				AcquiredOn: l.AcquiredOn,
			}
		}
	}
	return st
}

func securityState(row *dbgen.Security) domain.SecurityState {
	return domain.SecurityState{
		ID:        row.ID,
		Symbol:    row.Symbol,
		Name:      row.Name,
		Currency:  row.Currency,
		LastPrice: row.LastPrice,
		PriceDate: row.PriceDate,
	}
}

func toInsertPortfolio(st domain.PortfolioState) dbgen.InsertPortfolioParams {
	arg := dbgen.InsertPortfolioParams{ID: st.ID, Name: st.Name, Currency: st.Currency}
	if !st.LastSaleOn.IsZero() {
		arg.LastSaleOn = &st.LastSaleOn
	}
	return arg
}

func toInsertSecurity(st domain.SecurityState) dbgen.InsertSecurityParams {
	return dbgen.InsertSecurityParams{
		ID:        st.ID,
		Symbol:    st.Symbol,
		Name:      st.Name,
		Currency:  st.Currency,
		LastPrice: st.LastPrice,
		PriceDate: st.PriceDate,
	}
}

func toInsertInvestment(portfolio domain.PortfolioState, l domain.InvestmentState) dbgen.InsertInvestmentParams {
	return dbgen.InsertInvestmentParams{
		ID:          l.ID,
		PortfolioID: portfolio.ID,
		SecurityID:  l.SecurityID,
		Quantity:    l.Quantity,
		UnitCost:    l.UnitCost,
		AcquiredOn:  l.AcquiredOn,
	}
}

// ErrCorruptRow is returned when a stored row breaks the domain's rules
// (written by another tool, before the database held those rules): the
// data is at fault, not the caller's input, so the domain's error is in
// the message (with the row's id) but not in the chain, where errors.Is
// would take it for invalid input.
var ErrCorruptRow = errors.New("a stored row breaks the domain's rules")

// restorePortfolio builds the domain object for a row; a row the domain
// refuses is corrupt data, reported with its id.
func restorePortfolio(st domain.PortfolioState) (*domain.Portfolio, error) {
	p, err := domain.RestorePortfolio(st)
	if err != nil {
		return nil, fmt.Errorf("uow: load portfolio: %w: %v", ErrCorruptRow, err)
	}
	return p, nil
}

func restoreSecurity(st domain.SecurityState) (*domain.Security, error) {
	s, err := domain.RestoreSecurity(st)
	if err != nil {
		return nil, fmt.Errorf("uow: load security: %w: %v", ErrCorruptRow, err)
	}
	return s, nil
}
