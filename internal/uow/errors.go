package uow

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/folio-dev/folio/internal/domain"
)

// ErrSerialization is the sentinel for a transaction the server aborted to
// keep concurrent transactions apart: a serialization failure (SQLSTATE
// 40001) or a deadlock (40P01). Runner.Do retries those.
var ErrSerialization = errors.New("could not serialize with concurrent transactions")

// ErrSessionEnded is the sentinel for a session the server ended or
// refused before COMMIT: admin_shutdown, crash_shutdown, cannot_connect_now
// (57P01 to 57P03: a restart, a failover, pg_terminate_backend) or a lost
// connection (08000, 08003, 08006), or PgBouncer's FATAL for a client it
// never gave a server (query_wait_timeout); and, for a unit that had
// written nothing or in a round trip without COMMIT, any FATAL or
// connection lost. The transaction was rolled
// back, or never began, or had nothing to lose, so Runner.Do retries
// those, on another connection. One ended in answer to COMMIT wraps ErrCommitUnknown
// instead.
var ErrSessionEnded = errors.New("the database ended the session")

// withSentinel gives a server's error the sentinel it maps to whatever the
// statement, when the statement's own translation gave it none: a
// serialization failure or a deadlock is ErrSerialization also when it hits
// a load (as a ForUpdate load's lock wait does) or COMMIT, and a session
// the server ended is ErrSessionEnded wherever it ends.
func withSentinel(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	var kind error
	switch {
	case serializationFailure(pgErr.Code):
		kind = ErrSerialization
	case sessionEnded(pgErr.Code):
		kind = ErrSessionEnded
	}
	if kind == nil || errors.Is(err, kind) {
		return err
	}
	return &sentinelError{kind: kind, err: err}
}

// sentinelError is err, which errors.Is also finds kind in.
type sentinelError struct{ kind, err error }

func (e *sentinelError) Error() string   { return e.err.Error() }
func (e *sentinelError) Unwrap() []error { return []error{e.kind, e.err} }

// Error is a database error translated for the domain: errors.Is(err, Kind)
// holds for its sentinel (domain.ErrAlreadyExists and so on, or
// ErrSerialization), and errors.As finds the *pgconn.PgError in Err when
// the server sent one (a version conflict found on the client, such as a
// re-locked portfolio that changed, has none).
type Error struct {
	// Op says what the unit was doing, e.g. `add portfolio "Growth"`.
	Op string
	// Kind is the sentinel the failure maps to.
	Kind error
	// Err is the server's error.
	Err error
}

// Error says what the unit was doing and the sentinel's words, with the
// name of the database rule for an invalid value; the server's own message
// stays in Err, out of the text a user may see.
func (e *Error) Error() string {
	msg := e.Op + ": " + e.Kind.Error()
	var pgErr *pgconn.PgError
	if errors.As(e.Err, &pgErr) && pgErr.ConstraintName != "" && errors.Is(e.Kind, domain.ErrInvalid) {
		msg += " (database rule " + pgErr.ConstraintName + ")"
	}
	return msg
}

// Unwrap gives errors.Is and errors.As both the sentinel and the cause.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// sqlstateFOL01 is raised by folio_assert: a write touched a different
// number of rows than it expected (see sql/schema/00005_folio_assert.sql).
const sqlstateFOL01 = "FOL01"

// failure describes how to translate the failure of one statement.
type failure struct {
	op string
	// mismatch is the sentinel for FOL01; unique is the one for 23505,
	// foreign for 23503. Zero values fall back to general translations.
	mismatch, unique, foreign error
}

// translate maps a statement's error to an *Error when the server's answer
// means something in the domain, and wraps anything else with the op.
func (f failure) translate(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("%s: %w", f.op, err)
	}
	kind := classify(pgErr, f)
	if kind == nil {
		return fmt.Errorf("%s: %w", f.op, err)
	}
	return &Error{Op: f.op, Kind: kind, Err: err}
}

func classify(pgErr *pgconn.PgError, f failure) error {
	switch pgErr.Code {
	case sqlstateFOL01:
		if f.mismatch != nil {
			return f.mismatch
		}
		return domain.ErrVersionConflict
	case "23505": // unique_violation
		if f.unique != nil {
			return f.unique
		}
		return domain.ErrAlreadyExists
	case "23503": // foreign_key_violation
		if f.foreign != nil {
			return f.foreign
		}
		return domain.ErrNotFound
	case "23514", "23502", "22003", "22P02", "22021": // check, not null, out of range, bad text, bad encoding
		return domain.ErrInvalid
	}
	if serializationFailure(pgErr.Code) {
		return ErrSerialization
	}
	return nil
}

// serializationFailure reports whether a SQLSTATE is one of those
// ErrSerialization stands for: serialization_failure or deadlock_detected.
func serializationFailure(code string) bool { return code == "40001" || code == "40P01" }

// sessionEnded reports whether a SQLSTATE is one of those ErrSessionEnded
// stands for.
func sessionEnded(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "08000", "08003", "08006":
		return true
	}
	return false
}

func (f failure) fn() func(error) error { return f.translate }
