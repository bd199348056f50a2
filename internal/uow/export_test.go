package uow

import (
	"context"

	"github.com/folio-dev/folio/internal/dbgen"
)

// RefusedName is a name PostgreSQL refuses (22021: text cannot hold NUL).
const RefusedName = "bad\x00name"

// FailOnServer sends, in a round trip of u's, a statement that fails on the
// server and aborts the transaction it runs in: a lookup of RefusedName,
// which the repositories refuse to send. It returns the round trip's error.
func FailOnServer(ctx context.Context, u *Unit) error {
	if err := u.open(); err != nil {
		return err
	}
	return u.s.roundTrip(ctx, []call{{run: func(q *dbgen.Queries) error {
		_, err := q.GetPortfolioByName(ctx, RefusedName)
		return err
	}}})
}
