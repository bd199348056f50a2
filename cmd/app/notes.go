package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// noteHandler writes what a command logs without --verbose or --json (the
// embedded server's launcher saying that it waits, or that stopping takes
// a while) as the command's other notes are written: one line,
// "folio: note: " and the message (for an error record, "folio: warning: "),
// then the record's attributes as key=value. The launcher's package name
// leaves the message: it means nothing to someone running folio. Warnings
// and above only.
type noteHandler struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string // attributes from WithAttrs, formatted
	group  string // from WithGroup, with a trailing dot
}

func newNoteHandler(w io.Writer) *noteHandler { return &noteHandler{w: w, mu: &sync.Mutex{}} }

func (h *noteHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *noteHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if r.Level >= slog.LevelError {
		b.WriteString("folio: warning: ")
	} else {
		b.WriteString("folio: note: ")
	}
	b.WriteString(oneLine(strings.TrimPrefix(r.Message, "pglocal: ")))
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b.Bytes())
	return err
}

func (h *noteHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b bytes.Buffer
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	c := *h
	c.prefix += b.String()
	return &c
}

func (h *noteHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// appendAttr writes " key=value", the value quoted when it is empty or
// holds space, quotes, '=' or a character that does not print.
func appendAttr(b *bytes.Buffer, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	v := oneLine(a.Value.String())
	if v == "" || strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r)
	}) {
		v = strconv.Quote(v)
	}
	b.WriteString(" " + group + a.Key + "=" + v)
}
