package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
)

func TestNewSecurity(t *testing.T) {
	s, err := domain.NewSecurity(" aapl ", "  Apple Inc. ", "usd")
	require.NoError(t, err)
	assert.Equal(t, "AAPL", s.Symbol())
	assert.Equal(t, "Apple Inc.", s.Name())
	assert.Equal(t, "USD", s.Currency())
	assert.Equal(t, uuid.Version(7), s.ID().Version())
	_, _, ok := s.LastPrice()
	assert.False(t, ok)

	other, err := domain.NewSecurity("MSFT", "Microsoft", "USD")
	require.NoError(t, err)
	assert.NotEqual(t, s.ID(), other.ID())
}

func TestNewSecurityInvalid(t *testing.T) {
	tests := []struct {
		name                  string
		symbol, secName, curr string
		want                  error
		message               string
	}{
		{"bad symbol", "AB$", "Apple", "USD", domain.ErrInvalidSymbol, `create security: invalid symbol "AB$": use 1 to 12 of A-Z, 0-9, '.' and '-', beginning with a letter or a digit`},
		{"empty name", "AAPL", "  ", "USD", domain.ErrInvalidName, `create security AAPL: invalid name "  ": a security name must not be empty`},
		{"bad currency", "AAPL", "Apple", "US$", domain.ErrInvalidCurrency, `create security AAPL: invalid currency "US$": a currency code is three letters, such as USD or EUR`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := domain.NewSecurity(tt.symbol, tt.secName, tt.curr)
			require.ErrorIs(t, err, tt.want)
			assert.EqualError(t, err, tt.message)
			assert.Nil(t, s)
		})
	}
}

func TestSecuritySetPrice(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name  string
		price decimal.Decimal
		on    time.Time
		want  error // nil: accepted
	}{
		{"plain", dec("187.25"), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), nil},
		{"zero", decimal.Zero, time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), nil},
		{"time of day dropped", dec("1"), time.Date(2024, 5, 2, 1, 30, 0, 0, tokyo), nil},
		{"negative", dec("-0.01"), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidPrice},
		{"11 decimals", dec("1.00000000001"), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidPrice},
		{"19 integer digits", dec("1000000000000000000"), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), domain.ErrInvalidPrice},
		{"no date", dec("1"), time.Time{}, domain.ErrInvalidDate},
		{"too early", dec("1"), time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), domain.ErrInvalidDate},
		{"too late", dec("1"), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), domain.ErrInvalidDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSecurity(t, "AAPL", "USD")
			require.NoError(t, s.SetPrice(dec("100"), date(t, "2024-01-02")))
			before := s.State()

			err := s.SetPrice(tt.price, tt.on)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.Contains(t, err.Error(), "set price of AAPL: ")
				assert.Equal(t, before, s.State(), "a refused price must leave the security unchanged")
				return
			}
			require.NoError(t, err)
			price, on, ok := s.LastPrice()
			require.True(t, ok)
			requireDec(t, tt.price.String(), price)
			assert.Equal(t, domain.Day(tt.on), on)
			assert.Equal(t, time.UTC, on.Location())
		})
	}
}

func TestSecurityRename(t *testing.T) {
	s := newSecurity(t, "AAPL", "USD")
	require.NoError(t, s.Rename("  Apple Computer  "))
	assert.Equal(t, "Apple Computer", s.Name())

	for _, bad := range []string{"", "  ", "a\nb", "\xff"} {
		err := s.Rename(bad)
		require.ErrorIs(t, err, domain.ErrInvalidName)
		assert.Equal(t, "Apple Computer", s.Name())
	}
}

func TestSecurityStateRoundTrip(t *testing.T) {
	s := newSecurity(t, "BRK.B", "USD")
	st := s.State()
	assert.False(t, st.LastPrice.Valid)
	assert.Nil(t, st.PriceDate)
	r, err := domain.RestoreSecurity(st)
	require.NoError(t, err)
	assert.Equal(t, st, r.State())

	require.NoError(t, s.SetPrice(dec("412.5"), date(t, "2024-06-28")))
	st = s.State()
	require.True(t, st.LastPrice.Valid)
	require.NotNil(t, st.PriceDate)
	r, err = domain.RestoreSecurity(st)
	require.NoError(t, err)
	assert.Equal(t, st, r.State())
	assert.Equal(t, s.ID(), r.ID())

	// The snapshot shares no memory with the security.
	*st.PriceDate = date(t, "1999-01-01")
	st.Name = "changed"
	_, on, _ := s.LastPrice()
	assert.Equal(t, date(t, "2024-06-28"), on)
	assert.Equal(t, "BRK.B Inc.", s.Name())
}

func TestRestoreSecurityNormalizesPriceDate(t *testing.T) {
	on := time.Date(2024, 6, 28, 0, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	r, err := domain.RestoreSecurity(domain.SecurityState{
		ID: uuid.Must(uuid.NewV7()), Symbol: "X", Name: "X", Currency: "EUR",
		LastPrice: decimal.NewNullDecimal(dec("1.5")), PriceDate: &on,
	})
	require.NoError(t, err)
	_, got, ok := r.LastPrice()
	require.True(t, ok)
	assert.Equal(t, date(t, "2024-06-28"), got)
}

func TestRestoreSecurityRejectsCorruptState(t *testing.T) {
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	old := time.Date(1800, 1, 2, 0, 0, 0, 0, time.UTC)
	valid := func() domain.SecurityState {
		return domain.SecurityState{
			ID: uuid.Must(uuid.NewV7()), Symbol: "AAPL", Name: "Apple", Currency: "USD",
			LastPrice: decimal.NewNullDecimal(dec("10")), PriceDate: &day,
		}
	}
	tests := []struct {
		name   string
		mutate func(*domain.SecurityState)
		want   error
	}{
		{"nil id", func(s *domain.SecurityState) { s.ID = uuid.Nil }, domain.ErrInvalid},
		{"bad symbol", func(s *domain.SecurityState) { s.Symbol = "AB$" }, domain.ErrInvalidSymbol},
		{"lower-case symbol", func(s *domain.SecurityState) { s.Symbol = "aapl" }, domain.ErrInvalidSymbol},
		{"padded symbol", func(s *domain.SecurityState) { s.Symbol = " AAPL" }, domain.ErrInvalidSymbol},
		{"empty name", func(s *domain.SecurityState) { s.Name = "" }, domain.ErrInvalidName},
		{"padded name", func(s *domain.SecurityState) { s.Name = "Apple " }, domain.ErrInvalidName},
		{"control in name", func(s *domain.SecurityState) { s.Name = "Ap\x00ple" }, domain.ErrInvalidName},
		{"bad currency", func(s *domain.SecurityState) { s.Currency = "DOLLAR" }, domain.ErrInvalidCurrency},
		{"lower-case currency", func(s *domain.SecurityState) { s.Currency = "usd" }, domain.ErrInvalidCurrency},
		{"price without date", func(s *domain.SecurityState) { s.PriceDate = nil }, domain.ErrInvalidPrice},
		{"date without price", func(s *domain.SecurityState) { s.LastPrice = decimal.NullDecimal{} }, domain.ErrInvalidPrice},
		{"negative price", func(s *domain.SecurityState) { s.LastPrice = decimal.NewNullDecimal(dec("-1")) }, domain.ErrInvalidPrice},
		{"price too precise", func(s *domain.SecurityState) { s.LastPrice = decimal.NewNullDecimal(dec("0.00000000001")) }, domain.ErrInvalidPrice},
		{"zero date", func(s *domain.SecurityState) { s.PriceDate = &time.Time{} }, domain.ErrInvalidDate},
		{"old date", func(s *domain.SecurityState) { s.PriceDate = &old }, domain.ErrInvalidDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := valid()
			_, err := domain.RestoreSecurity(st)
			require.NoError(t, err, "the unmutated state must be valid")

			tt.mutate(&st)
			s, err := domain.RestoreSecurity(st)
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, domain.ErrInvalid)
			assert.Contains(t, err.Error(), "restore security ")
			assert.Nil(t, s)
		})
	}
}

func TestRestoreSecurityCanonicalMessage(t *testing.T) {
	id := uuid.MustParse("01900000-0000-7000-8000-000000000001")
	_, err := domain.RestoreSecurity(domain.SecurityState{ID: id, Symbol: "aapl", Name: "Apple", Currency: "USD"})
	assert.EqualError(t, err, `restore security 01900000-0000-7000-8000-000000000001: invalid symbol "aapl": stored values must be in canonical form "AAPL"`)
}
