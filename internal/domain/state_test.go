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

// saved returns p as storage would give it back after an insert: with
// version 1.
func saved(t *testing.T, p *domain.Portfolio) *domain.Portfolio {
	t.Helper()
	st := p.State()
	st.Version = 1
	r, err := domain.RestorePortfolio(st)
	require.NoError(t, err)
	return r
}

func TestPortfolioStateRoundTrip(t *testing.T) {
	p, sec, _, _, _, _, _ := threeLots(t)
	_, err := p.Sell(sec, dec("12.5"), date(t, "2024-06-01"))
	require.NoError(t, err)
	require.NoError(t, p.Rename(`Épargne 日本 📈 '; DROP TABLE portfolio; --`))

	st := p.State()
	assert.Equal(t, p.ID(), st.ID)
	assert.Equal(t, p.Name(), st.Name)
	assert.Equal(t, "USD", st.Currency)
	assert.Equal(t, int64(0), st.Version)
	require.Len(t, st.Investments, 3)
	for i, l := range p.Investments() {
		in := st.Investments[i]
		assert.Equal(t, l.ID(), in.ID)
		assert.Equal(t, l.SecurityID(), in.SecurityID)
		requireDec(t, l.Quantity().String(), in.Quantity)
		requireDec(t, l.UnitCost().String(), in.UnitCost)
		assert.Equal(t, l.AcquiredOn(), in.AcquiredOn)
	}

	assert.Equal(t, date(t, "2024-06-01"), st.LastSaleOn)

	st.Version = 7
	r, err := domain.RestorePortfolio(st)
	require.NoError(t, err)
	assert.Equal(t, st, r.State())
	last, ok := r.LastSale()
	assert.True(t, ok)
	assert.Equal(t, date(t, "2024-06-01"), last)
	assert.Equal(t, int64(7), r.Version())
	assert.Equal(t, p.Investments(), r.Investments())
}

func TestRestorePortfolioSortsAndNormalizes(t *testing.T) {
	p, _, _, jan, feb, mar, oth := threeLots(t)
	st := p.State()
	st.Version = 1
	// Storage returns rows in any order, and a driver may hand dates back
	// in another location.
	st.Investments[0], st.Investments[3] = st.Investments[3], st.Investments[0]
	st.Investments[1], st.Investments[2] = st.Investments[2], st.Investments[1]
	st.Investments[0].AcquiredOn = time.Date(2024, 3, 10, 0, 0, 0, 0, time.FixedZone("EST", -5*3600))
	st.Investments[0].Quantity = dec("30.0000000000")

	r, err := domain.RestorePortfolio(st)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{oth.ID(), jan.ID(), feb.ID(), mar.ID()}, ids(r.Investments()))
	got, _ := r.Investment(mar.ID())
	assert.Equal(t, date(t, "2024-03-10"), got.AcquiredOn())
	requireDec(t, "30", got.Quantity())
}

func TestRestorePortfolioWithoutInvestments(t *testing.T) {
	r, err := domain.RestorePortfolio(domain.PortfolioState{ID: uuid.Must(uuid.NewV7()), Name: "Empty", Currency: "JPY", Version: 3})
	require.NoError(t, err)
	assert.Empty(t, r.Investments())
	assert.Equal(t, "JPY", r.Currency())
}

// A name with an invisible character, which input refuses now but older
// versions stored, still loads, and can be renamed to a valid one; a
// rename to such a name is refused.
func TestRestoredNameWithAnInvisibleCharacter(t *testing.T) {
	const old = "Gro\u200bwth"
	_, err := domain.ParsePortfolioName(old)
	require.ErrorIs(t, err, domain.ErrInvalidName)

	p, err := domain.RestorePortfolio(domain.PortfolioState{ID: uuid.Must(uuid.NewV7()), Name: old, Currency: "USD", Version: 2})
	require.NoError(t, err)
	assert.Equal(t, old, p.Name())
	require.ErrorIs(t, p.Rename("Other\u202e"), domain.ErrInvalidName)
	require.NoError(t, p.Rename("Growth"))

	s, err := domain.RestoreSecurity(domain.SecurityState{ID: uuid.Must(uuid.NewV7()), Symbol: "X", Name: "X\u00adCorp", Currency: "USD"})
	require.NoError(t, err)
	assert.Equal(t, "X\u00adCorp", s.Name())

	// The other rules still hold for stored names.
	_, err = domain.RestorePortfolio(domain.PortfolioState{ID: uuid.Must(uuid.NewV7()), Name: "a\tb", Currency: "USD", Version: 2})
	require.ErrorIs(t, err, domain.ErrInvalidName)
}

func TestPortfolioStateIsADeepCopy(t *testing.T) {
	p, _, _, _, _, _, _ := threeLots(t)
	p = saved(t, p)
	before := p.State()

	st := p.State()
	st.Name = "changed"
	st.Version = 99
	st.Investments[0].Quantity = dec("999")
	st.Investments[1].ID = uuid.New()
	st.Investments[2].AcquiredOn = time.Time{}
	st.Investments = append(st.Investments[:1], st.Investments[2:]...)
	assert.Equal(t, before, p.State())

	// Nor does the portfolio keep the state it was restored from.
	st = p.State()
	r, err := domain.RestorePortfolio(st)
	require.NoError(t, err)
	st.Investments[0].Quantity = dec("999")
	st.Investments[0] = domain.InvestmentState{}
	assert.Equal(t, before, r.State())
}

func TestRestorePortfolioRejectsCorruptState(t *testing.T) {
	base := func(t *testing.T) domain.PortfolioState {
		p, _, _, _, _, _, _ := threeLots(t)
		st := p.State()
		st.Version = 1
		return st
	}
	tests := []struct {
		name   string
		mutate func(*domain.PortfolioState)
		want   error
	}{
		{"nil id", func(s *domain.PortfolioState) { s.ID = uuid.Nil }, domain.ErrInvalid},
		{"empty name", func(s *domain.PortfolioState) { s.Name = "" }, domain.ErrInvalidName},
		{"untrimmed name", func(s *domain.PortfolioState) { s.Name = " Main" }, domain.ErrInvalidName},
		{"control in name", func(s *domain.PortfolioState) { s.Name = "Ma\nin" }, domain.ErrInvalidName},
		{"invalid utf-8 name", func(s *domain.PortfolioState) { s.Name = "Ma\xffin" }, domain.ErrInvalidName},
		{"long name", func(s *domain.PortfolioState) { s.Name = strings.Repeat("x", 101) }, domain.ErrInvalidName},
		{"bad currency", func(s *domain.PortfolioState) { s.Currency = "US" }, domain.ErrInvalidCurrency},
		{"lower-case currency", func(s *domain.PortfolioState) { s.Currency = "usd" }, domain.ErrInvalidCurrency},
		{"version 0", func(s *domain.PortfolioState) { s.Version = 0 }, domain.ErrInvalid},
		{"negative version", func(s *domain.PortfolioState) { s.Version = -1 }, domain.ErrInvalid},
		{"lot without id", func(s *domain.PortfolioState) { s.Investments[1].ID = uuid.Nil }, domain.ErrInvalid},
		{"lot without security", func(s *domain.PortfolioState) { s.Investments[1].SecurityID = uuid.Nil }, domain.ErrInvalid},
		{"zero quantity", func(s *domain.PortfolioState) { s.Investments[1].Quantity = decimal.Zero }, domain.ErrInvalidQuantity},
		{"negative quantity", func(s *domain.PortfolioState) { s.Investments[1].Quantity = dec("-1") }, domain.ErrInvalidQuantity},
		{"quantity too precise", func(s *domain.PortfolioState) { s.Investments[1].Quantity = dec("1.00000000001") }, domain.ErrInvalidQuantity},
		{"negative unit cost", func(s *domain.PortfolioState) { s.Investments[1].UnitCost = dec("-1") }, domain.ErrInvalidPrice},
		{"unit cost too large", func(s *domain.PortfolioState) { s.Investments[1].UnitCost = dec("1e18") }, domain.ErrInvalidPrice},
		{"zero date", func(s *domain.PortfolioState) { s.Investments[1].AcquiredOn = time.Time{} }, domain.ErrInvalidDate},
		{"date too early", func(s *domain.PortfolioState) {
			s.Investments[1].AcquiredOn = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
		}, domain.ErrInvalidDate},
		{"latest sale too early", func(s *domain.PortfolioState) {
			s.LastSaleOn = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
		}, domain.ErrInvalidDate},
		{"duplicate lot id", func(s *domain.PortfolioState) { s.Investments[2].ID = s.Investments[0].ID }, domain.ErrInvalid},
		{"duplicate lot id among many", func(s *domain.PortfolioState) {
			for i := range 30 {
				l := s.Investments[0]
				l.ID = uuid.Must(uuid.NewV7())
				l.AcquiredOn = l.AcquiredOn.AddDate(0, 0, i)
				s.Investments = append(s.Investments, l)
			}
			s.Investments[25].ID = s.Investments[4].ID
		}, domain.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base(t)
			_, err := domain.RestorePortfolio(st)
			require.NoError(t, err, "the unmutated state must be valid")

			tt.mutate(&st)
			p, err := domain.RestorePortfolio(st)
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, domain.ErrInvalid)
			assert.Contains(t, err.Error(), "restore portfolio ")
			assert.Nil(t, p)
		})
	}
}

func TestRestorePortfolioMessages(t *testing.T) {
	pid := uuid.MustParse("01900000-0000-7000-8000-0000000000aa")
	lid := uuid.MustParse("01900000-0000-7000-8000-0000000000bb")
	st := domain.PortfolioState{ID: pid, Name: "Main", Currency: "USD", Version: 1, Investments: []domain.InvestmentState{
		{ID: lid, SecurityID: uuid.New(), Quantity: dec("0"), UnitCost: dec("1"), AcquiredOn: date(t, "2024-01-01")},
	}}
	_, err := domain.RestorePortfolio(st)
	assert.EqualError(t, err, "restore portfolio 01900000-0000-7000-8000-0000000000aa: investment 01900000-0000-7000-8000-0000000000bb: invalid quantity 0: must be greater than 0")

	st.Investments[0].Quantity = dec("1")
	st.Investments = append(st.Investments, st.Investments[0])
	_, err = domain.RestorePortfolio(st)
	assert.EqualError(t, err, "restore portfolio 01900000-0000-7000-8000-0000000000aa: investment 01900000-0000-7000-8000-0000000000bb: invalid: the id appears more than once")

	st.Investments, st.Version = nil, 0
	_, err = domain.RestorePortfolio(st)
	assert.EqualError(t, err, "restore portfolio 01900000-0000-7000-8000-0000000000aa: invalid: version 0: a stored portfolio has version 1 or more")
}

// Reset puts a portfolio back to a stored state in place. As it is, it
// stays untouched: no change counted, a walk of its lots goes on. With
// another name, a change, and the walk goes on; with other lots, a change
// the walk notices, as it would a Buy. A state of another portfolio, or
// one RestorePortfolio refuses, is an error and changes nothing.
func TestReset(t *testing.T) {
	p, sec, _, _, _, _, _ := threeLots(t)
	p = saved(t, p)
	stored := p.State()
	before := p.Changes()

	steps := 0
	for range p.Lots() {
		steps++
		require.NoError(t, p.Reset(stored))
	}
	assert.Equal(t, 4, steps)
	assert.Equal(t, before, p.Changes(), "a portfolio as its state: nothing changed")

	renamed := stored
	renamed.Name = "Elsewhere"
	steps = 0
	for range p.Lots() {
		steps++
		require.NoError(t, p.Reset(renamed))
	}
	assert.Equal(t, 4, steps, "a rename does not disturb the walk")
	assert.Equal(t, "Elsewhere", p.Name())
	assert.Equal(t, before+1, p.Changes())

	_, err := p.Buy(sec, dec("1"), dec("2"), date(t, "2024-05-01"))
	require.NoError(t, err)
	require.Len(t, p.Investments(), 5)
	changes := p.Changes()
	require.NoError(t, p.Reset(stored))
	assert.Equal(t, stored, p.State(), "the lot bought is gone, the name back")
	assert.Greater(t, p.Changes(), changes, "Changes moves on")

	fewer := stored
	fewer.Investments = stored.Investments[1:]
	steps = 0
	assert.Panics(t, func() {
		for range p.Lots() {
			steps++
			require.NoError(t, p.Reset(fewer))
		}
	}, "other lots, put in during the walk, are a change to them")
	assert.Equal(t, 1, steps)
	require.NoError(t, p.Reset(stored))
	assert.Equal(t, stored, p.State())

	other := stored
	other.ID = uuid.New()
	assert.ErrorIs(t, p.Reset(other), domain.ErrInvalid)
	bad := stored
	bad.Version = 0
	assert.ErrorIs(t, p.Reset(bad), domain.ErrInvalid)
	assert.Equal(t, stored, p.State(), "a refused state changes nothing")
}
