// Package httpapi serves the portfolio tracker as JSON over HTTP. Every route
// calls one method of tracker.Service; the bodies are the tracker's views.
//
//	GET    /healthz                    200 {"status":"ok"} | 503
//	GET    /securities                 ?q=TEXT&after=SYMBOL&limit=N → 200 [SecurityView]
//	POST   /securities                 {"symbol","name","currency"} → 201 SecurityView, Location
//	GET    /securities/{symbol}        200 SecurityView
//	PUT    /securities/{symbol}/price  {"price","date"} → 200 SecurityView
//	GET    /portfolios                 ?q=TEXT&after=NAME&limit=N → 200 [PortfolioSummary]
//	POST   /portfolios                 {"name","currency"} → 201 PortfolioView, Location, ETag
//	GET    /portfolios/{id}            200 PortfolioView, ETag | 304
//	PATCH  /portfolios/{id}            {"name"} → 200 PortfolioView, ETag
//	DELETE /portfolios/{id}            204
//	POST   /portfolios/{id}/trades     {"side","symbol","quantity","price","date"} → 200 TradeView, ETag
//	GET    /portfolios/{id}/report     200 ReportView
//
// # Requests
//
// Bodies are JSON objects sent as application/json (415 otherwise, with
// Accept-Post on POST or Accept-Patch on PATCH; HTTP has none for PUT), at most Options.MaxBodyBytes long (413),
// decoded strictly: an empty body, null, a member whose name is not exactly
// a documented one (names are case-sensitive, unlike encoding/json's
// matching), a member given twice, trailing data after the object, a JSON
// type other than the documented one and a missing required field are
// malformed (400), naming the member where there is one. Decimals
// (quantity, price) are JSON strings such as "12.5", never numbers, so that
// no value passes through a binary float; dates are "YYYY-MM-DD" strings.
// A string field whose value breaks a rule of the domain (a negative
// quantity, "2024-02-30", a day in the future) is unprocessable (422).
// "currency" defaults to USD; "date" (optional, or null) defaults to today.
//
// Ids are UUIDs in their canonical 36-character form. A path id or symbol
// that is not well-formed is malformed (400): it cannot name anything, and
// saying so tells a client its URL is broken rather than that a resource is
// gone. A well-formed id or symbol that names nothing is 404.
//
// Query parameters are those listed above, each at most once; anything else
// is malformed (400), so that a typo (?limt=5) is not silently ignored.
// limit must be an integer from 1 to uow.MaxPageSize (1000), else it is
// malformed (400); without it a page has 100 entries.
//
// # Optimistic concurrency
//
// Responses that carry a portfolio carry its version as a strong ETag,
// `"<version>"`. The report does not: it changes with prices and the day
// while the version stays, and carries the version in its body. PATCH,
// DELETE and POST .../trades honour If-Match: `*` or a list of entity tags;
// the change is made only if the portfolio's ETag is one of them, else 412.
// The comparison is strong (RFC 9110, 13.1.1): a weak tag, or one this API
// never issues ("abc", "02"), is well-formed and simply does not match
// (412); only a value that is not a list of entity tags is malformed (400).
// If-None-Match is the opposite, compared weakly: on GET and HEAD a match
// (or `*`) is 304, on a write 412. Both are honoured on every route but
// /healthz; the resources other than a portfolio have no ETag, so that
// `*` is all that can match them. Conditions come before the content: a
// failing one is 412 even when a member of the body is invalid too; a
// missing portfolio or security is 404 whatever they say, which tells the
// client more than the 412 RFC 9110 allows. Without them the change is made
// whatever the version: a condition is how a client opts in to lost-update
// protection. conditional.go has the details.
//
// # Errors
//
// Every error is an RFC 9457 problem (application/problem+json) whose type
// is ProblemTypeBase followed by a stable slug; the table kinds in
// problem.go is the one place that maps errors to them:
//
//	400 malformed-request       bad JSON, unknown, repeated or mistyped member, trailing
//	                            data, missing member, malformed id/symbol/query/If-(None-)Match
//	404 not-found               domain.ErrNotFound, unknown route
//	405 method-not-allowed      with Allow
//	408 request-timeout         a body slower than RequestTimeout or the server's ReadTimeout
//	409 already-exists, in-use, concurrent-change, conflict   domain.ErrConflict
//	412 precondition-failed     tracker.ErrPreconditionFailed: an If-Match or If-None-Match that fails
//	413 body-too-large          over Options.MaxBodyBytes
//	415 unsupported-media-type  a body that is not application/json
//	422 invalid-value           domain.ErrInvalid
//	422 insufficient-quantity   domain.ErrInsufficientQuantity
//	422 out-of-order            domain.ErrOutOfOrder: a trade dated before the portfolio's latest sale
//	503 unavailable, timeout    database unreachable, a Gate not yet open, RequestTimeout exceeded; Retry-After
//	500 internal-error, commit-unknown
//
// A problem has "field" when one member of the body (or query parameter)
// is at fault, its name exactly as sent (even "", which the detail then
// says in words): a value the domain refuses, a name or symbol already taken
// (409), a price older than the current one (date), a trade dated before
// the portfolio's latest sale (date), a sale of more than
// is held (quantity, also for a sale of a security in another currency,
// which the portfolio cannot hold), a security unknown or, for a buy, in
// another currency (symbol; an unknown portfolio is the path's, and has no
// field).
//
// Clients branch on type (or status); detail is for people, and is the
// error's message, which the domain writes for end users. For 5xx, and
// for a concurrent change that outlasted the retries, the detail is fixed
// (for the latter, naming the route's resource: "the security was changed
// by another request at the same time; try again") and the real error
// goes to the log only. The instance is the request's
// path.
//
// # Responses
//
// Every response the handler writes (not net/http's server's own answers
// to requests it refuses before the handler: 400, 417, 431, 501, 505) has
// X-Request-Id (the client's, if it sent a sane one: up to 64 of
// [A-Za-z0-9_-]), X-Content-Type-Options: nosniff and
// Cache-Control: no-store (portfolios change, and a cached copy would hide
// that). JSON bodies are compact, with a trailing newline.
package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/folio-dev/folio/internal/tracker"
)

// Options configure the handler. The zero value is usable.
type Options struct {
	// Logger receives one line per request (nil: discard).
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// RequestTimeout is the deadline given to each request's context
	// (default 10s), which bounds its database work; a request that runs
	// out of time gets a 503.
	RequestTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRequestTimeout = 10 * time.Second
)

// api is the handler New returns.
type api struct {
	svc     *tracker.Service
	mux     *http.ServeMux
	log     *slog.Logger
	maxBody int64
	timeout time.Duration
}

// New returns the API's http.Handler over svc. It never fails: every error
// of a request becomes a problem response. A nil svc is a service still
// starting (see Gate): every route answers 503.
func New(svc *tracker.Service, opts Options) http.Handler {
	a := &api{
		svc:     svc,
		mux:     http.NewServeMux(),
		log:     opts.Logger,
		maxBody: opts.MaxBodyBytes,
		timeout: opts.RequestTimeout,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.timeout <= 0 {
		a.timeout = DefaultRequestTimeout
	}
	a.routes()
	return a
}

// Gate is the handler of a server that listens before its service is
// ready, while it starts, migrates or waits for its database: until Open,
// every route answers 503 (unavailable, with Retry-After), the health
// check too, and requests that name no route get their 404 or 405 as
// usual. A client or probe that connects meanwhile hears that the service
// is on its way instead of waiting on an unanswered connection.
type Gate struct {
	starting http.Handler
	api      atomic.Pointer[http.Handler]
}

// NewGate returns a closed Gate whose answers follow opts (its logger logs
// them).
func NewGate(opts Options) *Gate { return &Gate{starting: New(nil, opts)} }

// Open sends every later request to h.
func (g *Gate) Open(h http.Handler) { g.api.Store(&h) }

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.api.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	g.starting.ServeHTTP(w, r)
}

// handlerFunc is a route: it writes a success response or returns the error
// that becomes the problem response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// anyQuery, as handle's only parameter, lets a route take any query.
const anyQuery = "*"

func (a *api) handle(pattern string, h handlerFunc, params ...string) {
	resource := resourceOf(pattern)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		infoOf(r).resource = resource
		// Query parameters a route does not take are refused, as unknown
		// members of a body are: a misspelt one would otherwise be
		// ignored without a word. anyQuery: but for the health check,
		// which probes call with parameters (and headers) of their own.
		// Their preconditions too (conditional.go), parsed once here so
		// that a malformed one is 400 on every route, before anything is
		// done.
		var err error
		if a.svc == nil {
			err = errStarting
		} else if !slices.Equal(params, []string{anyQuery}) {
			_, err = query(r, params...)
			if err == nil {
				infoOf(r).cond, err = parseConditions(r)
			}
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			a.problem(w, r, err)
		}
	})
}

// resourceOf names what a route's pattern is about, after the first
// segment of its path, for the words of a problem: "portfolio",
// "security", or "data" for a route about neither.
func resourceOf(pattern string) string {
	_, path, _ := strings.Cut(pattern, " ")
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch first {
	case "portfolios":
		return "portfolio"
	case "securities":
		return "security"
	}
	return "data"
}

// requestInfo travels in a request's context from ServeHTTP to whatever
// writes the response, and back to the log line.
type requestInfo struct {
	id string
	// err is the error behind a problem response; slug its type; hidden
	// says that the response shows a fixed detail instead of err.
	err    error
	slug   string
	hidden bool
	// resource is what the route is about (resourceOf), "" before a
	// route is found.
	resource string
	// cond are the request's If-Match and If-None-Match.
	cond conditions
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{} // a handler called outside ServeHTTP (never in practice)
}

// ServeHTTP is the middleware every request passes through, in this order:
// request id and headers, body limit, deadline, panic recovery, routing
// (unknown routes and methods become problems too), then the log line.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &requestInfo{id: requestID(r.Header.Get("X-Request-Id"))}
	h := w.Header()
	h.Set("X-Request-Id", ri.id)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	rw := &responseWriter{ResponseWriter: w}

	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), infoKey{}, ri), a.timeout)
	defer cancel()
	r = r.WithContext(ctx)
	if r.Body != nil {
		// The server's own writer, not rw: through it net/http learns that
		// the body was cut off and closes the connection after the 413.
		deadline, _ := ctx.Deadline()
		if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
			// The deadline replaces the server's own for the request,
			// which may come sooner.
			if d := start.Add(srv.ReadTimeout); d.Before(deadline) {
				deadline = d
			}
		}
		body := &deadlineBody{
			ReadCloser: http.MaxBytesReader(w, r.Body, a.maxBody),
			rc:         http.NewResponseController(w),
			deadline:   deadline,
		}
		r.Body = body
		if r.ContentLength != 0 {
			// Before the response goes out: see unread.
			rw.beforeWrite = body.unread
		}
	}

	handler, pattern := a.mux.Handler(r)
	var stack []byte
	func() {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // the handler asked net/http to drop the connection
			}
			stack = debug.Stack()
			err := fmt.Errorf("panic: %v", p)
			if rw.status != 0 {
				// Part of a response is out; completing it could pass a
				// truncated body off as whole. Let net/http drop the
				// connection instead, after the log line below.
				ri.err = err
				a.logRequest(r, rw, ri, pattern, start, stack)
				panic(http.ErrAbortHandler)
			}
			a.problem(rw, r, err)
		}()
		if err := checkHost(r); err != nil {
			a.problem(rw, r, err)
			return
		}
		if pattern == "" {
			a.unrouted(rw, r, handler)
			return
		}
		a.mux.ServeHTTP(rw, r)
	}()
	rw.writing() // a handler that wrote nothing
	a.logRequest(r, rw, ri, pattern, start, stack)
}

// checkHost refuses a request that reached a loopback address for a host
// that is not a loopback name. The API has no authentication, and is meant
// for this machine; but a web page open in a browser here can have its
// own host name resolve to 127.0.0.1 (DNS rebinding), and its script then
// reaches the API as a page of that host, unhindered by the browser's
// same-origin rules. Its requests still carry that name in Host, which is
// what this looks at. A server listening on another address, a wildcard
// one included, serves whatever host name the operator gave it, and is not
// checked. A request without Host (HTTP/1.0) comes from no browser, and
// passes. Under Serve the address is the listener's; under another
// http.Server, the one the connection came to.
func checkHost(r *http.Request) error {
	local, ok := r.Context().Value(listenAddrKey{}).(*net.TCPAddr)
	if !ok {
		local, ok = r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	}
	if !ok || !local.IP.IsLoopback() {
		return nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return nil
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); ip != nil && ip.IsLoopback() {
		return nil
	}
	return &requestError{kind: errMisdirected, msg: fmt.Sprintf(
		"this server listens on a loopback address and answers requests for localhost, 127.0.0.1 or [::1] only, not for host %q", clip(r.Host))}
}

// listenAddrKey is the context key under which Serve puts the address it
// listens on.
type listenAddrKey struct{}

// unrouted turns the mux's plain-text 404 and 405 into problems, and
// answers OPTIONS (RFC 9110, 9.3.7): 204 with the methods of the resource
// in Allow, and the body types its POST or PATCH takes (Accept-Post,
// Accept-Patch). Anything else the mux answers without a route (the
// redirect to a cleaned path) passes through.
func (a *api) unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if r.RequestURI == "*" {
		// "OPTIONS *" asks about the server, not a resource; the mux
		// would redirect it to "/".
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		a.problem(w, r, &requestError{kind: errNoRoute, msg: "there is no resource at *"})
		return
	}
	c := &capture{header: http.Header{}}
	h.ServeHTTP(c, r)
	switch c.status {
	case http.StatusNotFound:
		// The instance has the whole path; the detail only its beginning.
		a.problem(w, r, &requestError{kind: errNoRoute, msg: "there is no resource at " + clip(r.URL.EscapedPath())})
	case http.StatusMethodNotAllowed:
		allow := c.header.Get("Allow") + ", OPTIONS"
		w.Header().Set("Allow", allow)
		if r.Method == http.MethodOptions {
			for _, m := range strings.Split(allow, ", ") {
				switch m {
				case http.MethodPost:
					w.Header().Set("Accept-Post", "application/json")
				case http.MethodPatch:
					w.Header().Set("Accept-Patch", "application/json")
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		a.problem(w, r, &requestError{kind: errMethod, msg: fmt.Sprintf("%s is not allowed here; use %s", clip(r.Method), allow)})
	default:
		for k, v := range c.header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.status)
		_, _ = w.Write(c.body)
	}
}

// logRequest writes the request's one log line: never a body, a query
// string or a header other than the request id, since those may hold names
// or credentials. 5xx lines are errors; they, and the lines of problems
// whose detail was fixed rather than the error's message, carry the error.
func (a *api) logRequest(r *http.Request, rw *responseWriter, ri *requestInfo, pattern string, start time.Time, stack []byte) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing
	}
	sent := rw.bytes
	if r.Method == http.MethodHead {
		sent = 0 // net/http sends no body, whatever the handler wrote
	}
	attrs := []slog.Attr{
		slog.String("request_id", ri.id),
		slog.String("method", clip(r.Method)),
		slog.String("path", logPath(r.URL.Path)),
		slog.String("route", pattern),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int64("bytes", sent),
	}
	level := slog.LevelInfo
	if ri.slug != "" {
		attrs = append(attrs, slog.String("problem", ri.slug))
	}
	if status >= 500 && !errors.Is(ri.err, errStarting) { // starting: as expected
		level = slog.LevelError
	}
	if ri.err != nil && (status >= 500 || ri.hidden) {
		// What the response did not show.
		attrs = append(attrs, slog.String("error", ri.err.Error()))
	}
	if stack != nil {
		attrs = append(attrs, slog.String("stack", string(stack)))
	}
	// The request's own context may be past its deadline; the line must
	// be written all the same.
	a.log.LogAttrs(context.WithoutCancel(r.Context()), level, "request", attrs...)
}

// maxLogPath bounds the path in a log line: a route's path is far
// shorter, and a client's 60,000-byte path would otherwise make every
// request of it a 60,000-byte line.
const maxLogPath = 256

// logPath is path cut to maxLogPath bytes at a character boundary, with
// "…" and the length after a cut.
func logPath(path string) string {
	if len(path) <= maxLogPath {
		return path
	}
	return fmt.Sprintf("%s (%d bytes)", clipTo(path, maxLogPath), len(path))
}

// requestID returns the client's request id if it is sane (1 to 64 of
// [A-Za-z0-9_-], so it cannot forge log lines or bloat them), else a new
// random one.
func requestID(in string) string {
	if len(in) >= 1 && len(in) <= 64 {
		ok := true
		for i := 0; i < len(in) && ok; i++ {
			c := in[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		}
		if ok {
			return in
		}
	}
	return rand.Text()
}

// deadlineBody holds the reading of a request body to the request's
// deadline: a body still arriving when the request's time runs out fails
// to read then (408), rather than when it is complete or the server's
// longer ReadTimeout ends it. Once the whole body is in, the connection
// goes back to no deadline: net/http then waits for the client to hang up,
// and a deadline running out there would cancel the request. (net/http
// clears it itself at the end of a body with a length; an empty body ends
// after that wait has begun.) A body that fails to arrive keeps its passed
// deadline, so that net/http's drain of the rest, before it closes the
// connection, ends at once instead of waiting on a client that may never
// send it.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	deadline time.Time
	set, end bool
}

// unread holds to the request's deadline what net/http reads of a body
// the handler left unread (a GET's, or one refused before it was
// decoded): it drains the body before it sends the response, to reuse
// the connection, and would otherwise wait for a client that stalls as
// long as the server's ReadTimeout. It runs before the response's first
// byte is written (a response larger than net/http's buffer goes out, and
// the body is drained, while the handler writes it), and only for a
// request with a body: net/http has begun its own read of the connection
// for one without, and after a drained body, which a deadline would cut
// short (it clears the deadline when it begins that read).
func (b *deadlineBody) unread() {
	if !b.set {
		b.set = true
		_ = b.rc.SetReadDeadline(b.deadline)
	}
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.set {
		b.set = true
		// Not every writer can (httptest's cannot): then the request's
		// deadline is checked once the body is in (see decode).
		_ = b.rc.SetReadDeadline(b.deadline)
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.end {
		b.end = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// responseWriter records the status and size of a response for the log.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// beforeWrite, if set, runs once, before the response is written.
	beforeWrite func()
}

// writing runs beforeWrite, the first time only.
func (w *responseWriter) writing() {
	if f := w.beforeWrite; f != nil {
		w.beforeWrite = nil
		f()
	}
}

func (w *responseWriter) WriteHeader(status int) {
	w.writing()
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.writing()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// capture holds the mux's own answer to a request without a route.
type capture struct {
	header http.Header
	status int
	body   []byte
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body = append(c.body, b...)
	return len(b), nil
}
