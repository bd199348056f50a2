package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// noteHandler writes what a command logs without --verbose or --json (the
// embedded server's launcher saying that it waits, or that stopping takes
// a while) as the command's other notes are written: one line,
// "folio: note: " and the message (for an error record, "folio: warning: "),
// then the record's attributes as slog's text handler writes them. The
// launcher's package name leaves the message: it means nothing to someone
// running folio. Warnings and above only.
type noteHandler struct {
	w io.Writer
	// text writes a record's attributes, without time, level and
	// message, to buf; every handler derived by WithAttrs and WithGroup
	// shares buf, and mu, which guards it and w.
	text slog.Handler
	buf  *bytes.Buffer
	mu   *sync.Mutex
}

func newNoteHandler(w io.Writer) *noteHandler {
	buf := new(bytes.Buffer)
	text := slog.NewTextHandler(buf, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &noteHandler{w: w, text: text, buf: buf, mu: &sync.Mutex{}}
}

func (h *noteHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *noteHandler) Handle(ctx context.Context, r slog.Record) error {
	kind := "note"
	if r.Level >= slog.LevelError {
		kind = "warning"
	}
	line := "folio: " + kind + ": " + oneLine(strings.TrimPrefix(r.Message, "pglocal: "))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	if attrs := strings.TrimSuffix(h.buf.String(), "\n"); attrs != "" {
		line += " " + attrs
	}
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

func (h *noteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *noteHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
