package httpapi

import (
	"log/slog"
	"net/http"
)

// Route adds a test-only route to a handler made by New, behind all of its
// middleware: for handlers that panic or stall on purpose.
func Route(h http.Handler, pattern string, f http.HandlerFunc) {
	h.(*api).mux.HandleFunc(pattern, f)
}

// HTTPServer is the http.Server that s.Serve runs.
func HTTPServer(s Server) *http.Server { return s.httpServer(slog.New(slog.DiscardHandler)) }
