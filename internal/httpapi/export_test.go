package httpapi

import "net/http"

// Route adds a test-only route to a handler made by New, behind all of its
// middleware: for handlers that panic or stall on purpose.
func Route(h http.Handler, pattern string, f http.HandlerFunc) {
	h.(*api).mux.HandleFunc(pattern, f)
}
