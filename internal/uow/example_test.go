package uow_test

// The examples show code as an application writes it, against its own
// server and data (DATABASE_URL, a portfolio named Growth): they are
// compiled with the tests but not run, and have no Output to check. What
// they claim is tested: 2 round trips for a read-modify-write unit in
// TestChangedQuantityUpdatesThatColumnAndVersionInTwoRoundTrips, the
// locks taken in the load in TestForUpdateLocksInTheLoadRoundTrip and
// TestForUpdateAtReadCommittedNeverRetries.

import (
	"context"
	"log"
	"os"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
)

// A read-modify-write unit: load a portfolio with its securities, sell
// from it, and let Do save the change. It costs 2 round trips: BEGIN with
// the loads, then the writes with COMMIT.
func ExampleRunner_Do() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	uow.ConfigurePool(cfg) // codecs and the statement tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	r, err := uow.NewRunner(pool)
	if err != nil {
		log.Fatal(err)
	}

	var sale domain.Sale
	err = r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().GetByName(ctx, "Growth", uow.WithSecurities())
		if err != nil {
			return err // domain.ErrNotFound if there is none
		}
		aapl, err := u.Securities().GetBySymbol(ctx, "AAPL") // from the identity map
		if err != nil {
			return err
		}
		// u.Now: the unit's clock, one time for the whole unit.
		sale, err = p.Sell(aapl, decimal.RequireFromString("5"), u.Now())
		return err // nil: Do flushes and commits; an error or a panic rolls back
	})
	if err != nil {
		log.Fatal(err) // domain.ErrInsufficientQuantity, say: nothing changed
	}
	// Side effects after Do: fn may run more than once.
	log.Printf("realized %s", sale.RealizedGain(decimal.RequireFromString("190")))
}

// Transfers between portfolios that many units change at once: lock them
// in the load (SELECT ... FOR UPDATE, in id order) at READ COMMITTED, and
// units queue on the locks instead of conflicting and rerunning.
func ExampleForUpdate() {
	var (
		ctx      = context.Background()
		r        *uow.Runner
		from, to uuid.UUID
		sec      *domain.Security
		qty      = decimal.RequireFromString("1")
	)
	err := r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{from, to}, uow.ForUpdate())
		if err != nil {
			return err
		}
		sale, err := ps[0].Sell(sec, qty, u.Now())
		if err != nil {
			return err
		}
		// A unit cost has at most 10 decimal places.
		_, err = ps[1].Buy(sec, qty, sale.Cost.DivRound(qty, 10), u.Now())
		return err
	}, uow.WithIsolation(pgx.ReadCommitted))
	if err != nil {
		log.Fatal(err)
	}
}
