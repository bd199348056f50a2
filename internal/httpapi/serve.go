package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits of the http.Server that Server runs. The read and write timeouts
// leave room for DefaultRequestTimeout, so that a request that runs out of
// time still gets its 503 rather than a dropped connection.
const (
	// ReadHeaderTimeout bounds the request line and headers: a client that
	// trickles them in (slowloris) holds a connection for no longer.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds the whole request, body included.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response. It outlasts ReadTimeout, so that a body
	// still arriving when that runs out still gets its 408.
	WriteTimeout = ReadTimeout + 5*time.Second
	// IdleTimeout closes keep-alive connections that sit unused.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds the request line and headers; the API needs
	// far less than net/http's default of 1 MiB.
	MaxHeaderBytes = 64 << 10
	// DefaultShutdownGrace is how long Serve lets in-flight requests
	// finish once its context is done.
	DefaultShutdownGrace = 15 * time.Second
)

// ErrHurried is the cause of a shutdown cut short by Server.Hurry: Serve's
// error wraps it when requests still running were cut off.
var ErrHurried = errors.New("told not to wait for them")

// cutOff is the error of a shutdown whose grace period ran out: its
// message says so in words, and it unwraps to what ended the wait
// (context.DeadlineExceeded) and any error of closing the connections.
type cutOff struct {
	msg   string
	cause error
}

func (e *cutOff) Error() string { return e.msg }
func (e *cutOff) Unwrap() error { return e.cause }

// Server runs a handler until its context is done, then shuts down
// gracefully.
type Server struct {
	Handler http.Handler
	// Logger receives the server's own messages (nil: discard).
	Logger *slog.Logger
	// ShutdownGrace is how long in-flight requests may take to finish
	// after the context is done (default DefaultShutdownGrace).
	ShutdownGrace time.Duration
	// Hurry, once closed, ends the grace period at once: requests still
	// running are cut off (a second Ctrl-C, say). nil: never.
	Hurry <-chan struct{}
}

// Serve is Server{Handler: h, Logger: logger}.Serve(ctx, ln).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	return Server{Handler: h, Logger: logger}.Serve(ctx, ln)
}

// ListenAndServe is Server{Handler: h, Logger: logger}.ListenAndServe(ctx,
// addr).
func ListenAndServe(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	return Server{Handler: h, Logger: logger}.ListenAndServe(ctx, addr)
}

// ListenAndServe listens on the TCP address addr and calls Serve. It
// returns the error of net.Listen, or Serve's.
func (s Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	return s.Serve(ctx, ln)
}

// httpServer is the http.Server that Serve runs, with the limits above.
func (s Server) httpServer(logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// "OPTIONS *" reaches the handler, which answers it as any
		// request: a request id, a log line, a problem.
		DisableGeneralOptionsHandler: true,
	}
}

// Serve serves HTTP on ln, which it closes, until ctx is done. Then it
// stops accepting connections, closes idle ones, lets in-flight requests
// finish for up to ShutdownGrace, and returns nil. It returns an error if
// serving fails before ctx is done (the listener broke), or if requests
// were still running when the grace period ended; those are cut off.
//
// Requests do not inherit ctx: its end means "stop taking requests", not
// "abandon the ones in hand", which would roll back work a client is
// waiting for. Each request is bounded by its own deadline instead (see
// Options.RequestTimeout).
func (s Server) Serve(ctx context.Context, ln net.Listener) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	grace := s.ShutdownGrace
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	srv := s.httpServer(logger)
	// The handler's Host check goes by the address listened on (a
	// wildcard one is not checked), not by the one a connection came to.
	listening := ln.Addr()
	srv.BaseContext = func(net.Listener) context.Context {
		return context.WithValue(context.Background(), listenAddrKey{}, listening)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.LogAttrs(ctx, slog.LevelInfo, "listening", slog.String("addr", addr))

	select {
	case err := <-served:
		return fmt.Errorf("httpapi: serve on %s: %w", addr, err)
	case <-ctx.Done():
	}

	// ctx is done; the shutdown needs a context of its own.
	logger.LogAttrs(context.Background(), slog.LevelInfo, "shutting down", slog.String("addr", addr), slog.Duration("grace", grace))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	hctx, hurried := context.WithCancelCause(sctx)
	defer hurried(nil)
	if s.Hurry != nil {
		go func() {
			select {
			case <-s.Hurry:
				hurried(ErrHurried)
			case <-hctx.Done():
			}
		}()
	}
	err := srv.Shutdown(hctx)
	if err != nil {
		// Out of grace, or told to hurry: cut off what is left.
		cerr := srv.Close()
		if errors.Is(context.Cause(hctx), ErrHurried) {
			err = fmt.Errorf("httpapi: shutdown on %s: requests still running were cut off: %w", addr, errors.Join(ErrHurried, cerr))
		} else {
			msg := fmt.Sprintf("httpapi: shutdown on %s: requests still running after %v were cut off", addr, grace)
			if cerr != nil {
				msg += ": " + cerr.Error()
			}
			err = &cutOff{msg: msg, cause: errors.Join(err, cerr)}
		}
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		logger.LogAttrs(context.Background(), slog.LevelError, "stopped", slog.String("addr", addr), slog.String("error", err.Error()))
		return err
	}
	logger.LogAttrs(context.Background(), slog.LevelInfo, "stopped", slog.String("addr", addr))
	return nil
}
