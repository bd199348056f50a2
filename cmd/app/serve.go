package main

import (
	"log/slog"

	"github.com/folio-dev/folio/internal/httpapi"
)

func serve(e *env, _ []string) error {
	// Request logs are the point of a server's log: info level at least.
	logger := e.logger
	if !e.g.verbose {
		logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	h := httpapi.New(e.svc, httpapi.Options{Logger: logger})
	return httpapi.ListenAndServe(e.ctx, flagOf(e, "addr"), h, logger)
}
