package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// ProblemTypeBase prefixes the type of every problem this API returns; the
// rest is a slug from the table below, such as "not-found". The types are
// stable identifiers for clients to branch on, and, as RFC 9457 asks of
// http(s) types, they lead to documentation: the section of
// docs/problems.md in the project's repository that the slug names.
const ProblemTypeBase = "https://github.com/folio-dev/folio/blob/main/docs/problems.md#"

// Errors found by this package, before the tracker is called. They are
// wrapped in *requestError with a message for the client.
var (
	errMalformed = errors.New("malformed request")
	errNoRoute   = errors.New("no such route")
	errMethod    = errors.New("method not allowed")
	errTooLarge  = errors.New("request body too large")
	// errSlowBody is a body that did not arrive in time: the client's
	// fault, not the server's (408, not 503).
	errSlowBody  = errors.New("request body too slow")
	errMediaType = errors.New("unsupported media type")
	// errEncoding is a body in a content coding: also a 415, which says
	// so with Accept-Encoding instead of Accept-Post.
	errEncoding = errors.New("unsupported content coding")
	// errUnavailable marks a failed health check: whatever the cause,
	// the service cannot do its work.
	errUnavailable = errors.New("service unavailable")
	// errStarting is every request to a Gate not yet open.
	errStarting = errors.New("service starting")
	// errMisdirected is a request, to a server on a loopback address, for
	// a host that is not a loopback name (see checkHost).
	errMisdirected = errors.New("misdirected request")
)

// kind is one row of the error table.
type kind struct {
	match  func(error) bool
	status int
	slug   string
	title  string
	// detail, when set, replaces the error's message, which then goes to
	// the log only: for errors that may describe internals (5xx, and
	// conflicts that outlasted the retries). {resource} in it stands for
	// what the route is about ("portfolio", "security"). The field, if
	// any, stays, except on 5xx, where no member of the request is at
	// fault.
	detail string
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// kinds maps errors to responses: the first row whose match holds wins, so
// specific rows come before the families that contain them (ErrAlreadyExists
// before ErrConflict). This is the only place a status code is chosen for an
// error.
var kinds = []kind{
	{is(errMalformed), http.StatusBadRequest, "malformed-request", "Malformed request", ""},
	{is(errNoRoute), http.StatusNotFound, "not-found", "Not found", ""},
	{is(errMethod), http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", ""},
	{is(errMisdirected), http.StatusMisdirectedRequest, "misdirected-request", "Misdirected request", ""},
	{is(errTooLarge), http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", ""},
	{is(errSlowBody), http.StatusRequestTimeout, "request-timeout", "Request timeout", ""},
	{as[*http.MaxBytesError], http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", ""},
	{is(errMediaType), http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", ""},
	{is(errEncoding), http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", ""},
	{is(errUnavailable), http.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"the database is unavailable; try again later"},
	{is(errStarting), http.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"the service is starting and its database is not ready yet; try again shortly"},
	{is(tracker.ErrPreconditionFailed), http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", ""},
	// A trade's symbol that names no security: the request's content is
	// at fault, not its target (which is there), so 422, not 404.
	{is(tracker.ErrUnknownSecurity), http.StatusUnprocessableEntity, "invalid-value", "Invalid value", ""},
	{is(domain.ErrNotFound), http.StatusNotFound, "not-found", "Not found", ""},
	{is(domain.ErrAlreadyExists), http.StatusConflict, "already-exists", "Already exists", ""},
	{is(domain.ErrInUse), http.StatusConflict, "in-use", "Still in use", ""},
	// A version conflict or serialization failure that outlasted the
	// runner's retries: the client may simply try again. The error tells
	// of attempts, statements and SQLSTATEs: the log's business.
	{is(domain.ErrVersionConflict), http.StatusConflict, "concurrent-change", "Changed concurrently", concurrentDetail},
	{is(uow.ErrSerialization), http.StatusConflict, "concurrent-change", "Changed concurrently", concurrentDetail},
	{is(domain.ErrConflict), http.StatusConflict, "conflict", "Conflict", ""},
	{is(domain.ErrInsufficientQuantity), http.StatusUnprocessableEntity, "insufficient-quantity", "Insufficient quantity", ""},
	{is(domain.ErrOutOfOrder), http.StatusUnprocessableEntity, "out-of-order", "Trade out of date order", ""},
	{is(domain.ErrInvalid), http.StatusUnprocessableEntity, "invalid-value", "Invalid value", ""},
	// First among the failures that may come with a context that ended: a
	// change that may be saved must not be answered "try again".
	{is(uow.ErrCommitUnknown), http.StatusInternalServerError, "commit-unknown", "Outcome unknown",
		"the connection to the database failed during the commit, so the change may or may not have been saved; read it back before you retry"},
	// Out of time (Options.RequestTimeout) is 503, not 504: there is no
	// gateway here, and 503 tells the client that trying later may work.
	{is(context.DeadlineExceeded), http.StatusServiceUnavailable, "timeout", "Request timed out",
		"the request took longer than the server allows; try again later"},
	{is(context.Canceled), http.StatusServiceUnavailable, "canceled", "Request canceled",
		"the request was canceled before it completed"},
	{as[*pgconn.ConnectError], http.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"the database is unavailable; try again later"},
	// The server ended the session (a restart, a failover, an
	// administrator) through all the runner's attempts: the transaction
	// was rolled back, and trying later may work. (In answer to COMMIT it
	// is ErrCommitUnknown, above.)
	{is(uow.ErrSessionEnded), http.StatusServiceUnavailable, "unavailable", "Service unavailable",
		"the database is unavailable; try again later"},
}

const concurrentDetail = "the {resource} was changed by another request at the same time; try again"

// retryAfter is the Retry-After, in seconds, of a 503: a database that
// does not answer, or a request out of time, may do better shortly.
const retryAfter = "5"

// internal is the row for every other error.
var internal = kind{nil, http.StatusInternalServerError, "internal-error", "Internal error", "internal error"}

func classify(err error) kind {
	for _, k := range kinds {
		if k.match(err) {
			return k
		}
	}
	return internal
}

// problemBody is an RFC 9457 problem, with the extension member field.
type problemBody struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	// Field names the request body's member (or query parameter) that is
	// at fault, when one is: exactly, and present even when the name is
	// empty (then the detail says so in words).
	Field *string `json:"field,omitempty"`
}

// requestError is an error in the request found by this package.
type requestError struct {
	kind  error
	msg   string
	field string
	// member: field names the member (or query parameter) at fault, even
	// when it is "".
	member bool
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.kind }

// fieldError attributes an error (from a domain.Parse function, say) to a
// member of the request.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// fieldOf returns the name of the member (or query parameter) err is
// about, and whether it is about one.
func fieldOf(err error) (string, bool) {
	var re *requestError
	if errors.As(err, &re) && re.member {
		return re.field, true
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.field, true
	}
	return "", false
}

// problem writes err as a problem response and notes it for the log line.
// The instance is the request's path: the occurrence is that request. A
// 415 says what the route accepts (Accept-Post, Accept-Patch: RFC 9110
// 15.5.16 and RFC 5789 3.1; or Accept-Encoding, for a content coding), a
// 503 when to try again (Retry-After).
func (a *api) problem(w http.ResponseWriter, r *http.Request, err error) {
	k := classify(err)
	ri := infoOf(r)
	ri.err, ri.slug, ri.hidden = err, k.slug, k.detail != ""
	p := problemBody{
		Type:     ProblemTypeBase + k.slug,
		Title:    k.title,
		Status:   k.status,
		Detail:   err.Error(),
		Instance: r.URL.EscapedPath(),
	}
	if field, ok := fieldOf(err); ok {
		p.Field = &field
	}
	if k.detail != "" {
		resource := ri.resource
		if resource == "" {
			resource = "data"
		}
		p.Detail = strings.ReplaceAll(k.detail, "{resource}", resource)
	}
	if k.status >= 500 {
		p.Field = nil
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(p) // strings and ints only: cannot fail
	h := w.Header()
	switch {
	case errors.Is(err, errEncoding):
		// RFC 9110, 12.5.3: the codings that would have been accepted.
		h.Set("Accept-Encoding", "identity")
	case k.status == http.StatusUnsupportedMediaType:
		switch r.Method {
		case http.MethodPost:
			h.Set("Accept-Post", "application/json")
		case http.MethodPatch:
			h.Set("Accept-Patch", "application/json")
		}
	case k.status == http.StatusServiceUnavailable:
		h.Set("Retry-After", retryAfter)
	case k.status == http.StatusRequestTimeout:
		// RFC 9110, 15.5.9: the server closes the connection.
		h.Set("Connection", "close")
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(k.status)
	_, _ = w.Write(buf.Bytes())
}

// reply writes v as compact JSON with a trailing newline. The body is
// encoded before anything is sent, so a failure is still a clean 500.
func reply(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}
