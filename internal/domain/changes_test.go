package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Changes counts what changed the aggregate, and nothing else: storage
// relies on an unchanged count meaning an unchanged aggregate.
func TestChangesCountsEveryChangeAndOnlyThose(t *testing.T) {
	aapl := newSecurity(t, "AAPL", "USD")
	eur := newSecurity(t, "SAP", "EUR")
	p := newPortfolio(t, "Main", "USD")
	require.Zero(t, p.Changes())

	steps := []struct {
		name    string
		do      func() error
		changed bool
	}{
		{"buy", func() error { _, err := p.Buy(aapl, dec("10"), dec("1"), date(t, "2024-01-02")); return err }, true},
		{"refused buy", func() error { _, err := p.Buy(eur, dec("1"), dec("1"), date(t, "2024-01-02")); return err }, false},
		{"sell", func() error { _, err := p.Sell(aapl, dec("2"), date(t, "2024-01-03")); return err }, true},
		{"refused sell", func() error { _, err := p.Sell(aapl, dec("200"), date(t, "2024-01-03")); return err }, false},
		{"rename", func() error { return p.Rename("Other") }, true},
		{"rename to the same name", func() error { return p.Rename(" Other ") }, false},
		{"refused rename", func() error { return p.Rename("") }, false},
		{"remove", func() error { return p.RemoveInvestment(p.Investments()[0].ID()) }, true},
		{"set version", func() error { p.SetVersion(7); return nil }, false},
	}
	for _, s := range steps {
		before := p.Changes()
		_ = s.do()
		if s.changed {
			assert.Equal(t, before+1, p.Changes(), s.name)
		} else {
			assert.Equal(t, before, p.Changes(), s.name)
		}
	}
	assert.Equal(t, int64(7), p.Version())

	before := aapl.Changes()
	require.NoError(t, aapl.SetPrice(dec("5"), date(t, "2024-01-02")))
	require.NoError(t, aapl.Rename(aapl.Name()))
	assert.Error(t, aapl.SetPrice(dec("-1"), date(t, "2024-01-02")))
	assert.Equal(t, before+1, aapl.Changes())
}
