package domain

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the returned errors
// wrap them with context that names the offending value and what is allowed,
// so their messages can be shown to an end user as they are.
//
// The errors form a small tree: every ErrInvalid... error is also ErrInvalid,
// and ErrAlreadyExists, ErrVersionConflict and ErrInUse are also ErrConflict.
// That lets an HTTP layer map whole families to a status code (ErrInvalid to
// 400, ErrConflict to 409, ErrNotFound to 404) while the CLI can still react
// to a specific case.
var (
	// ErrNotFound means the thing asked for does not exist, such as a lot
	// id that is not in the portfolio or a security missing from a lookup.
	ErrNotFound = errors.New("not found")

	// ErrConflict means a change clashes with the current state of storage.
	ErrConflict = errors.New("conflict")

	// ErrAlreadyExists is the ErrConflict for a unique violation, such as a
	// second portfolio with the same name or a second security with the
	// same symbol.
	ErrAlreadyExists = refine(ErrConflict, "already exists")

	// ErrVersionConflict is the ErrConflict for a failed optimistic version
	// check: the portfolio was saved by someone else since it was loaded.
	ErrVersionConflict = refine(ErrConflict, "changed concurrently")

	// ErrInUse is the ErrConflict for deleting something that other rows
	// still reference, such as a security that lots were bought in.
	ErrInUse = refine(ErrConflict, "still in use")

	// ErrInvalid means a value breaks a rule of the domain, whether it came
	// from a user or from corrupt storage.
	ErrInvalid = errors.New("invalid")

	// ErrInvalidSymbol is the ErrInvalid for a security symbol.
	ErrInvalidSymbol = refine(ErrInvalid, "invalid symbol")

	// ErrInvalidName is the ErrInvalid for a portfolio or security name.
	ErrInvalidName = refine(ErrInvalid, "invalid name")

	// ErrInvalidCurrency is the ErrInvalid for a currency code.
	ErrInvalidCurrency = refine(ErrInvalid, "invalid currency")

	// ErrInvalidQuantity is the ErrInvalid for a quantity of shares.
	ErrInvalidQuantity = refine(ErrInvalid, "invalid quantity")

	// ErrInvalidPrice is the ErrInvalid for a price, and also for the unit
	// cost of a lot, which is the price paid per share.
	ErrInvalidPrice = refine(ErrInvalid, "invalid price")

	// ErrInvalidDate is the ErrInvalid for a calendar date.
	ErrInvalidDate = refine(ErrInvalid, "invalid date")

	// ErrCurrencyMismatch is the ErrInvalid for combining a security and a
	// portfolio in different currencies. folio does no currency conversion,
	// so a portfolio holds only securities in its own currency.
	ErrCurrencyMismatch = refine(ErrInvalid, "currency mismatch")

	// ErrInsufficientQuantity means a sale asks for more shares than the
	// portfolio held on the day of the sale.
	ErrInsufficientQuantity = errors.New("insufficient quantity")

	// ErrOutOfOrder means a trade is dated before the portfolio's latest
	// sale. A portfolio keeps the lots it holds, not the history of its
	// trades, so it cannot redo that sale: a buy dated before it would
	// have changed which lots the sale took first in, first out, and a
	// sale dated before it would need shares it took.
	ErrOutOfOrder = errors.New("trade out of date order")
)

// kindError is a sentinel that refines a broader one. It exists so that a
// message reads "already exists" rather than "conflict: already exists"
// while errors.Is(err, ErrConflict) still holds.
type kindError struct {
	msg  string
	kind error
}

func refine(kind error, msg string) error { return &kindError{msg: msg, kind: kind} }

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() error { return e.kind }
