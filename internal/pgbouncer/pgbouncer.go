// Package pgbouncer runs a private PgBouncer in front of a PostgreSQL server,
// for tests that must see what an application sees through a connection
// pooler. It is to PgBouncer what package pglocal is to PostgreSQL, and much
// smaller: one process, no data, nothing to keep.
//
// [Start] writes a configuration, an auth file and a log into a directory of
// the caller's, starts pgbouncer in the foreground as a child of this process
// and waits until it accepts connections. [Bouncer.URL] returns a connection
// string for pgx; [Bouncer.Stop] stops it.
//
// # What the pooler looks like
//
// PgBouncer listens on a Unix socket only (no listen_addr), in the caller's
// directory, whose mode (0700) is what protects it: clients authenticate with
// auth_type = trust, and every user they connect as must be listed in
// Options.Users. One wildcard database entry forwards every database name to
// the server, so databases created after Start (one per test) work too. The
// pool mode is transaction pooling unless Options.PoolMode says otherwise:
// a server connection belongs to a client for one transaction only, and
// session state, such as prepared statements, advisory locks and SET, does
// not follow the client.
//
// PgBouncer 1.21 and later can track protocol-level prepared statements in
// transaction pooling (max_prepared_statements); Start disables that unless
// Options.MaxPreparedStatements asks for it, so that every version behaves
// like the 1.18 Debian 12 ships, which cannot.
//
// No ignore_startup_parameters are needed for pgx: it sends only user,
// database and the connection string's run-time parameters, and PgBouncer
// tracks application_name itself.
//
// PgBouncer before 1.19.1 exits with "FATAL ... disconnect_client(): bad
// client state: 0" when the client of a cancel request hangs up before
// PgBouncer is through with it (pgbouncer/pgbouncer#801), which pgx's
// CancelRequest does as soon as the cancelled statement has ended. Code
// that cancels statements on the server, as package uow does when a
// context ends, can bring such a PgBouncer down.
//
// # Running as root
//
// pgbouncer refuses to run as root. When the calling process is root, Start
// runs it as the "postgres" system user that PostgreSQL packages create and
// hands that user the directory; that user must be able to reach it (a
// directory under /tmp is).
//
// # Lifetime
//
// The process runs in a process group of its own, so the SIGINT a terminal
// sends on Ctrl-C does not reach it, and, on Linux, gets SIGTERM when this
// process dies without calling Stop, so it never outlives its owner.
package pgbouncer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/folio-dev/folio/internal/runas"
)

// ErrNotFound reports that no pgbouncer program was found. Errors returned by
// [Find] and [Start] wrap it; test with errors.Is.
var ErrNotFound = errors.New("pgbouncer not found; " +
	"install it (Debian/Ubuntu: apt-get install pgbouncer; Fedora: dnf install pgbouncer; macOS: brew install pgbouncer)")

const (
	// Port names the socket file, .s.PGSQL.6432, in the directory; no TCP
	// port is open.
	Port = 6432
	// maxSocketPath leaves a margin below sun_path's 104 (macOS) and 108
	// (Linux) bytes.
	maxSocketPath = 100

	defaultPoolSize      = 20
	defaultMaxClientConn = 1000
	defaultStartTimeout  = 30 * time.Second
	stopTimeout          = 5 * time.Second
	pollInterval         = 25 * time.Millisecond
)

// sigStop asks pgbouncer to shut down: at once in PgBouncer before 1.23,
// once its clients have gone in later versions. It is also what pgbouncer
// gets, on Linux, when this process dies without Stop.
var sigStop os.Signal = syscall.SIGTERM

// Options configure [Start].
type Options struct {
	// Dir holds pgbouncer.ini, the auth file, pgbouncer.log and the socket.
	// It is created if missing (its parent must exist) and left in place by
	// Stop: remove it afterwards. An existing Dir must be a directory, not a
	// symbolic link, of this process's user (or of the user pgbouncer runs
	// as); Start makes it private to that user (mode 0700). Its path must be short enough for a Unix
	// socket (at most about 85 bytes). Required.
	Dir string

	// Binary is the pgbouncer program. Empty: found with Find.
	Binary string

	// ServerHost and ServerPort locate the PostgreSQL server: a Unix socket
	// directory (an absolute path) or a host name, and the port. Required.
	ServerHost string
	ServerPort int

	// Users maps the user names clients connect as to their passwords. The
	// password is what pgbouncer sends when the server asks for one; empty
	// when the server trusts the user. Every user is a PgBouncer admin too
	// (the "pgbouncer" console database). At least one is required.
	Users map[string]string

	// AuthUser, one of Users, lets clients connect as users not in Users
	// (roles a test creates, say): pgbouncer looks them up on the server,
	// logging in as AuthUser, with its default auth_query on pg_shadow,
	// which needs a superuser. Empty: only Users may connect.
	AuthUser string

	// PoolMode is pgbouncer's pool_mode: "transaction" (the default),
	// "session" or "statement".
	PoolMode string

	// DefaultPoolSize is the number of server connections per database and
	// user (default 20). MaxClientConn bounds the client connections
	// (default 1000).
	DefaultPoolSize int
	MaxClientConn   int

	// MaxPreparedStatements is PgBouncer 1.21's max_prepared_statements: 0
	// (the default) disables tracking protocol-level prepared statements,
	// which older versions cannot do anyway. Start refuses a positive value
	// with an older pgbouncer.
	MaxPreparedStatements int

	// Settings are further [pgbouncer] settings, for example
	// {"server_idle_timeout": "10"}. They override Start's own, except
	// those that locate the socket and the server.
	Settings map[string]string

	// StartTimeout bounds the wait for pgbouncer to accept connections.
	// Default 30s.
	StartTimeout time.Duration
}

// Bouncer is a running pgbouncer. Its methods are safe for concurrent use.
type Bouncer struct {
	dir     string
	version string
	logPath string
	proc    *runas.Process

	stopOnce sync.Once
	stopErr  error
}

// managedSettings are set by Start from Options fields or for the socket.
var managedSettings = []string{"listen_addr", "listen_port", "unix_socket_dir", "auth_type", "auth_file",
	"logfile", "pidfile", "admin_users", "auth_user"}

// Start writes the configuration into opts.Dir, starts pgbouncer and waits
// until it accepts connections. ctx bounds Start only, not the life of
// pgbouncer.
//
// On failure it returns a nil Bouncer and an error: one wrapping
// [ErrNotFound] when there is no pgbouncer; one quoting the last lines of
// pgbouncer.log when pgbouncer exits during startup or does not accept
// connections within StartTimeout (it is then killed).
func Start(ctx context.Context, opts Options) (*Bouncer, error) {
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	if opts.Binary == "" {
		bin, err := Find()
		if err != nil {
			return nil, err
		}
		opts.Binary = bin
	}
	version, err := Version(ctx, opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.MaxPreparedStatements > 0 && !atLeast(version, "1.21") {
		return nil, fmt.Errorf("pgbouncer: MaxPreparedStatements needs PgBouncer 1.21 or later, not %s", version)
	}
	acct, err := runas.Lookup("pgbouncer")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: %w", err)
	}
	if err := acct.MkdirPrivate(opts.Dir); err != nil {
		return nil, fmt.Errorf("pgbouncer: directory: %w", err)
	}
	users := filepath.Join(opts.Dir, "users.txt")
	if err := writeOwned(users, authFile(opts.Users), acct); err != nil {
		return nil, err
	}
	ini := filepath.Join(opts.Dir, "pgbouncer.ini")
	if err := writeOwned(ini, config(opts, version, users), acct); err != nil {
		return nil, err
	}
	logPath := filepath.Join(opts.Dir, "pgbouncer.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: log: %w", err)
	}

	// In the foreground (no -d): this process is the parent, learns at once
	// when pgbouncer exits, and can wait for it in Stop. It logs to stderr.
	cmd := exec.Command(opts.Binary, ini)
	cmd.Dir = "/" // the caller's working directory may be unreachable for runas.User
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = acct.SysProcAttr(true, sigStop)
	b := &Bouncer{dir: opts.Dir, version: version, logPath: logPath}
	b.proc, err = runas.Start(cmd)
	logFile.Close() // pgbouncer has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: starting %s: %w", opts.Binary, err)
	}
	if err := b.waitReady(ctx, opts.StartTimeout, firstUser(opts.Users)); err != nil {
		_ = b.proc.Kill(stopTimeout)
		return nil, err
	}
	return b, nil
}

// writeOwned writes a file only its owner (acct, or this process's user)
// may read.
func writeOwned(path, content string, acct *runas.Account) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	if err := acct.Chown(path); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	return nil
}

func checkOptions(opts *Options) error {
	if opts.Dir == "" {
		return errors.New("pgbouncer: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return fmt.Errorf("pgbouncer: directory: %w", err)
	}
	opts.Dir = dir
	if n := len(socketPath(dir)); n > maxSocketPath {
		return fmt.Errorf("pgbouncer: directory %s is too long for a Unix socket path (%d bytes, at most %d): choose a shorter one, e.g. under /tmp",
			dir, n, maxSocketPath)
	}
	if opts.ServerHost == "" || opts.ServerPort <= 0 {
		return errors.New("pgbouncer: Options.ServerHost and ServerPort are required")
	}
	if len(opts.Users) == 0 {
		return errors.New("pgbouncer: Options.Users is required")
	}
	for u := range opts.Users {
		if u == "" || strings.ContainsAny(u, "\"\n\r,") {
			return fmt.Errorf("pgbouncer: invalid user name %q", u)
		}
	}
	if _, ok := opts.Users[opts.AuthUser]; opts.AuthUser != "" && !ok {
		return fmt.Errorf("pgbouncer: AuthUser %q is not one of Users", opts.AuthUser)
	}
	switch opts.PoolMode {
	case "":
		opts.PoolMode = "transaction"
	case "transaction", "session", "statement":
	default:
		return fmt.Errorf("pgbouncer: invalid pool mode %q", opts.PoolMode)
	}
	if opts.DefaultPoolSize <= 0 {
		opts.DefaultPoolSize = defaultPoolSize
	}
	if opts.MaxClientConn <= 0 {
		opts.MaxClientConn = defaultMaxClientConn
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	for name, value := range opts.Settings {
		if name == "" || strings.ContainsAny(name, "= \t\n[]") || strings.ContainsAny(value, "\n\r") {
			return fmt.Errorf("pgbouncer: invalid setting %q = %q", name, value)
		}
		if slices.Contains(managedSettings, strings.ToLower(name)) {
			return fmt.Errorf("pgbouncer: setting %s is managed by Start and cannot be set", name)
		}
	}
	return nil
}

func socketPath(dir string) string { return filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(Port)) }

// firstUser returns the alphabetically first user, which Start connects as
// to see that pgbouncer is up.
func firstUser(users map[string]string) string { return slices.Sorted(maps.Keys(users))[0] }

// config renders pgbouncer.ini.
func config(opts Options, version, authFile string) string {
	server := "host=" + connValue(opts.ServerHost) + " port=" + strconv.Itoa(opts.ServerPort)
	users := slices.Sorted(maps.Keys(opts.Users))
	settings := map[string]string{
		"pool_mode":         opts.PoolMode,
		"default_pool_size": strconv.Itoa(opts.DefaultPoolSize),
		"max_client_conn":   strconv.Itoa(opts.MaxClientConn),
		// Transaction pooling resets nothing between clients; say so
		// rather than rely on the default's being ignored in that mode.
		"server_reset_query": "",
		"syslog":             "0",
	}
	if atLeast(version, "1.21") {
		settings["max_prepared_statements"] = strconv.Itoa(opts.MaxPreparedStatements)
	}
	maps.Copy(settings, opts.Settings)

	var b strings.Builder
	b.WriteString("; written by folio's internal/pgbouncer for " + version + "\n")
	b.WriteString("[databases]\n")
	b.WriteString("* = " + server + "\n\n")
	b.WriteString("[pgbouncer]\n")
	fmt.Fprintf(&b, "unix_socket_dir = %s\n", opts.Dir)
	fmt.Fprintf(&b, "listen_port = %d\n", Port)
	b.WriteString("; no listen_addr: Unix socket only\n")
	b.WriteString("auth_type = trust\n")
	fmt.Fprintf(&b, "auth_file = %s\n", authFile)
	if opts.AuthUser != "" {
		fmt.Fprintf(&b, "auth_user = %s\n", opts.AuthUser)
	}
	fmt.Fprintf(&b, "admin_users = %s\n", strings.Join(users, ", "))
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "%s = %s\n", name, settings[name])
	}
	return b.String()
}

// connValue quotes a value of a libpq-style "key=value" string if needed.
func connValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// authFile renders the auth file: one `"user" "password"` line per user,
// a double quote doubled inside either.
func authFile(users map[string]string) string {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	var b strings.Builder
	for _, u := range slices.Sorted(maps.Keys(users)) {
		b.WriteString(q(u) + " " + q(users[u]) + "\n")
	}
	return b.String()
}

// waitReady waits until pgbouncer accepts a connection to its console
// database as user, exits, or timeout or ctx expire.
func (b *Bouncer) waitReady(ctx context.Context, timeout time.Duration, user string) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		select {
		case <-b.proc.Exited():
			return fmt.Errorf("pgbouncer: exited during startup (%v)%s", b.proc.Wait(), b.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pgbouncer: waiting for it to start: %w", ctx.Err())
		case <-timer.C:
			return fmt.Errorf("pgbouncer: did not accept connections within %v (%v)%s", timeout, lastErr, b.logTail())
		case <-ticker.C:
		}
		if lastErr = b.ping(ctx, user); lastErr == nil {
			return nil
		}
	}
}

func (b *Bouncer) ping(ctx context.Context, user string) error {
	cfg, err := pgconn.ParseConfig(b.URL(user, "", "pgbouncer"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// URL returns a connection string for database through pgbouncer, as user
// with password (may be empty: pgbouncer does not ask for it), for example
// "postgres://pgtdbuser@/folio?host=%2Ftmp%2Fb&port=6432&sslmode=disable".
func (b *Bouncer) URL(user, password, database string) string {
	who := uriEscape(user)
	if password != "" {
		who += ":" + uriEscape(password)
	}
	return "postgres://" + who + "@/" + uriEscape(database) +
		"?host=" + uriEscape(b.dir) + "&port=" + strconv.Itoa(Port) + "&sslmode=disable"
}

// uriEscape percent-encodes every byte but RFC 3986's unreserved
// characters; pgx and libpq decode %XX in every part of a connection URI.
func uriEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			sb.WriteByte(c)
		} else {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
		}
	}
	return sb.String()
}

// SocketDir returns the directory holding pgbouncer's Unix socket, the
// Options.Dir given to Start.
func (b *Bouncer) SocketDir() string { return b.dir }

// Port returns the port that names the socket file: always [Port].
func (b *Bouncer) Port() int { return Port }

// Version returns what pgbouncer --version said first, e.g. "PgBouncer 1.18.0".
func (b *Bouncer) Version() string { return b.version }

// AtLeast reports whether this pgbouncer is the given version ("1.19.1")
// or later.
func (b *Bouncer) AtLeast(version string) bool { return atLeast(b.version, version) }

// LogPath returns the file pgbouncer logs to.
func (b *Bouncer) LogPath() string { return b.logPath }

// Stop stops pgbouncer: an immediate shutdown (SIGTERM; PgBouncer 1.23 and
// later wait for clients to disconnect first), then SIGKILL if it has not
// exited within 5 seconds or ctx is done. Client connections still open
// are closed. It returns an error if pgbouncer had exited before Stop
// (quoting its log). Calling Stop again returns the first call's result.
func (b *Bouncer) Stop(ctx context.Context) error {
	b.stopOnce.Do(func() { b.stopErr = b.stop(ctx) })
	return b.stopErr
}

func (b *Bouncer) stop(ctx context.Context) error {
	select {
	case <-b.proc.Exited():
		return fmt.Errorf("pgbouncer: had exited before Stop (%v)%s", b.proc.Wait(), b.logTail())
	default:
	}
	if err := b.proc.Signal(sigStop); err != nil {
		return fmt.Errorf("pgbouncer: stopping (pid %d): %w", b.proc.Pid(), err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-b.proc.Exited():
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	if err := b.proc.Kill(stopTimeout); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	return nil
}

// logTail returns the last lines pgbouncer logged, formatted to end an
// error message, or "" if there are none.
func (b *Bouncer) logTail() string { return runas.LogTail(b.logPath, 0) }

// Find returns the pgbouncer program: the first on $PATH, else
// /usr/sbin/pgbouncer (Debian installs it there, and /usr/sbin is not on a
// regular user's $PATH). Otherwise it returns an error wrapping
// [ErrNotFound].
func Find() (string, error) { return find(os.Getenv("PATH"), debianBinary) }

const debianBinary = "/usr/sbin/pgbouncer"

// find implements Find with the search path and the fallback as
// parameters, for tests.
func find(pathList, fallback string) (string, error) {
	for _, dir := range filepath.SplitList(pathList) {
		// Like exec.LookPath, ignore relative entries ("" means ".").
		if p := filepath.Join(dir, "pgbouncer"); filepath.IsAbs(dir) && isExecutable(p) {
			return p, nil
		}
	}
	if isExecutable(fallback) {
		return fallback, nil
	}
	return "", fmt.Errorf("pgbouncer: none on $PATH or at %s: %w", fallback, ErrNotFound)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Version runs `bin --version` and returns its first line, e.g.
// "PgBouncer 1.18.0". A missing program is reported wrapping [ErrNotFound].
func Version(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pgbouncer: %s: %w", bin, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("pgbouncer: %s --version: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(first, "PgBouncer ") {
		return "", fmt.Errorf("pgbouncer: %s --version said %q, not PgBouncer's version", bin, first)
	}
	return first, nil
}

// atLeast reports whether version ("PgBouncer 1.18.0", or just "1.18.0")
// is least ("1.21", "1.19.1") or later. An unparsable version counts as old.
func atLeast(version, least string) bool {
	have, ok1 := parseVersion(version)
	want, ok2 := parseVersion(least)
	if !ok1 || !ok2 {
		return false
	}
	for i := range want {
		h := 0
		if i < len(have) {
			h = have[i]
		}
		if h != want[i] {
			return h > want[i]
		}
	}
	return true
}

// parseVersion returns the numbers of "PgBouncer 1.18.0" or "1.18.0";
// trailing text ("1.22.0rc1") is ignored.
func parseVersion(v string) ([]int, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "PgBouncer ")
	var nums []int
	for _, part := range strings.Split(v, ".") {
		digits := part
		for i, r := range part {
			if r < '0' || r > '9' {
				digits = part[:i]
				break
			}
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			break
		}
		nums = append(nums, n)
		if digits != part {
			break
		}
	}
	return nums, len(nums) >= 2
}
