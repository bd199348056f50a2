// Package bench runs the same scenarios, on the same schema and the same
// PostgreSQL server, through four implementations, and benchmarks them side
// by side:
//
//   - folio: the unit of work in internal/uow, with the domain types of
//     internal/domain (impl=folio);
//   - hand-written pgx: SQL written here, with the best technique each
//     scenario allows (pipelines via pgx.Batch, "= ANY", unnest); this is
//     the floor the others are measured against (impl=pgx);
//   - GORM with its PostgreSQL driver (impl=gorm);
//   - bun with its PostgreSQL dialect (impl=bun).
//
// All four reach the server through pgx: folio and the floor through a
// pgxpool, GORM and bun through pgx's database/sql driver (stdlib). Every
// connection configuration carries the same counting tracer (Counter), so
// that statements and round trips per operation are counted the same way
// for all four.
//
// # Fairness rules
//
//   - Every implementation reads the same rows and writes the same rows for a
//     scenario and leaves the database in the same state (TestScenariosAgree
//     checks this before anything is timed); they differ in how they talk to
//     the server and what they do in Go.
//   - Loads run in one REPEATABLE READ READ ONLY transaction, so that a
//     portfolio and its lots come from one snapshot (folio's Read unit
//     makes each of its round trips such a transaction, and every load here
//     takes one round trip); writes are atomic.
//   - Application logic (selling first in, first out; buying a new lot)
//     runs in Go for all four: no implementation pushes it into SQL to save
//     a round trip.
//   - Retries of serialization failures, deadlocks and version conflicts use
//     the same policy everywhere: folio's defaults (jittered backoff from
//     2ms to 200ms), at most 10 attempts.
//   - Each implementation gets the settings its documentation recommends
//     for speed; each file says which and why.
//
// Run the suite with run.sh; BENCHMARKS.md has the latest results.
package bench
