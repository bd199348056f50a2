package uow

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// withSentinel gives exactly the SQLSTATEs of a session the server ended
// ErrSessionEnded, and those of a serialization failure ErrSerialization.
func TestWithSentinelBySQLSTATE(t *testing.T) {
	for code, want := range map[string]error{
		"40001": ErrSerialization, "40P01": ErrSerialization,
		"57P01": ErrSessionEnded, "57P02": ErrSessionEnded, "57P03": ErrSessionEnded,
		"08000": ErrSessionEnded, "08003": ErrSessionEnded, "08006": ErrSessionEnded,
		"08001": nil, "08004": nil, "08P01": nil, "57014": nil, "57P04": nil, "23505": nil,
	} {
		err := withSentinel(fmt.Errorf("uow: commit: %w", &pgconn.PgError{Code: code}))
		for _, s := range []error{ErrSerialization, ErrSessionEnded} {
			if got := errors.Is(err, s); got != (s == want) {
				t.Errorf("%s: errors.Is(%v) = %v", code, s, got)
			}
		}
	}
}
