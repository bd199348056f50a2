package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
)

// An unknown commit outcome wins over a context that ended with it: the
// change may be saved, and "try again later" would apply it twice.
func TestClassifyPutsAnUnknownCommitFirst(t *testing.T) {
	unknown := fmt.Errorf("%w: %w", uow.ErrCommitUnknown, pgconn.ErrConnClosed)
	for _, tc := range []struct {
		err    error
		status int
		slug   string
	}{
		{unknown, http.StatusInternalServerError, "commit-unknown"},
		{fmt.Errorf("%w: %w", unknown, context.DeadlineExceeded), http.StatusInternalServerError, "commit-unknown"},
		{fmt.Errorf("%w: %w", unknown, context.Canceled), http.StatusInternalServerError, "commit-unknown"},
		{fmt.Errorf("load: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "timeout"},
		{fmt.Errorf("load: %w", context.Canceled), http.StatusServiceUnavailable, "canceled"},
		{fmt.Errorf("save: %w", domain.ErrVersionConflict), http.StatusConflict, "concurrent-change"},
		// The server ended the session through every attempt: the
		// database is, for now, away.
		{fmt.Errorf("uow: gave up after 5 attempts: begin: %w: %w", uow.ErrSessionEnded, &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), http.StatusServiceUnavailable, "unavailable"},
		{fmt.Errorf("%w: %w", uow.ErrCommitUnknown, &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), http.StatusInternalServerError, "commit-unknown"},
		{fmt.Errorf("load: %w", &pgconn.PgError{Code: "42P01"}), http.StatusInternalServerError, "internal-error"},
	} {
		k := classify(tc.err)
		assert.Equal(t, tc.status, k.status, "%v", tc.err)
		assert.Equal(t, tc.slug, k.slug, "%v", tc.err)
	}
}
