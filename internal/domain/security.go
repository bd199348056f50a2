package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Security is something that can be bought and held: a share, a fund, a
// bond. Its symbol and currency are fixed for life, because lots and prices
// refer to them; its name and last known price can change.
//
// A Security is shared by every portfolio that holds it and is not part of
// the Portfolio aggregate: a portfolio refers to it by id only.
type Security struct {
	id        uuid.UUID
	symbol    string
	name      string
	currency  string
	lastPrice decimal.Decimal
	priceDate time.Time
	hasPrice  bool
	changes   uint64 // see Changes
}

// NewSecurity returns a new security with a fresh UUIDv7 id and no price.
// symbol, name and currency are validated and canonicalized by ParseSymbol,
// ParseSecurityName and ParseCurrency, and an error wrapping
// ErrInvalidSymbol, ErrInvalidName or ErrInvalidCurrency is returned for the
// first that is invalid. Whether the symbol is already taken is for storage
// to find out (ErrAlreadyExists).
func NewSecurity(symbol, name, currency string) (*Security, error) {
	sym, err := ParseSymbol(symbol)
	if err != nil {
		return nil, fmt.Errorf("create security: %w", err)
	}
	nm, err := ParseSecurityName(name)
	if err != nil {
		return nil, fmt.Errorf("create security %s: %w", sym, err)
	}
	cur, err := ParseCurrency(currency)
	if err != nil {
		return nil, fmt.Errorf("create security %s: %w", sym, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create security %s: new id: %w", sym, err)
	}
	return &Security{id: id, symbol: sym, name: nm, currency: cur}, nil
}

// ID returns the security's id.
func (s *Security) ID() uuid.UUID { return s.id }

// Changes counts the changes made to the security through its methods
// since it was created or restored (see Portfolio.Changes).
func (s *Security) Changes() uint64 { return s.changes }

// Clone returns a copy of s that shares no memory with it, as
// Portfolio.Clone does.
func (s *Security) Clone() *Security {
	c := *s
	return &c
}

// Symbol returns the security's ticker symbol, upper-case.
func (s *Security) Symbol() string { return s.symbol }

// Name returns the security's name.
func (s *Security) Name() string { return s.name }

// Currency returns the ISO 4217 code of the currency the security is
// priced in.
func (s *Security) Currency() string { return s.currency }

// LastPrice returns the last known price and the day it applies to, or ok
// false if no price was ever set.
func (s *Security) LastPrice() (price decimal.Decimal, on time.Time, ok bool) {
	if !s.hasPrice {
		return decimal.Decimal{}, time.Time{}, false
	}
	return s.lastPrice, s.priceDate, true
}

// SetPrice records price as the security's price on the day of on, which is
// stored as Day(on). The price is checked by CheckPrice (an error wraps
// ErrInvalidPrice) and the day must be set and within the years 1900 to 9999
// (an error wraps ErrInvalidDate). An older date than the current price's is
// accepted, to allow corrections. On error the security is left unchanged.
func (s *Security) SetPrice(price decimal.Decimal, on time.Time) error {
	if err := CheckPrice(price); err != nil {
		return fmt.Errorf("set price of %s: %w", s.symbol, err)
	}
	if err := CheckDate(on); err != nil {
		return fmt.Errorf("set price of %s: %w", s.symbol, err)
	}
	s.lastPrice, s.priceDate, s.hasPrice = price, Day(on), true
	s.changes++
	return nil
}

// Rename changes the security's name, validated and trimmed by
// ParseSecurityName; an error wraps ErrInvalidName and leaves the security
// unchanged.
func (s *Security) Rename(name string) error {
	nm, err := ParseSecurityName(name)
	if err != nil {
		return fmt.Errorf("rename security %s: %w", s.symbol, err)
	}
	if nm != s.name {
		s.name = nm
		s.changes++
	}
	return nil
}

// SecurityState is the stored form of a Security, one row of the security
// table. LastPrice.Valid is false exactly when PriceDate is nil.
type SecurityState struct {
	ID        uuid.UUID
	Symbol    string
	Name      string
	Currency  string
	LastPrice decimal.NullDecimal
	PriceDate *time.Time
}

// State returns a snapshot of the security for storage. It shares no memory
// with s.
func (s *Security) State() SecurityState {
	st := SecurityState{
		ID:        s.id,
		Symbol:    s.symbol,
		Name:      s.name,
		Currency:  s.currency,
		LastPrice: decimal.NullDecimal{Decimal: s.lastPrice, Valid: s.hasPrice},
	}
	if s.hasPrice {
		d := s.priceDate
		st.PriceDate = &d
	}
	return st
}

// RestoreSecurity rebuilds a security loaded from storage. Because a row may
// have been written by hand, everything is validated again: the id must be
// set, symbol, name and currency must be valid and already in canonical form
// (as ParseSymbol, ParseSecurityName and ParseCurrency return them, so that
// State gives back what was loaded), and a price must come with a date and
// vice versa. The price date is normalized with Day. Errors wrap ErrInvalid,
// most of them through one of its refinements such as ErrInvalidSymbol.
func RestoreSecurity(st SecurityState) (*Security, error) {
	fail := func(err error) (*Security, error) {
		return nil, fmt.Errorf("restore security %s: %w", st.ID, err)
	}
	if st.ID == uuid.Nil {
		return fail(fmt.Errorf("%w: the id is missing", ErrInvalid))
	}
	if err := canonical(st.Symbol, ParseSymbol, ErrInvalidSymbol); err != nil {
		return fail(err)
	}
	if err := canonical(st.Name, storedSecurityName, ErrInvalidName); err != nil {
		return fail(err)
	}
	if err := canonical(st.Currency, ParseCurrency, ErrInvalidCurrency); err != nil {
		return fail(err)
	}
	s := &Security{id: st.ID, symbol: st.Symbol, name: st.Name, currency: st.Currency}
	if st.LastPrice.Valid != (st.PriceDate != nil) {
		return fail(fmt.Errorf("%w: a price and its date must both be set or both be empty", ErrInvalidPrice))
	}
	if st.LastPrice.Valid {
		if err := CheckPrice(st.LastPrice.Decimal); err != nil {
			return fail(err)
		}
		if err := CheckDate(*st.PriceDate); err != nil {
			return fail(err)
		}
		s.lastPrice, s.priceDate, s.hasPrice = st.LastPrice.Decimal, Day(*st.PriceDate), true
	}
	return s, nil
}

// canonical returns parse's error for s, or an error wrapping kind if s is
// valid but not in the form parse returns. Stored values must already be
// canonical: accepting " aapl" and presenting "AAPL" would make State differ
// from what was loaded, and every load would look like a change to save.
func canonical(s string, parse func(string) (string, error), kind error) error {
	c, err := parse(s)
	if err != nil {
		return err
	}
	if c != s {
		return fmt.Errorf("%w %s: stored values must be in canonical form %s", kind, quote(s), quote(c))
	}
	return nil
}
