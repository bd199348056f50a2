package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
)

type reply struct {
	status int
	body   string
	err    error
}

// stalled wraps h so that each request waits, once it has arrived, until
// release is closed; arrived receives a value per request.
func stalled(h http.Handler) (wrapped http.Handler, arrived chan struct{}, release chan struct{}) {
	arrived, release = make(chan struct{}, 8), make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		h.ServeHTTP(w, r)
	}), arrived, release
}

func get(url string) <-chan reply {
	out := make(chan reply, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			out <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- reply{status: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	_ = c.Close()
	return false
}

// TestServeShutsDownGracefully: once ctx is done, Serve stops accepting,
// lets the request in flight finish with its answer, and returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	h, arrived, release := stalled(e.h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- httpapi.Serve(sctx, ln, h, slog.New(slog.DiscardHandler)) }()

	inflight := get("http://" + addr + "/healthz")
	<-arrived
	cancel()

	// The listener closes at once; Serve waits for the request.
	require.Eventually(t, func() bool { return refused(addr) }, 5*time.Second, 10*time.Millisecond)
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(release)
	r := <-inflight
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "{\"status\":\"ok\"}\n", r.body)
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	assert.True(t, refused(addr), "no new connections after Serve returned")
}

// serveStalled runs srv (its Handler replaced by e's, stalled) on a fresh
// listener, sends one request and waits until it is in the handler; then
// it ends Serve's context. It returns Serve's result and the request's.
func serveStalled(t *testing.T, srv httpapi.Server) (served <-chan error, inflight <-chan reply) {
	t.Helper()
	e := newEnv(t, httpapi.Options{})
	h, arrived, release := stalled(e.h)
	t.Cleanup(func() { close(release) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	out := make(chan error, 1)
	srv.Handler = h
	go func() { out <- srv.Serve(sctx, ln) }()
	inflight = get("http://" + ln.Addr().String() + "/healthz")
	<-arrived
	cancel()
	return out, inflight
}

// TestServeGraceRunsOut: a request that outlasts the grace period is cut
// off and Serve says so.
func TestServeGraceRunsOut(t *testing.T) {
	t.Parallel()
	served, inflight := serveStalled(t, httpapi.Server{ShutdownGrace: 50 * time.Millisecond})
	select {
	case err := <-served:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Regexp(t, `^httpapi: shutdown on 127\.0\.0\.1:\d+: requests still running after 50ms were cut off$`, err.Error())
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	assert.Error(t, (<-inflight).err, "the connection was cut")
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})

	// A bad address fails at once.
	err := httpapi.ListenAndServe(ctx, "127.0.0.1:-1", e.h, nil)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "listen", opErr.Op)
	assert.Equal(t, "httpapi: listen tcp: address -1: invalid port", err.Error())

	// A good one serves until ctx is done.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- httpapi.ListenAndServe(sctx, addr, e.h, nil) }()
	require.Eventually(t, func() bool { return !refused(addr) }, 5*time.Second, 10*time.Millisecond)
	r := <-get("http://" + addr + "/healthz")
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)

	// "OPTIONS *", which net/http would answer itself, is a request like
	// any other: a request id, and the methods the server has.
	res, _ := rawRequest(t, addr, "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	assert.NotEmpty(t, res.Header.Get("X-Request-Id"))
	assert.Equal(t, "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT", res.Header.Get("Allow"))

	cancel()
	assert.NoError(t, <-served)
}

// TestServeLimitsTheRequest: Serve's server refuses headers over
// MaxHeaderBytes (net/http's default is 1 MiB) and hangs up on a client
// that trickles its headers in (slowloris) once ReadHeaderTimeout is out;
// the timeouts too long to wait for in a test are read from its
// configuration.
func TestServeLimitsTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	srv := httpapi.HTTPServer(httpapi.Server{Handler: e.h})
	assert.Equal(t, httpapi.ReadTimeout, srv.ReadTimeout)
	assert.Equal(t, httpapi.WriteTimeout, srv.WriteTimeout)
	assert.Equal(t, httpapi.IdleTimeout, srv.IdleTimeout)
	assert.NotNil(t, srv.ErrorLog, "net/http's own complaints go to the logger")

	addr := serveOn(t, "127.0.0.1:0", e.h)

	// send writes a request with a header of n bytes and returns the status
	// of the answer.
	send := func(n int) int {
		res, _ := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: "+strings.Repeat("a", n)+"\r\n\r\n")
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, send(httpapi.MaxHeaderBytes/2))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, send(2*httpapi.MaxHeaderBytes))

	// Half a request line, then nothing: the server hangs up when
	// ReadHeaderTimeout is out (ReadTimeout would take 30 s).
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	began := time.Now()
	_, err = io.WriteString(conn, "GET /heal")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(httpapi.ReadHeaderTimeout+10*time.Second)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the server closed the connection (not our read deadline)")
	elapsed := time.Since(began)
	assert.GreaterOrEqual(t, elapsed, httpapi.ReadHeaderTimeout-time.Second)
	assert.Less(t, elapsed, httpapi.ReadTimeout)
}

// slowBody yields its text a byte at a time, pausing before each.
type slowBody struct {
	text  string
	pause time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.text == "" {
		return 0, io.EOF
	}
	time.Sleep(b.pause)
	n := copy(p[:1], b.text)
	b.text = b.text[n:]
	return n, nil
}

// TestSlowBodyIs408: a body that arrives after the request's time has run
// out is the client's doing: 408 with Connection: close, not a 503 that
// invites the same slow upload again; nothing is written.
func TestSlowBodyIs408(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RequestTimeout: 100 * time.Millisecond})
	res := doReader(t, e.h, "POST", "/portfolios", &slowBody{text: `{"name":"Late"}`, pause: 15 * time.Millisecond}, true)
	requireExactProblem(t, res, http.StatusRequestTimeout, "request-timeout", "Request timeout",
		"the request body took longer to arrive than the 100ms the server allows a whole request", "")
	assert.Equal(t, "close", res.Header().Get("Connection"))
	assert.Empty(t, res.Header().Get("Retry-After"))
	assert.Zero(t, e.count(t, "portfolio"))
}

// TestBodyPastTheReadTimeoutIs408: when the server's read timeout runs out
// while the body arrives, the client hears so (the write timeout outlasts
// the read timeout), rather than a closed connection.
func TestBodyPastTheReadTimeoutIs408(t *testing.T) {
	t.Parallel()
	require.Greater(t, httpapi.WriteTimeout, httpapi.ReadTimeout, "the 408 must still be writable")
	e := newEnv(t, httpapi.Options{})
	status, body := stalledBody(t, e.h, func(s *http.Server) { s.ReadTimeout = 300 * time.Millisecond })
	assert.Equal(t, http.StatusRequestTimeout, status, "%s", body)
	assert.Contains(t, body, `"detail":"the request body did not arrive in the time the server allows"`)
	assert.Zero(t, e.count(t, "portfolio"))
}

// stalledBody sends h, on a server configured by config, a request whose
// body stops after its first bytes, and returns the status and body of the
// answer, which must come within 10 s. The server must then close the
// connection: a client that never sends the rest must not hold it, and with
// it a goroutine and a graceful shutdown, for ever.
func stalledBody(t *testing.T, h http.Handler, config func(*http.Server)) (int, string) {
	t.Helper()
	return stalledRequest(t, h, config, "POST /portfolios HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"name\"")
}

// stalledRequest is stalledBody with the request (whose body must stop
// short) given.
func stalledRequest(t *testing.T, h http.Handler, config func(*http.Server), request string) (int, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	config(srv.Config)
	srv.Start()
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, request)
	require.NoError(t, err)
	// The rest never comes.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the server keeps the connection open after answering %d", resp.StatusCode)
	return resp.StatusCode, string(body)
}

// TestServeHurried: closing Hurry during the grace period cuts off the
// requests still running at once, and Serve says so.
func TestServeHurried(t *testing.T) {
	t.Parallel()
	hurry := make(chan struct{})
	served, inflight := serveStalled(t, httpapi.Server{Hurry: hurry})
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight, before Hurry: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(hurry)
	select {
	case err := <-served:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "requests still running were cut off: told not to wait for them")
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return once told to hurry (the grace period is 15 s)")
	}
	assert.Error(t, (<-inflight).err, "the connection was cut")
}

// TestBodyStillArrivingAtTheRequestTimeoutIs408: a body that keeps coming
// is cut off when the request's time runs out, not only when the server's
// longer read timeout does: the server answers 408 then. (Without the
// request's deadline on the read, the answer would wait for the server's
// hour, and the client's 10 s would run out first.)
func TestBodyStillArrivingAtTheRequestTimeoutIs408(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RequestTimeout: 300 * time.Millisecond})
	status, body := stalledBody(t, e.h, func(s *http.Server) { s.ReadTimeout, s.WriteTimeout = time.Hour, time.Hour })
	assert.Equal(t, http.StatusRequestTimeout, status, "%s", body)
	assert.Contains(t, body, `"detail":"the request body took longer to arrive than the 300ms the server allows a whole request"`)
	assert.Zero(t, e.count(t, "portfolio"))
}

// TestUnreadStalledBodyHoldsTheAnswerNoLongerThanTheRequest: a route that
// answers without reading the body (a GET, a DELETE, a refusal before the
// body is decoded) answers a client that announced a body and stalled
// when the request's time runs out, not when the server's longer read
// timeout does (net/http drains the body before it answers); then it
// closes the connection. Nothing is written.
func TestUnreadStalledBodyHoldsTheAnswerNoLongerThanTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RequestTimeout: 300 * time.Millisecond})
	hour := func(s *http.Server) { s.ReadTimeout, s.WriteTimeout = time.Hour, time.Hour }
	// Answers larger than net/http's buffer go out, and the body is
	// drained, while the handler writes them; late ones are written after
	// the request's deadline.
	big := strings.Repeat("x", 3000)
	httpapi.Route(e.h, "GET /big", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) })
	httpapi.Route(e.h, "GET /late", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	httpapi.Route(e.h, "GET /late-big", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		_, _ = io.WriteString(w, big)
	})
	// Routes that answer without the database, whose round trips a loaded
	// machine can stretch past the 300 ms (the property is the
	// middleware's, whatever the route does).
	httpapi.Route(e.h, "GET /ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) })
	httpapi.Route(e.h, "DELETE /gone", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "gone")
	})
	for _, tc := range []struct {
		request string
		status  int
		detail  string
	}{
		{"GET /ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n", http.StatusOK, `"status":"ok"`},
		{"GET /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{", http.StatusOK, big},
		{"DELETE /gone HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{", http.StatusNotFound, "gone"},
		{"POST /portfolios HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n{", http.StatusUnsupportedMediaType, `"detail":"Content-Type \"text/plain\" is not accepted`},
		{"POST /portfolios?bogus=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"nam", http.StatusBadRequest, `"field":"bogus"`},
	} {
		status, body := stalledRequest(t, e.h, hour, tc.request)
		assert.Equal(t, tc.status, status, "%s\n%s", tc.request, body)
		assert.Contains(t, body, tc.detail, "%s", tc.request)
	}
	assert.Zero(t, e.count(t, "portfolio"))

	// A body that is all there, or none, keeps the connection, and the
	// request's deadline does not outlive the request: the next one on
	// the connection runs as usual, after a request that ran past its
	// time too.
	srv := httptest.NewUnstartedServer(e.h)
	hour(srv.Config)
	srv.Start()
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	for _, req := range []string{
		"GET /late HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
		"GET /late HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
		"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /late-big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
		"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /late-big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}",
		"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n",
	} {
		_, err = io.WriteString(c, req)
		require.NoError(t, err)
		res, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, res.StatusCode, "%q: %s", req, b)
		assert.False(t, res.Close, "%q closes the connection", req)
	}
}

// TestRequestOutlivesTheReadTimeoutOnceItsBodyIsIn: the server's read
// timeout bounds the arrival of a request, not the work on it. A request
// whose body is in keeps its own, longer, deadline while it waits (here on
// a row lock held elsewhere), and then succeeds.
func TestRequestOutlivesTheReadTimeoutOnceItsBodyIsIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RequestTimeout: 10 * time.Second})
	p := e.createPortfolio(t, "Held")
	srv := httptest.NewUnstartedServer(e.h)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()

	lock, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	if _, err = lock.Exec(ctx, "select 1 from portfolio where id = $1 for update", p.ID); err != nil {
		_ = lock.Rollback(ctx)
	}
	require.NoError(t, err)
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(4 * srv.Config.ReadTimeout)
		_ = lock.Rollback(ctx)
	}()
	defer func() { <-released }()

	req, err := http.NewRequest("PATCH", srv.URL+"/portfolios/"+p.ID.String(), strings.NewReader(`{"name":"Released"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	var name string
	require.NoError(t, e.pool.QueryRow(ctx, "select name from portfolio where id = $1", p.ID).Scan(&name))
	assert.Equal(t, "Released", name)
}

// A server on a loopback address answers requests for loopback names only:
// a web page whose host name resolves to 127.0.0.1 (DNS rebinding) sends
// its own name in Host, and gets a 421 that does nothing. On another
// address every host is served.
func TestLoopbackServerAnswersLoopbackHostsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	addr := serveOn(t, "127.0.0.1:0", e.h)
	_, port, _ := net.SplitHostPort(addr)
	send := func(request string) (*http.Response, []byte) { return rawRequest(t, addr, request) }
	post := func(host string) string {
		body := `{"name":"Rebound"}`
		return fmt.Sprintf("POST /portfolios HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", host, len(body), body)
	}
	for _, host := range []string{"rebind.example:" + port, "rebind.example", "192.0.2.1:" + port, "localhost.example", "[2001:db8::1]:" + port} {
		res, body := send(post(host))
		assert.Equal(t, http.StatusMisdirectedRequest, res.StatusCode, host)
		assert.Contains(t, string(body), `"type":"`+httpapi.ProblemTypeBase+`misdirected-request"`, host)
		assert.Contains(t, string(body), "not for host", host)
	}
	assert.Zero(t, e.count(t, "portfolio"), "nothing written")

	for i, host := range []string{"localhost:" + port, "LOCALHOST", "localhost.", "app.localhost:" + port, "127.0.0.1:" + port, "127.1.2.3", "[::1]:" + port, ""} {
		res, _ := send(fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host))
		assert.Equal(t, http.StatusOK, res.StatusCode, "%d: %q", i, host)
	}
	res, _ := send("GET /healthz HTTP/1.0\r\n\r\n")
	assert.Equal(t, http.StatusOK, res.StatusCode, "HTTP/1.0 without Host")

	// A server on a wildcard address serves any host, also on connections
	// that come to it over loopback (a proxy on the same machine that
	// passes the client's Host on, say).
	_, wildPort, _ := net.SplitHostPort(serveOn(t, "0.0.0.0:0", e.h))
	res, _ = rawRequest(t, "127.0.0.1:"+wildPort, "GET /healthz HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
	assert.Equal(t, http.StatusOK, res.StatusCode, "wildcard listener, loopback connection")

	// A connection to another address: the operator chose to serve it.
	req := httptest.NewRequest(http.MethodGet, "http://rebind.example/healthz", nil)
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 8080}))
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
}

// serveOn serves h with Serve on a listener at addr until the test ends,
// and returns the address it listens on.
func serveOn(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- httpapi.Serve(sctx, ln, h, nil) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-served) })
	return ln.Addr().String()
}

// rawRequest writes request, as it is, on a new connection to addr, and
// returns the answer with its body.
func rawRequest(t *testing.T, addr, request string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	res.Body.Close()
	return res, body
}
