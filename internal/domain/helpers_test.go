package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
)

// dec parses a decimal literal in a test; literals are trusted.
func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// date parses a YYYY-MM-DD literal in a test.
func date(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := domain.ParseDate(s)
	require.NoError(t, err)
	return d
}

// requireDec compares decimals by value: 1.10 and 1.1 are the same amount
// but not the same struct, so require.Equal would be wrong here.
func requireDec(t *testing.T, want string, got decimal.Decimal, msgAndArgs ...any) {
	t.Helper()
	require.Truef(t, dec(want).Equal(got), "want %s, got %s %v", want, got, msgAndArgs)
}

func newSecurity(t *testing.T, symbol, currency string) *domain.Security {
	t.Helper()
	s, err := domain.NewSecurity(symbol, symbol+" Inc.", currency)
	require.NoError(t, err)
	return s
}

func newPortfolio(t *testing.T, name, currency string) *domain.Portfolio {
	t.Helper()
	p, err := domain.NewPortfolio(name, currency)
	require.NoError(t, err)
	return p
}

func buy(t *testing.T, p *domain.Portfolio, s *domain.Security, qty, cost, on string) domain.Investment {
	t.Helper()
	lot, err := p.Buy(s, dec(qty), dec(cost), date(t, on))
	require.NoError(t, err)
	return lot
}

func ids(lots []domain.Investment) []uuid.UUID {
	out := make([]uuid.UUID, len(lots))
	for i, l := range lots {
		out[i] = l.ID()
	}
	return out
}
