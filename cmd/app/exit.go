package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pglocal"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// Exit codes. The README has the same table.
const (
	exitOK       = 0 // done
	exitFailure  = 1 // anything else: the database failed, a file could not be read
	exitUsage    = 2 // the command line or configuration is wrong
	exitInvalid  = 3 // a value was refused: bad symbol, name, quantity, date; selling more than held
	exitNotFound = 4 // no such portfolio, security or file
	exitConflict = 5 // a duplicate name or symbol, a change made concurrently
)

// exitCodes maps errors to exit codes, first match wins.
var exitCodes = []struct {
	err  error
	code int
}{
	{errUsage, exitUsage},
	{errInvalidConfig, exitUsage},
	{domain.ErrInvalid, exitInvalid},
	{domain.ErrInsufficientQuantity, exitInvalid},
	{domain.ErrOutOfOrder, exitInvalid},
	{domain.ErrNotFound, exitNotFound},
	{errNoFile, exitNotFound},
	{domain.ErrConflict, exitConflict},
	{uow.ErrSerialization, exitConflict},
	{tracker.ErrPreconditionFailed, exitConflict},
}

var errNoFile = errors.New("no such file")

func exitCode(err error) int {
	for _, m := range exitCodes {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return exitFailure
}

// worded is an error whose message is written for the user: it says what
// happened in the command's words, while errors.Is and errors.As still find
// the sentinels and causes it carries, for the exit code.
type worded struct {
	msg  string
	errs []error
}

func (w *worded) Error() string   { return w.msg }
func (w *worded) Unwrap() []error { return w.errs }

// hinted is an error with a hint for the user, printed on a line of its
// own after the error's.
type hinted struct {
	error
	hint string
}

func (h *hinted) Unwrap() error { return h.error }

// withHint gives err a hint.
func withHint(err error, hint string) error { return &hinted{err, hint} }

// reword returns an error saying msg that wraps errs (nil ones left out).
func reword(msg string, errs ...error) error {
	w := &worded{msg: msg}
	for _, err := range errs {
		if err != nil {
			w.errs = append(w.errs, err)
		}
	}
	return w
}

// fail prints err on stderr in words for the user, with a pointer to --help
// for usage errors, and returns its exit code. With --verbose, an error
// whose message was reworded is logged first as it came.
func fail(e *env, err error, c *command) int {
	msg := message(err, e.changing)
	if _, worded := err.(*worded); !worded && stopped(e) && !errors.Is(err, uow.ErrCommitUnknown) {
		// What the cancelled context made of the step the command was in
		// ("initdb: context canceled") says less than this. Another error
		// keeps its words: it may say more than that the command stopped.
		// An unknown commit outcome keeps its own: the user must check.
		if cancellation(err) {
			msg = "interrupted"
		} else {
			msg = "interrupted: " + msg
		}
	}
	if e.logger != nil && msg != oneLine(strings.TrimSpace(err.Error())) {
		e.logger.Debug("error", "error", err.Error())
	}
	fmt.Fprintf(e.stderr, "folio: %s\n", msg)
	if h := (*hinted)(nil); errors.As(err, &h) {
		fmt.Fprintf(e.stderr, "folio: hint: %s\n", h.hint)
	}
	if errors.Is(err, errUsage) && c != nil {
		fmt.Fprintf(e.stderr, "Run with --help for usage.\n")
	}
	code := exitCode(err)
	if errors.Is(err, domain.ErrNotFound) {
		noteNewCluster(e)
	}
	return code
}

// noteNewCluster is said when a command finds nothing (a portfolio, an
// empty list) in a database it made: most likely folio ran in another
// directory than before (the default data directory is relative) and,
// off a terminal, nothing said so. (On one, the cluster's creation was.)
func noteNewCluster(e *env) {
	if e.created != "" && !e.tty {
		fmt.Fprintf(e.stderr, "folio: note: this command created a new, empty database cluster in %s; "+
			"run folio from the directory you used before, or give --data-dir\n", e.created)
	}
}

// cancellation reports whether err is what a cancelled context makes of a
// step: context.Canceled itself, the server's "canceling statement due to
// user request" (SQLSTATE 57014, what pgx's cancel request brings back), or
// database/sql's "transaction has already been committed or rolled back"
// (goose's migrations, which database/sql rolls back on cancellation), or
// its "connection is already closed" and "driver: bad connection" (a
// demo's server stopped under them).
func cancellation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, context.Canceled) || errors.Is(err, sql.ErrTxDone) ||
		// database/sql (goose's), on a connection closed under it
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		(errors.As(err, &pgErr) && pgErr.Code == "57014")
}

// stopped reports whether a signal (SIGINT, SIGTERM) ended the command's
// context.
func stopped(e *env) bool { return e.ctx != nil && e.ctx.Err() != nil }

// message rewords the errors whose own text would mean little to a user.
// changing names what the command changes, such as `portfolio "Growth"`,
// for the words of a change that kept colliding with concurrent ones; ""
// when the command did not say.
func message(err error, changing string) string {
	if w, ok := err.(*worded); ok {
		return oneLine(w.msg)
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pglocal.ErrNoServer):
		return err.Error()
	case errors.Is(err, uow.ErrSerialization), errors.Is(err, domain.ErrVersionConflict):
		// Runner.Do retried and gave up: the server kept aborting the
		// unit, or the portfolio kept changing under it.
		if changing == "" {
			return "another command changed the same data at the same time; try again"
		}
		return changing + " was changed by another command at the same time; try again"
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		return noTables
	case errors.As(err, &pgErr) && pgErr.Code == "25006": // read_only_sql_transaction
		return "the database is read-only for this user: " + pgErr.Message
	}
	msg := strings.TrimSpace(err.Error())
	if errors.As(err, &pgErr) {
		// The server's words in their context, such as "(the user needs
		// CREATEDB): permission denied to create database", without
		// "ERROR:" and "(SQLSTATE 42501)".
		msg = strings.Replace(msg, pgErr.Error(), pgErr.Message, 1)
	}
	return oneLine(msg)
}

// oneLine joins the lines of a message some errors span, such as pgx's
// for a connection that failed on every address it tried, so that each
// error is one line of stderr. A line that repeats an earlier one, or its
// end, is left out: pgx tries a server twice (with TLS, then without, as
// sslmode=prefer asks) and reports the same refusal for each try.
func oneLine(msg string) string {
	if !strings.Contains(msg, "\n") {
		return msg
	}
	var b strings.Builder
	var kept []string
	for line := range strings.Lines(msg) {
		line = strings.TrimSpace(line)
		if line == "" || slices.ContainsFunc(kept, func(k string) bool { return strings.HasSuffix(k, line) }) {
			continue
		}
		kept = append(kept, line)
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}
