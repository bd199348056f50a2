package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/folio-dev/folio/internal/httpapi"
)

// serving is serve's HTTP server, answering since before the command
// connected: through its gate, with 503 until serve opens it.
type serving struct {
	gate   *httpapi.Gate
	addr   string // where it listens
	logger *slog.Logger
	ctx    context.Context // ends the server
	cancel context.CancelCauseFunc
	done   chan error // Serve's result
	opened atomic.Bool
}

// gatedHandler passes records to h once open is true, and drops them
// before.
type gatedHandler struct {
	h    slog.Handler
	open *atomic.Bool
}

func (g gatedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return g.open.Load() && g.h.Enabled(ctx, l)
}

func (g gatedHandler) Handle(ctx context.Context, r slog.Record) error {
	if !g.open.Load() {
		return nil
	}
	return g.h.Handle(ctx, r)
}

func (g gatedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return gatedHandler{g.h.WithAttrs(as), g.open}
}

func (g gatedHandler) WithGroup(name string) slog.Handler {
	return gatedHandler{g.h.WithGroup(name), g.open}
}

// listen opens serve's listener and starts serving before the command
// connects. An address in use or a host that does not resolve is said at
// once, not after initdb, a server start and migrations, or a wait for
// another folio's server to stop (a second serve on the same data
// directory waits for the first, which would hide its own port conflict
// until the first stops). Meanwhile every request is answered, with 503
// and Retry-After, rather than left hanging on a connection nobody
// accepts: a probe that waits for /healthz sees the service starting.
func listen(e *env) (func(), error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(e.ctx, "tcp", flagOf(e, "addr"))
	if err != nil {
		return nil, err
	}
	// Request logs are the point of a server's log: info level at least.
	logger := e.logger
	if !e.g.verbose {
		logger = newLogger(e.stderr, slog.LevelInfo, e.g.json)
	}
	ctx, cancel := context.WithCancelCause(e.ctx)
	s := &serving{gate: httpapi.NewGate(httpapi.Options{Logger: logger}), addr: ln.Addr().String(), logger: logger, ctx: ctx, cancel: cancel, done: make(chan error, 1)}
	// The server's own messages (listening, shutting down) are dropped
	// until the API opens (serve then logs "ready"): a start that fails
	// ends with its error alone. Requests answered meanwhile are logged
	// by the gate as they come.
	srv := httpapi.Server{Handler: s.gate, Logger: slog.New(gatedHandler{logger.Handler(), &s.opened}), Hurry: hurryOf(e.ctx)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	e.serving = s
	return func() {
		cancel(nil)
		if e.serving != nil { // the command failed before serve ran
			<-s.done
		}
	}, nil
}

func serve(e *env, _ []string) error {
	s := e.serving
	e.serving = nil // waited for here
	if e.embedded != nil {
		// serve owns its embedded server: should the server die
		// (killed, crashed), serve goes with it, so that whatever
		// supervises it sees a failure and starts both again, rather
		// than a serve that answers 503 forever and whose lock on the
		// data directory makes every other command wait.
		go func() {
			select {
			case <-e.embedded.Exited():
				s.cancel(errServerDied)
			case <-s.ctx.Done():
			}
		}()
	}
	if s.ctx.Err() == nil { // else a signal came as the database got ready: no "ready"
		// Said before the API opens: no request is answered before it.
		s.opened.Store(true)
		s.logger.LogAttrs(e.ctx, slog.LevelInfo, "ready", slog.String("addr", s.addr))
		s.gate.Open(httpapi.New(e.svc, httpapi.Options{Logger: s.logger}))
	}
	err := <-s.done
	if errors.Is(err, httpapi.ErrHurried) {
		// In the words of someone who pressed Ctrl-C twice; the
		// request log has the rest, and the error still wraps it.
		return reword("interrupted: a second signal cut off the requests still running on "+s.addr, err)
	}
	if errors.Is(context.Cause(s.ctx), errServerDied) {
		return fmt.Errorf("%w (see %s); serve stopped with it", errServerDied, filepath.Join(e.embedded.DataDir(), "log", "server.log"))
	}
	return err
}

// errServerDied: the embedded server exited under serve.
var errServerDied = errors.New("the embedded PostgreSQL exited while serve was running")

// addrValue is the --addr flag: host:port, checked when the command line
// is read, so that a mistyped address is a usage error (exit 2) given
// before anything starts, not a failure to listen after connecting.
type addrValue string

func (a *addrValue) String() string { return string(*a) }

func (a *addrValue) Set(s string) error {
	if s != "" { // refused with a hint of its own, see emptyValues
		_, port, err := net.SplitHostPort(s)
		if err != nil {
			var ae *net.AddrError
			if errors.As(err, &ae) {
				err = errors.New(ae.Err)
			}
			return fmt.Errorf("%v; give host:port, such as 127.0.0.1:8080 or :8080", err)
		}
		if port == "" {
			return errors.New("the port is missing; give host:port, such as 127.0.0.1:8080 or :8080")
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			// A service name (":http") is what net.Listen takes too.
			if _, err := net.LookupPort("tcp", port); err != nil {
				return fmt.Errorf("port %q is neither a number from 0 to 65535 nor a service name", port)
			}
		}
	}
	*a = addrValue(s)
	return nil
}

// newLogger logs to w from level up: text lines, or with asJSON (--json)
// one JSON object per line, for a log collector to read.
func newLogger(w io.Writer, level slog.Level, asJSON bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
