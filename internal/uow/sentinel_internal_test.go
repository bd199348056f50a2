package uow

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
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

// What ends a session in answer to COMMIT: the server's terminate and
// crash, and PgBouncer's "server connection closed" (seen in CI in front of
// a unit that wrote nothing, whose backend was terminated while it was
// idle: PgBouncer answered its COMMIT with it). An idle-in-transaction
// timeout rolled back before COMMIT came; an ERROR does not end the
// session.
func TestEndsSessionAtCommit(t *testing.T) {
	for _, tc := range []struct {
		err          *pgconn.PgError
		fatal, ended bool
	}{
		{&pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true, true},
		{&pgconn.PgError{Severity: "PANIC", Code: "57P02"}, true, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "server connection closed"}, true, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "25P03"}, true, false},
		{&pgconn.PgError{Severity: "ERROR", Code: "40001"}, false, false},
		{&pgconn.PgError{Severity: "ERROR", Code: "08P01"}, false, false},
		// A server with lc_messages in another language translates S but
		// never V.
		{&pgconn.PgError{Severity: "ВАЖНО", SeverityUnlocalized: "FATAL", Code: "57P01"}, true, true},
		{&pgconn.PgError{Severity: "PANIK", SeverityUnlocalized: "PANIC", Code: "57P02"}, true, true},
		{&pgconn.PgError{Severity: "ВАЖНО", SeverityUnlocalized: "FATAL", Code: "25P03"}, true, false},
		{&pgconn.PgError{Severity: "ОШИБКА", SeverityUnlocalized: "ERROR", Code: "40001"}, false, false},
		// V wins over S when both are present.
		{&pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "ERROR", Code: "57P01"}, false, false},
	} {
		err := fmt.Errorf("uow: commit: %w", tc.err)
		assert.Equal(t, tc.fatal, fatal(err), "%s %s", tc.err.Severity, tc.err.Code)
		assert.Equal(t, tc.ended, endsSessionAtCommit(err), "%s %s", tc.err.Severity, tc.err.Code)
	}
	assert.False(t, fatal(errors.New("broken pipe")))
}

// What, met anywhere in a round trip of writes that ends with COMMIT,
// leaves the COMMIT's outcome unknown: a connection that failed after the
// pipeline went out, and PgBouncer's FATAL for a lost server connection,
// which may answer the first write of a pipeline the server ran to its
// end. The server's own FATAL (terminated at a write) and an ERROR say
// where the server stopped: before COMMIT.
func TestLostInFlight(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wasOpen bool
		lost    bool
	}{
		// PgBouncer sends S, C and M only.
		{"PgBouncer lost the server", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "server conn crashed?"}, true, true},
		{"PgBouncer's query timeout on a server", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "query timeout"}, true, true},
		// Its words for a client it never gave a server (notForwarded)
		// are believed only in the round trip with BEGIN, which
		// roundTrip tells apart: in a later one, they are not.
		{"PgBouncer's query_wait_timeout, after BEGIN", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "query_wait_timeout"}, true, true},
		// The server sends V and R too: its FATAL answers where it stopped.
		{"the server's protocol violation", &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08P01",
			Message: "invalid frontend message type 0", Routine: "SocketBackend"}, true, false},
		{"terminated at the write", &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01", Routine: "ProcessInterrupts"}, true, false},
		{"a constraint", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, true, false},
		{"an ERROR 08P01", &pgconn.PgError{Severity: "ERROR", Code: "08P01"}, true, false},
		{"conn closed after send", fmt.Errorf("read: %w", pgconn.ErrConnClosed), true, true},
		{"nothing sent", nothingSent{}, true, false},
		{"broken pipe", errors.New("broken pipe"), true, true},
	} {
		assert.Equal(t, tc.lost, lostInFlight(fmt.Errorf("uow: insert: %w", tc.err), tc.wasOpen), tc.name)
	}
}

// nothingSent is an error pgx marks safe to retry: nothing reached the
// server.
type nothingSent struct{}

func (nothingSent) Error() string     { return "dial: connection refused" }
func (nothingSent) SafeToRetry() bool { return true }

// PgBouncer's FATALs for a client still waiting for a server say nothing
// was run; its others, and the server's, do not.
func TestNotForwarded(t *testing.T) {
	for _, tc := range []struct {
		err  *pgconn.PgError
		want bool
	}{
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "query_wait_timeout"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "client_login_timeout (server down)"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "server login has been failing, try again later (server_login_retry)"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "server conn crashed?"}, false},
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "query_timeout"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "query timeout"}, false},
		{&pgconn.PgError{Severity: "ERROR", Code: "08P01", Message: "query_wait_timeout"}, false},
		// The same words from the server (a RAISE, say) are not PgBouncer's.
		{&pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08P01", Message: "query_wait_timeout", Routine: "exec_stmt_raise"}, false},
	} {
		assert.Equal(t, tc.want, notForwarded(fmt.Errorf("uow: begin: %w", tc.err)), tc.err.Message)
	}
}
