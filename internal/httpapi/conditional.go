package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/folio-dev/folio/internal/tracker"
)

// Conditional requests (RFC 9110, 13). A portfolio's representations carry
// its version as a strong entity tag, `"<version>"`; no other resource has
// one. If-Match and If-None-Match are parsed on every route but /healthz
// (a malformed one is 400) and evaluated in the order of RFC 9110, 13.2.2:
// after the request's own checks (route, method, media type, the syntax of
// the body) and before its content is processed, so that a precondition
// that fails is 412 even where a value of the body would be refused (422).
// A write to a portfolio checks them in the unit that makes the change,
// with the portfolio's row locked, so that no other change comes between.
// If-Modified-Since and If-Unmodified-Since are ignored: no response
// carries Last-Modified, and RFC 9110 has a server ignore them then.

// maxTags bounds the entity tags of an If-Match or If-None-Match list: each
// is compared with every one before it, and a client never has a reason to
// send many.
const maxTags = 8

// errNotModified is an If-None-Match that fails on a GET or HEAD: 304.
var errNotModified = errors.New("not modified")

// tagList is an If-Match or If-None-Match header.
type tagList struct {
	header string // its name, for messages
	star   bool
	// strong are the versions the strong tags of ours in the list name
	// ("3"), which the strong comparison of If-Match matches; weak are
	// the versions any tag of ours names, strong or weak (W/"3"), which
	// the weak comparison of If-None-Match matches. A tag that is not
	// ours ("abc", "03") names none: it matches nothing.
	strong, weak []int64
}

// conditions are a request's preconditions; nil where the header is absent.
type conditions struct {
	match, noneMatch *tagList
}

// parseConditions parses If-Match and If-None-Match.
func parseConditions(r *http.Request) (conditions, error) {
	var (
		c   conditions
		err error
	)
	if c.match, err = parseTags(r, "If-Match"); err != nil {
		return c, err
	}
	c.noneMatch, err = parseTags(r, "If-None-Match")
	return c, err
}

// parseTags parses header: `*`, or a list of entity tags, weak (W/"x") or
// strong ("x"). Absent, it is nil. Malformed (400) is a value that is not
// one of those, `*` with tags, or more than maxTags distinct tags.
func parseTags(r *http.Request, header string) (*tagList, error) {
	values := r.Header.Values(header)
	if len(values) == 0 {
		return nil, nil
	}
	s := strings.Join(values, ",")
	l := &tagList{header: header}
	var tags []string
	for i := 0; ; {
		// Empty list elements and white space around elements are
		// allowed (RFC 9110, 5.6.1).
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		if s[i] == '*' {
			l.star = true
			i++
		} else {
			tag, ok := entityTag(s[i:])
			if !ok {
				end := strings.IndexByte(s[i:], ',')
				if end < 0 {
					end = len(s) - i
				}
				bad := strings.TrimRight(s[i:i+end], " \t")
				if bare(bad) {
					w, opaque := "", bad
					if len(bad) > 2 && strings.HasPrefix(bad, "W/") {
						w, opaque = "W/", bad[2:]
					}
					return nil, malformed("", "malformed %s: %s without the double quotes of an entity tag; send the ETag as a response gave it, quotes included (%s\"%s\"), or *", header, bad, w, opaque)
				}
				return nil, malformed("", "malformed %s %s: use the ETag of a response, a number in double quotes, or *", header, quote(s[i:i+end]))
			}
			i += len(tag)
			if !slices.Contains(tags, tag) {
				// Refused as soon as it is too many, so that a long list
				// costs no more than its first tags.
				if len(tags) == maxTags {
					return nil, malformed("", "%s lists more than %d distinct entity tags; at most %d are accepted", header, maxTags, maxTags)
				}
				tags = append(tags, tag)
			}
			weak := strings.HasPrefix(tag, "W/")
			if v, ok := parseETag(strings.TrimPrefix(tag, "W/")); ok {
				if !weak && !slices.Contains(l.strong, v) {
					l.strong = append(l.strong, v)
				}
				if !slices.Contains(l.weak, v) {
					l.weak = append(l.weak, v)
				}
			}
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return nil, malformed("", "malformed %s %s: separate entity tags with commas", header, quote(s[start:]))
		}
	}
	switch {
	case !l.star && len(tags) == 0:
		return nil, malformed("", "empty %s: use the ETag of a response, a number in double quotes, or *", header)
	case l.star && len(tags) > 0:
		return nil, malformed("", "%s * cannot be combined with entity tags", header)
	}
	return l, nil
}

// bare reports whether s could be an entity tag's opaque part sent
// without its quotes (2, abc): short, and only characters a tag may hold
// that need no escaping when echoed.
func bare(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// entityTag returns the entity tag s begins with: an optional W/, then
// an opaque tag, any of the characters RFC 9110 allows (which include the
// comma) between double quotes.
func entityTag(s string) (string, bool) {
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i >= len(s) || s[i] != '"' {
		return "", false
	}
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], true
		case c < 0x21 || c == 0x7f:
			return "", false
		}
	}
	return "", false // unterminated
}

// parseETag reads a strong `"<version>"` with version a positive integer
// written without sign or leading zeros, exactly as etag writes it.
func parseETag(s string) (int64, bool) {
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	digits := s[1 : len(s)-1]
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v < 1 || strconv.FormatInt(v, 10) != digits {
		return 0, false
	}
	return v, true
}

// etag is the strong entity tag of a portfolio version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// failed is the 412 of a precondition that does not hold.
func failed(format string, args ...any) error {
	return &requestError{kind: tracker.ErrPreconditionFailed, msg: "precondition failed: " + fmt.Sprintf(format, args...)}
}

// none reports whether the request has no precondition.
func (c conditions) none() bool { return c.match == nil && c.noneMatch == nil }

// check evaluates the conditions on a resource that exists, of a request
// with the given method: version is the resource's ETag's, or 0 for one
// without ETag, which no tag can match. It returns nil if the request may
// go ahead, errNotModified for a GET or HEAD whose If-None-Match fails,
// and a 412 otherwise. Its messages speak of the resource as "it", for
// the caller to say which.
func (c conditions) check(method string, version int64) error {
	if m := c.match; m != nil && !m.star {
		switch {
		case version == 0:
			return failed("it has no ETag, so no entity tag in If-Match can match; send If-Match: * or none")
		case !slices.Contains(m.strong, version) && slices.Contains(m.weak, version):
			// RFC 9110, 13.1.1: If-Match compares strongly, and a weak
			// tag never matches. Saying only "not listed" would puzzle a
			// client that sent W/"3" for ETag "3".
			return failed("its ETag is %s, which If-Match lists only as the weak W/%s, and If-Match matches strong entity tags only; send %s", etag(version), etag(version), etag(version))
		case !slices.Contains(m.strong, version):
			return failed("its ETag is %s, which If-Match does not list", etag(version))
		}
	}
	n := c.noneMatch
	if n == nil {
		return nil
	}
	var err error
	switch {
	case n.star:
		err = failed("it exists, and If-None-Match: * asks that it not")
	case version != 0 && slices.Contains(n.weak, version):
		err = failed("its ETag is %s, which If-None-Match lists", etag(version))
	default:
		return nil
	}
	if method == http.MethodGet || method == http.MethodHead {
		return errNotModified
	}
	return err
}

// needsResource reports whether the conditions can fail on a resource
// without ETag: then whether it exists decides between 412 and 404.
func (c conditions) needsResource() bool {
	return c.match != nil && !c.match.star || c.noneMatch != nil && c.noneMatch.star
}

// conditionsOf returns the request's conditions, parsed by handle.
func conditionsOf(r *http.Request) conditions { return infoOf(r).cond }

// precondition is the tracker.Precondition of a write to a portfolio: nil
// without conditions, so that the tracker checks nothing.
func precondition(r *http.Request) tracker.Precondition {
	c := conditionsOf(r)
	if c.none() {
		return nil
	}
	return func(version int64) error { return c.check(r.Method, version) }
}

// untagged evaluates the conditions of a write to a resource without ETag
// (a collection, which always exists, or a security's price). exists, if
// not nil, looks the resource up, so that a missing one is its error
// (404), as on the portfolio routes. It is called only when a condition
// could fail.
func untagged(r *http.Request, what string, exists func() error) error {
	c := conditionsOf(r)
	if !c.needsResource() {
		return nil
	}
	if exists != nil {
		if err := exists(); err != nil {
			return err
		}
	}
	return about(what, c.check(r.Method, 0))
}

// about prefixes err, from check, with what it is about.
func about(what string, err error) error {
	if err == nil || errors.Is(err, errNotModified) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// beforeContent returns err, a value of the request's body that is
// refused (422), unless the portfolio is missing (404) or the request's
// conditions fail on it (412): those come first, whether or not the
// request has conditions, as the target is looked at before its content.
// The lookup costs a read, on refused requests only.
func (a *api) beforeContent(r *http.Request, id uuid.UUID, err error) error {
	if classify(err).status != http.StatusUnprocessableEntity {
		return err
	}
	p, lerr := a.svc.Portfolio(r.Context(), tracker.ByID(id))
	if lerr != nil {
		return lerr
	}
	if cerr := conditionsOf(r).check(r.Method, p.Version); cerr != nil {
		return about(fmt.Sprintf("portfolio %q", p.Name), cerr)
	}
	return err
}

// securityBeforeContent is beforeContent for a security's price: a refused
// value (422) of a security that does not exist is its 404. The request's
// conditions were evaluated before the content (untagged).
func (a *api) securityBeforeContent(r *http.Request, symbol string, err error) error {
	if classify(err).status != http.StatusUnprocessableEntity {
		return err
	}
	if _, lerr := a.svc.Security(r.Context(), symbol); lerr != nil {
		return lerr
	}
	return err
}

// replyRead answers a GET or HEAD of a resource that exists with v, once
// its conditions hold: 200 with v, or 304 with no body if If-None-Match
// fails. version is the resource's ETag's (0: it has none); what names it
// in a 412.
func replyRead(w http.ResponseWriter, r *http.Request, v any, version int64, what string) error {
	err := about(what, conditionsOf(r).check(r.Method, version))
	if version != 0 && (err == nil || errors.Is(err, errNotModified)) {
		w.Header().Set("ETag", etag(version))
	}
	switch {
	case errors.Is(err, errNotModified):
		w.WriteHeader(http.StatusNotModified)
		return nil
	case err != nil:
		return err
	}
	return reply(w, http.StatusOK, v)
}
