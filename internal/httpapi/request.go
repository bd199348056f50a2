package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// malformed is a malformed request about field, or about no member of it
// if field is "".
func malformed(field, format string, args ...any) error {
	return &requestError{kind: errMalformed, msg: fmt.Sprintf(format, args...), field: field, member: field != ""}
}

// malformedMember is malformed about a member (or query parameter) the
// client named, whose name, which may be "", is the problem's field as it
// was sent.
func malformedMember(name, format string, args ...any) error {
	return &requestError{kind: errMalformed, msg: fmt.Sprintf(format, args...), field: name, member: true}
}

// decode reads the request body, a JSON object, into dst (a pointer to a
// struct) and refuses anything that is not exactly that: the wrong media
// type (errMediaType), a body over the limit (errTooLarge), an empty body,
// text that is not UTF-8, bad syntax, null or another value than an object,
// a member whose name is not exactly one of dst's (encoding/json would
// match "NAME" and "ſymbol" to "name" and "symbol"), a member given twice
// (encoding/json would keep the last), members of the wrong JSON type,
// trailing data and \u escapes that are half a surrogate pair
// (errMalformed). encoding/json would turn invalid UTF-8 and lone
// surrogates into U+FFFD, storing something other than the client sent.
func (a *api) decode(r *http.Request, dst any) error {
	if r.ContentLength > a.maxBody {
		// Refused before a byte is read.
		return &requestError{kind: errTooLarge, msg: fmt.Sprintf("the request body has %d bytes; the limit is %d", r.ContentLength, a.maxBody)}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && emptyBody(r) {
		// No body at all: that, not its media type, is what is wrong.
		return malformed("", "the request body is empty; send a JSON object")
	}
	if n := len(r.Header.Values("Content-Type")); n > 1 {
		// Which one would the body be? net/http's Get says the first.
		return malformed("", "the request has %d Content-Type headers; send one, application/json", n)
	}
	if err := checkMediaType(ct); err != nil {
		return err
	}
	if err := checkEncoding(r.Header.Values("Content-Encoding")); err != nil {
		return err
	}
	// Read whole (ServeHTTP bounds it), as the decoder would buffer it.
	inTime := r.Context().Err() == nil
	body, err := io.ReadAll(r.Body)
	var netErr net.Error
	if inTime && (err == nil || errors.As(err, &netErr) && netErr.Timeout()) && pastDeadline(r.Context()) {
		// The request's time ran out while its body arrived (the read
		// deadline ServeHTTP set, or the body came in after it): what
		// is left is no time for the work, and the client was the
		// slow one.
		return &requestError{kind: errSlowBody, msg: fmt.Sprintf("the request body took longer to arrive than the %v the server allows a whole request", a.timeout)}
	}
	if err != nil {
		return a.decodeError(err)
	}
	if !utf8.Valid(body) {
		return malformed("", "the request body is not valid UTF-8 (at byte %d)", invalidUTF8(body))
	}
	// JSON has no byte order mark, but some clients (PowerShell's, among
	// others) put one in front; RFC 8259 lets a parser ignore it. Three
	// spaces in its place keep the byte offsets of errors those of the
	// body sent.
	if bytes.HasPrefix(body, []byte("\uFEFF")) {
		copy(body, "   ")
	}
	if err := checkMembers(body, members(reflect.TypeOf(dst).Elem())); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return a.decodeError(err)
	}
	// One JSON value and nothing after it but white space.
	if _, err := dec.Token(); err != io.EOF {
		return malformed("", "the request body has data after its JSON object")
	}
	if i := loneSurrogate(body); i >= 0 {
		return malformed("", "the request body has a \\u escape at byte %d that is half of a UTF-16 surrogate pair; send valid Unicode text", i)
	}
	return nil
}

// pastDeadline reports whether ctx's deadline has come, whether or not
// its timer has yet ended it.
func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// emptyBody reports whether r has no body: a Content-Length of 0, or no
// byte to read. It may consume a byte, so it is only asked about a request
// that is refused whatever the answer.
func emptyBody(r *http.Request) bool {
	if r.ContentLength > 0 {
		return false
	}
	if r.Body == nil || r.ContentLength == 0 {
		return true
	}
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	return n == 0
}

// checkMembers walks the top-level object of body, which is valid UTF-8,
// and refuses a member whose name is not exactly one of names, or one
// given twice, naming it. It leaves everything else (bad syntax, a body
// that is not an object) to the decoder, which says what is wrong, except
// null, which the decoder would take for an empty object.
func checkMembers(body []byte, names []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	switch {
	case err != nil:
		return nil
	case tok == nil:
		return malformed("", "the request body must be a JSON object, not null")
	case tok != json.Delim('{'):
		return nil
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string) // in a valid object, a member name
		switch {
		case !slices.Contains(names, name):
			return unknownMember(name, names)
		case seen[name]:
			return malformedMember(name, "%s is given more than once", name)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil
		}
	}
	return nil
}

func unknownMember(name string, names []string) error {
	for _, n := range names {
		if strings.EqualFold(name, n) {
			return malformedMember(name, "unknown field %s: member names are case-sensitive; use %q", quote(name), n)
		}
	}
	if name == "" {
		// The field is "" too: the detail says it in words.
		return malformedMember(name, `unknown field: an empty member name ""; use %s`, strings.Join(names, ", "))
	}
	return malformedMember(name, "unknown field %s; use %s", quote(name), strings.Join(names, ", "))
}

// memberNames caches members by type.
var memberNames sync.Map // reflect.Type → []string

// members returns the JSON member names of struct type t, as
// encoding/json reads them from its fields' tags, in field order.
func members(t reflect.Type) []string {
	if names, ok := memberNames.Load(t); ok {
		return names.([]string)
	}
	var names []string
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if ft := f.Type; f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					collect(ft) // its members are promoted
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			names = append(names, name)
		}
	}
	collect(t)
	memberNames.Store(t, names)
	return names
}

// invalidUTF8 returns the offset of the first byte of b that is not part
// of valid UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// loneSurrogate returns the offset of the first \u escape in syntactically
// valid JSON text b that is half of a UTF-16 surrogate pair without the
// other half, or -1 if there is none. In valid JSON a backslash only
// occurs in strings, where it begins an escape.
func loneSurrogate(b []byte) int {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		switch {
		case !ok:
			i++ // a two-character escape such as \\ or \"
		case r >= 0xd800 && r < 0xdc00: // high half: the low half must follow
			if lo, ok := hex4(i + 6); !ok || lo < 0xdc00 || lo >= 0xe000 {
				return i
			}
			i += 11
		case r >= 0xdc00 && r < 0xe000: // low half alone
			return i
		default:
			i += 5
		}
	}
	return -1
}

func checkMediaType(ct string) error {
	if ct == "" {
		return &requestError{kind: errMediaType, msg: "the request has a body but no Content-Type; send application/json"}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		cs, ok := params["charset"]
		if !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return &requestError{kind: errMediaType, msg: fmt.Sprintf("Content-Type %s is not accepted; send application/json (UTF-8)", quote(ct))}
}

// checkEncoding refuses a body in a content coding (gzip, say): the API
// reads bodies as they are, and a compressed one read as JSON would be
// refused for what it is not. identity is no coding.
func checkEncoding(codings []string) error {
	for _, v := range codings {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return &requestError{kind: errEncoding, msg: fmt.Sprintf("Content-Encoding %s is not accepted; send the body uncompressed", quote(c))}
			}
		}
	}
	return nil
}

func (a *api) decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
		invalid  *json.InvalidUnmarshalError
	)
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return &requestError{kind: errTooLarge, msg: fmt.Sprintf("the request body exceeds the limit of %d bytes", tooLarge.Limit)}
	case errors.As(err, &netErr) && netErr.Timeout():
		// The server's read timeout ran out while the body arrived.
		return &requestError{kind: errSlowBody, msg: "the request body did not arrive in the time the server allows"}
	case errors.Is(err, io.EOF):
		return malformed("", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("", "the request body ends in the middle of its JSON value")
	case errors.As(err, &syntax) && strings.HasSuffix(syntax.Error(), "exceeded max depth"):
		// encoding/json's words for it: "invalid character '[' exceeded
		// max depth".
		return malformed("", "the request body nests JSON arrays or objects too deeply (at byte %d); the API reads flat objects", syntax.Offset)
	case errors.As(err, &syntax):
		return malformed("", "the request body is not valid JSON (at byte %d): %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return malformed("", "the request body must be a JSON object, not %s", article(typ.Value))
		}
		return malformed(typ.Field, "%s must be %s, not %s", typ.Field, jsonType(typ), article(typ.Value))
	case errors.As(err, &invalid):
		return err // a bug here, not in the request
	}
	// encoding/json has no type for this one; its message is stable.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ := strconv.Unquote(name)
		if field == "" {
			return malformedMember(field, `unknown field: an empty member name ""`)
		}
		return malformedMember(field, "unknown field %s", quote(field))
	}
	return malformed("", "the request body could not be read")
}

// jsonType names the JSON type a Go destination wants.
func jsonType(e *json.UnmarshalTypeError) string {
	t := e.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}

func article(jsonValue string) string {
	switch jsonValue {
	case "object", "array":
		return "an " + jsonValue
	case "number", "string":
		return "a " + jsonValue
	case "bool":
		return "a boolean"
	}
	return jsonValue // null
}

// required returns *s, or a malformed error naming field if it is missing
// (absent or null).
func required(field string, s *string) (string, error) {
	if s == nil {
		return "", malformed(field, "%s is required", field)
	}
	return *s, nil
}

// parse runs a domain Parse function on a member of the request and
// attributes its error to the member.
func parse[T any](field, s string, f func(string) (T, error)) (T, error) {
	v, err := f(s)
	if err != nil {
		return v, &fieldError{field: field, err: err}
	}
	return v, nil
}

// optionalDate parses an optional date member; absent or null is the zero
// time, which the tracker takes for today.
func optionalDate(s *string) (d tracker.Date, err error) {
	if s == nil {
		return d, nil
	}
	d.Time, err = parse("date", *s, domain.ParseDate)
	return d, err
}

// pathID parses the {id} of the path: a UUID in canonical form.
func pathID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	if len(s) == 36 { // uuid.Parse also takes braces, urn:uuid: and no dashes
		if id, err := uuid.Parse(s); err == nil {
			return id, nil
		}
	}
	return uuid.Nil, malformed("", "malformed id %s in the path: use a UUID such as 0190a5b2-7c1e-7d3a-9f2e-1b2c3d4e5f60", quote(s))
}

// pathSymbol parses the {symbol} of the path with domain.ParseSymbol.
func pathSymbol(r *http.Request) (string, error) {
	s := r.PathValue("symbol")
	sym, err := domain.ParseSymbol(s)
	if err != nil {
		return "", malformed("", "malformed symbol in the path: %s", strings.TrimPrefix(err.Error(), "invalid symbol "))
	}
	return sym, nil
}

// quote quotes client input for a message, cut short by clip.
func quote(s string) string { return strconv.Quote(clip(s)) }

// clip cuts client input that is echoed in a problem to 64 bytes or so, at
// a character boundary, so that a megabyte sent is not a megabyte answered.
func clip(s string) string { return clipTo(s, 64) }

// clipTo cuts s to max bytes at a character boundary, and marks the cut
// with "…".
func clipTo(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > max-4 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// query parses the query string, allowing only the named parameters, each
// at most once, and only as text the database can store (UTF-8 without
// NUL).
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// "invalid semicolon separator in query", "invalid URL escape "%zz"".
		return nil, malformed("", "malformed query string: %v", err)
	}
	for k, vs := range q {
		known := slices.Contains(allowed, k)
		switch {
		case !known && len(allowed) == 0:
			return nil, malformedMember(k, "unknown query parameter %s: this request takes none", quote(k))
		case !known && k == "":
			return nil, malformedMember(k, `unknown query parameter: an empty parameter name ""; use %s`, strings.Join(allowed, ", "))
		case !known:
			return nil, malformedMember(k, "unknown query parameter %s; use %s", quote(k), strings.Join(allowed, ", "))
		case len(vs) > 1:
			return nil, malformed(k, "query parameter %s is given %d times", k, len(vs))
		case !utf8.ValidString(vs[0]) || strings.IndexByte(vs[0], 0) >= 0:
			return nil, malformed(k, "query parameter %s must be UTF-8 text without NUL characters, not %s", k, quote(vs[0]))
		}
	}
	return q, nil
}

// limit parses the limit parameter: absent is the tracker's default (0);
// given, even empty, it must be an integer from 1 to uow.MaxPageSize.
func limit(q url.Values) (int, error) {
	if !q.Has("limit") {
		return 0, nil
	}
	// Given, it is a number: "limit=" is as malformed as "limit=abc".
	s := q.Get("limit")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > uow.MaxPageSize || s[0] == '+' {
		return 0, malformed("limit", "limit must be a positive integer up to %d, not %s", uow.MaxPageSize, quote(s))
	}
	return n, nil
}
