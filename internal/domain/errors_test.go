package domain_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/folio-dev/folio/internal/domain"
)

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		err   error
		kind  error
		notOf error
		reads string
	}{
		{domain.ErrAlreadyExists, domain.ErrConflict, domain.ErrInvalid, "already exists"},
		{domain.ErrVersionConflict, domain.ErrConflict, domain.ErrInvalid, "changed concurrently"},
		{domain.ErrInUse, domain.ErrConflict, domain.ErrNotFound, "still in use"},
		{domain.ErrInvalidSymbol, domain.ErrInvalid, domain.ErrConflict, "invalid symbol"},
		{domain.ErrInvalidName, domain.ErrInvalid, domain.ErrConflict, "invalid name"},
		{domain.ErrInvalidCurrency, domain.ErrInvalid, domain.ErrConflict, "invalid currency"},
		{domain.ErrInvalidQuantity, domain.ErrInvalid, domain.ErrInvalidPrice, "invalid quantity"},
		{domain.ErrInvalidPrice, domain.ErrInvalid, domain.ErrInvalidQuantity, "invalid price"},
		{domain.ErrInvalidDate, domain.ErrInvalid, domain.ErrConflict, "invalid date"},
		{domain.ErrCurrencyMismatch, domain.ErrInvalid, domain.ErrInvalidCurrency, "currency mismatch"},
		{domain.ErrInsufficientQuantity, domain.ErrInsufficientQuantity, domain.ErrInvalid, "insufficient quantity"},
		{domain.ErrNotFound, domain.ErrNotFound, domain.ErrConflict, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.reads, func(t *testing.T) {
			assert.ErrorIs(t, tt.err, tt.kind)
			assert.False(t, errors.Is(tt.err, tt.notOf))
			assert.EqualError(t, tt.err, tt.reads)
		})
	}
}
