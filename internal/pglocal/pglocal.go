package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/folio-dev/folio/internal/runas"
)

const (
	// superuser is the name of the cluster's superuser (initdb -U).
	superuser = "postgres"
	// socketPort names the socket file .s.PGSQL.5432; no TCP port is open.
	socketPort = 5432

	defaultStartTimeout = 30 * time.Second
	defaultStopGrace    = 10 * time.Second
	// fastShutdownTimeout bounds a fast shutdown, which writes a checkpoint.
	fastShutdownTimeout = 30 * time.Second
	// immediateShutdownTimeout bounds an immediate shutdown and, after it,
	// SIGKILL.
	immediateShutdownTimeout = 5 * time.Second
	pollInterval             = 25 * time.Millisecond
	// usersWarnAfter is how long Stop waits for the other processes using
	// the server before it says so: longer than commands that overlap
	// for a moment take, even on a loaded machine.
	usersWarnAfter = 3 * time.Second
)

// Options configure [Start].
type Options struct {
	// DataDir is the cluster's data directory. It is created and initialised
	// with initdb on first use; an existing directory must be empty or hold a
	// cluster. Required; a relative path is made absolute.
	DataDir string

	// Settings are server settings passed as "-c name=value", for example
	// {"fsync": "off"}. listen_addresses, port and unix_socket_directories
	// are managed by pglocal and may not be set.
	Settings map[string]string

	// Ephemeral marks a throwaway server (tests, demos). Stop shuts it down
	// with a fast shutdown, without waiting for clients or for other
	// processes using it, and then removes DataDir, the socket directory if
	// separate, and the lock file. If Start fails, the data directory is
	// left for inspection.
	Ephemeral bool

	// StartTimeout bounds the wait for the server to accept connections,
	// whether this process starts it or another process does. Default 30s.
	StartTimeout time.Duration

	// StopGrace bounds the two waits of the owner's Stop: for the other
	// processes using the server to call Stop (see Server.Stop), and then,
	// in the smart shutdown, for the remaining clients to disconnect
	// (connections not made through a Server of this package, such as
	// psql, and those a process keeps open), before Stop terminates their
	// sessions. Unused for ephemeral servers. Default 10s.
	StopGrace time.Duration

	// Logger receives debug and info lines about what Start and Stop do.
	// The server's own output goes to DataDir/log/server.log. Nil discards.
	Logger *slog.Logger

	// BinDir is the directory holding initdb and postgres. Empty: found
	// with FindBinDir.
	BinDir string

	// Own makes Start wait, rather than join, when a server another
	// process started runs on DataDir: until that process has stopped it,
	// and then start one this process owns. It is for a process that uses
	// the server for long, a network service say: joined, it would lose
	// the server when the process that started it ends. Start logs a
	// warning when it has to wait. Ignored for ephemeral servers.
	Own bool
}

// Server is a PostgreSQL server listening on a Unix socket only. Its
// methods are safe for concurrent use.
type Server struct {
	dataDir   string
	socketDir string
	port      int
	owned     bool
	created   bool
	logger    *slog.Logger
	// users is this Server's shared lock on the users lock file, held
	// until Stop; nil for an ephemeral server.
	users *fileLock

	// The fields below are set for an owned server only.
	ephemeral bool
	stopGrace time.Duration
	logPath   string
	logOffset int64 // size of the log when this server started
	lockPath  string
	proc      *runas.Process // the postmaster

	stopMu   sync.Mutex
	stopDone bool
	stopErr  error
}

// launcher carries the validated options of one Start call.
type launcher struct {
	dataDir      string
	socketDir    string
	settings     []string // "name=value", sorted
	ephemeral    bool
	startTimeout time.Duration
	stopGrace    time.Duration
	logger       *slog.Logger
	binDir       string
	acct         *runas.Account // nil: run the server as this process's user
	created      bool           // initCluster ran initdb
	own          bool
}

// Start makes sure a server for opts.DataDir is running and returns it.
//
// If postmaster.pid in the data directory names a live server that accepts
// connections, Start returns that server, not owned by this process.
// Otherwise it initialises the data directory if needed, starts postgres
// and waits until it accepts connections. ctx bounds Start only, not the
// life of the server.
//
// Unless opts.Ephemeral is set, the returned Server, owned or not, keeps
// the server running until its Stop is called (see [Server.Stop]). If the
// process that owns the server is stopping it, Start waits, for as long as
// ctx allows, until it has, and then starts a server of its own.
//
// On failure Start returns a nil Server and an error: one wrapping
// [ErrNoServer] when no server binaries are found; one naming the blocking
// directory when, running as root, the postgres system user cannot reach
// the data directory; one quoting the last lines of the server log when
// the server exits during startup or does not accept connections within
// StartTimeout (the server is then stopped); and an error wrapping
// ctx.Err() when ctx is done first.
func Start(ctx context.Context, opts Options) (*Server, error) {
	l, err := newLauncher(opts)
	if err != nil {
		return nil, err
	}
	if !l.own {
		return l.start(ctx)
	}
	warned := false
	for {
		// Wait without a claim on the server, which would keep its
		// owner waiting for this process (see Server.Stop).
		if err := l.awaitNoServer(ctx, &warned); err != nil {
			return nil, err
		}
		s, err := l.start(ctx)
		if err != nil || s.owned {
			return s, err
		}
		// Another process started one first: let it go, and wait again.
		if err := s.Stop(ctx); err != nil {
			return nil, err
		}
	}
}

// awaitNoServer returns once no live server runs on the data directory,
// warning once (through *warned) that it waits.
func (l *launcher) awaitNoServer(ctx context.Context, warned *bool) error {
	checked := 0 // the pid found listening
	for {
		pf, err := readPidFile(l.dataDir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil
		case errors.Is(err, errPidFileIncomplete):
		case err != nil:
			return err
		case !pidAlive(pf.pid, l.dataDir) || pf.pid == os.Getpid() || pf.pid == os.Getppid():
			return nil // stale, as reuse judges it
		case pf.status == pmStatusReady && pf.socketDir != "" && checked != pf.pid:
			// A live pid that is not a postmaster (reused after a
			// reboot) would be waited for forever: ask, once per pid.
			s := &Server{socketDir: pf.socketDir, port: pf.port}
			if _, err := ping(ctx, s.URL("postgres")); err != nil && isNoListener(err) {
				return nil
			}
			checked = pf.pid
		case !*warned:
			l.logger.Warn(fmt.Sprintf("pglocal: waiting for the process that started the server on %s (postgres pid %d) to stop it", l.dataDir, pf.pid))
			*warned = true
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return fmt.Errorf("pglocal: waiting for the server running on %s to stop: %w", l.dataDir, err)
		}
	}
}

func newLauncher(opts Options) (*launcher, error) {
	if !supported {
		return nil, fmt.Errorf("pglocal: not supported on %s; set DATABASE_URL to use an existing PostgreSQL server", runtime.GOOS)
	}
	if opts.DataDir == "" {
		return nil, errors.New("pglocal: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data directory: %w", err)
	}
	if filepath.Dir(dataDir) == dataDir {
		return nil, fmt.Errorf("pglocal: data directory %s: cannot be a root directory", dataDir)
	}
	settings, err := settingArgs(opts.Settings)
	if err != nil {
		return nil, err
	}
	l := &launcher{
		dataDir:      dataDir,
		socketDir:    socketDirFor(dataDir),
		settings:     settings,
		ephemeral:    opts.Ephemeral,
		startTimeout: orDefault(opts.StartTimeout, defaultStartTimeout),
		stopGrace:    orDefault(opts.StopGrace, defaultStopGrace),
		logger:       opts.Logger,
		binDir:       opts.BinDir,
		own:          opts.Own && !opts.Ephemeral,
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.binDir == "" {
		if l.binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if l.acct, err = runas.Lookup("PostgreSQL"); err != nil {
		return nil, fmt.Errorf("pglocal: %w (or set DATABASE_URL to use an existing PostgreSQL server)", err)
	}
	return l, nil
}

// orDefault returns d if positive, def otherwise.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// managedSettings are set by pglocal; overriding them would break URL.
var managedSettings = []string{"listen_addresses", "port", "unix_socket_directories"}

// settingArgs validates settings and returns them as sorted "name=value"
// strings.
func settingArgs(settings map[string]string) ([]string, error) {
	args := make([]string, 0, len(settings))
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		if name == "" || strings.ContainsAny(name, "= \t\n") {
			return nil, fmt.Errorf("pglocal: invalid setting name %q", name)
		}
		if slices.Contains(managedSettings, strings.ToLower(name)) {
			return nil, fmt.Errorf("pglocal: setting %s is managed by pglocal and cannot be set", name)
		}
		args = append(args, name+"="+settings[name])
	}
	return args, nil
}

func (l *launcher) start(ctx context.Context) (*Server, error) {
	l.logger.Debug("pglocal: starting", "data_dir", l.dataDir, "bin_dir", l.binDir, "socket_dir", l.socketDir)
	if l.acct != nil {
		if err := l.refuseLinks(); err != nil {
			return nil, err
		}
		if err := l.checkReachable(ctx); err != nil {
			return nil, err
		}
	}
	if err := l.checkOwner(); err != nil {
		return nil, err
	}
	if err := l.makeParentDirs(); err != nil {
		return nil, err
	}
	// The users lock comes first, then the start lock, everywhere: an
	// owner's Stop holds the users lock exclusively while it takes the
	// start lock to remove the socket directory.
	var users *fileLock
	if !l.ephemeral {
		var err error
		users, err = lockFileShared(ctx, l.usersPath(), func() {
			l.logger.Debug("pglocal: waiting for the process that owns the server to stop it", "data_dir", l.dataDir)
		})
		if err != nil {
			return nil, err
		}
	}
	s, err := l.startLocked(ctx)
	if err != nil {
		users.unlock()
		return nil, err
	}
	s.users = users
	return s, nil
}

// startLocked reuses the running server or starts one, under the start
// lock.
func (l *launcher) startLocked(ctx context.Context) (*Server, error) {
	lock, err := lockFile(ctx, l.lockPath())
	if err != nil {
		return nil, err
	}
	defer lock.unlock()

	if s, err := l.reuse(ctx); s != nil || err != nil {
		return s, err
	}
	if err := l.initCluster(ctx); err != nil {
		return nil, err
	}
	if err := l.removeStalePidFile(); err != nil {
		return nil, err
	}
	if err := l.prepareSocketDir(); err != nil {
		return nil, err
	}
	return l.launch(ctx)
}

// removeStalePidFile removes a postmaster.pid that names a live process
// working elsewhere (its pid reused after the server was killed, or the
// machine restarted). postgres judges the file itself, but takes any live
// process of its own user for another server on the data directory, and
// refuses to start. Called under the start lock, once reuse has found no
// server to use.
func (l *launcher) removeStalePidFile() error {
	pf, err := readPidFile(l.dataDir)
	if err != nil || !processExists(pf.pid) || !worksElsewhere(pf.pid, l.dataDir) {
		return nil // none, or postgres copes
	}
	path := filepath.Join(l.dataDir, "postmaster.pid")
	l.logger.Debug("pglocal: removing stale postmaster.pid", "pid", pf.pid)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pglocal: remove stale %s: %w", path, err)
	}
	return nil
}

// lockPath is the lock file serialising Start; it lives next to the data
// directory because initdb wants the data directory empty.
func (l *launcher) lockPath() string { return l.dataDir + ".lock" }

// usersPath is the lock file on which every process using a non-ephemeral
// server holds a shared lock, and which the owner's Stop locks exclusively
// to wait for them all to finish.
func (l *launcher) usersPath() string { return l.dataDir + ".users" }

// reuse returns the server postmaster.pid names if it is alive and accepts
// connections, waiting up to StartTimeout while it starts up or shuts
// down. It returns nil, nil when no server runs, so the caller starts one.
func (l *launcher) reuse(ctx context.Context) (*Server, error) {
	deadline := time.Now().Add(l.startTimeout)
	var lastErr error
	for {
		pf, err := readPidFile(l.dataDir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, nil
		case errors.Is(err, errPidFileIncomplete):
			// postgres is writing it; look again.
			lastErr = err
		case err != nil:
			return nil, err
		case !pidAlive(pf.pid, l.dataDir) || pf.pid == os.Getpid() || pf.pid == os.Getppid():
			// Left by a server that did not shut down cleanly; postgres
			// copes with a stale postmaster.pid. After a reboot or a
			// container restart its pid may have been reused, often by
			// this process or its parent, which postgres ignores too.
			l.logger.Debug("pglocal: ignoring stale postmaster.pid", "pid", pf.pid)
			return nil, l.waitDetached(ctx, pf, deadline)
		case pf.status == pmStatusReady && pf.socketDir == "":
			return nil, fmt.Errorf("pglocal: server (pid %d) running on %s has no Unix socket; stop it or set DATABASE_URL", pf.pid, l.dataDir)
		case pf.socketDir == "":
			lastErr = errors.New("server has not created its socket yet")
		default:
			s := &Server{dataDir: l.dataDir, socketDir: pf.socketDir, port: pf.port, logger: l.logger}
			retry, err := ping(ctx, s.URL("postgres"))
			if err == nil {
				l.logger.Info("pglocal: using running server", "pid", pf.pid, "data_dir", l.dataDir, "socket_dir", pf.socketDir)
				return s, nil
			}
			if !retry {
				return nil, fmt.Errorf("pglocal: server (pid %d) running on %s refuses connections: %w", pf.pid, l.dataDir, err)
			}
			if pf.status == pmStatusReady && isNoListener(err) {
				// A ready postmaster listens; the pid must belong to an
				// unrelated process now. Let postgres judge the lock file.
				l.logger.Debug("pglocal: postmaster.pid names a live process but nothing listens", "pid", pf.pid, "err", err)
				return nil, nil
			}
			lastErr = err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pglocal: %s names a server that did not accept connections within %v (%v); "+
				"if no PostgreSQL server runs on this data directory, remove that file",
				filepath.Join(l.dataDir, "postmaster.pid"), l.startTimeout, lastErr)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return nil, fmt.Errorf("pglocal: waiting for the server running on %s: %w", l.dataDir, err)
		}
	}
}

// waitDetached waits until no process is attached to the shared memory of
// the dead server pf describes: a postmaster killed outright (SIGKILL, the
// OOM killer) leaves its children running until they notice, and postgres
// will not start while one of them is attached. Past the deadline (the
// start timeout, after which the new server has one of its own) it
// returns, and postgres says what is wrong. A segment with the id but
// another key or creator is another program's now: no wait.
func (l *launcher) waitDetached(ctx context.Context, pf *pidFile, deadline time.Time) error {
	if pf.shmID < 0 {
		return nil
	}
	for said := false; ; said = true {
		n, ok := shmAttached(pf.shmKey, pf.shmID, pf.pid)
		if !ok || n == 0 || time.Now().After(deadline) {
			return nil
		}
		if !said {
			l.logger.Info("pglocal: waiting for the processes of a server that died to exit",
				"data_dir", l.dataDir, "attached", n)
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return fmt.Errorf("pglocal: waiting for the processes of a server that died on %s to exit: %w", l.dataDir, err)
		}
	}
}

// launch starts the postmaster and waits until it accepts connections.
// The caller holds the start lock.
func (l *launcher) launch(ctx context.Context) (*Server, error) {
	logFile, logOffset, err := l.openLog()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", l.dataDir, "-c", "logging_collector=off"}
	for _, s := range l.settings {
		args = append(args, "-c", s)
	}
	args = append(args,
		"-c", "listen_addresses=",
		"-c", "port="+strconv.Itoa(socketPort),
		"-c", "unix_socket_directories="+quoteSocketDir(l.socketDir))
	cmd := exec.Command(filepath.Join(l.binDir, "postgres"), args...)
	cmd.Dir = "/" // the caller's working directory may be unreachable for the server user
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should this process die without Stop, the kernel requests a fast
	// shutdown (see sigFastShutdown).
	cmd.SysProcAttr = l.acct.SysProcAttr(true, sigFastShutdown)

	s := &Server{
		dataDir:   l.dataDir,
		socketDir: l.socketDir,
		port:      socketPort,
		owned:     true,
		created:   l.created,
		logger:    l.logger,
		ephemeral: l.ephemeral,
		stopGrace: l.stopGrace,
		logPath:   logFile.Name(),
		logOffset: logOffset,
		lockPath:  l.lockPath(),
	}
	l.logger.Debug("pglocal: running postgres", "args", cmd.Args, "log", s.logPath)
	began := time.Now()
	s.proc, err = runas.Start(cmd)
	logFile.Close() // the server has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("pglocal: starting postgres: %w", err)
	}
	if err := s.waitReady(ctx, l.startTimeout); err != nil {
		s.kill()
		return nil, err
	}
	l.logger.Info("pglocal: server started", "pid", s.proc.Pid(), "data_dir", s.dataDir,
		"socket_dir", s.socketDir, "elapsed", time.Since(began).Round(time.Millisecond))
	return s, nil
}

// waitReady waits until the server accepts connections, exits, or timeout
// or ctx expire.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("pglocal: postgres exited during startup (%v)%s", s.proc.Wait(), s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pglocal: waiting for the server to start: %w", ctx.Err())
		case <-timer.C:
			return fmt.Errorf("pglocal: server did not accept connections within %v (%v)%s", timeout, lastErr, s.logTail())
		case <-ticker.C:
		}
		// The status line of postmaster.pid (PostgreSQL 10 and later)
		// says when the server has finished starting; probing only then
		// keeps "the database system is starting up" lines out of the log.
		if pf, err := readPidFile(s.dataDir); err == nil && pf.pid == s.proc.Pid() && pf.status == pmStatusStarting {
			lastErr = fmt.Errorf("server status %q", pf.status)
			continue
		}
		retry, err := ping(ctx, s.URL("postgres"))
		if err == nil {
			return nil
		}
		if !retry {
			return fmt.Errorf("pglocal: server refuses connections: %w", err)
		}
		lastErr = err
	}
}

// kill stops a server that failed to start: immediate shutdown, then
// SIGKILL.
func (s *Server) kill() {
	if err := s.proc.Kill(immediateShutdownTimeout, sigImmediateShutdown); err != nil {
		s.logger.Warn("pglocal: killing postgres", "pid", s.proc.Pid(), "err", err)
	}
}

// URL returns a connection string for database on this server, for
// example "postgres://postgres@/folio?host=%2Ftmp%2Ffolio-1a2b3c4d&port=5432&sslmode=disable".
// pgx.ParseConfig, pgxpool.ParseConfig and libpq accept it. It cannot fail.
func (s *Server) URL(database string) string {
	return "postgres://" + superuser + "@/" + uriEscape(database) +
		"?host=" + uriEscape(s.socketDir) + "&port=" + strconv.Itoa(s.port) + "&sslmode=disable"
}

// uriEscape percent-encodes every byte but RFC 3986's unreserved
// characters. libpq and pgx decode only %XX in connection URIs ('+' stays
// '+'), so url.QueryEscape would be wrong for names containing spaces.
func uriEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// SocketDir returns the directory holding the server's Unix socket.
func (s *Server) SocketDir() string { return s.socketDir }

// Port returns the port number that names the socket file
// (.s.PGSQL.<port>) in SocketDir. The server listens on no TCP port.
func (s *Server) Port() int { return s.port }

// User returns the name of the cluster's superuser, which URL connects as:
// always "postgres".
func (s *Server) User() string { return superuser }

// DataDir returns the absolute path of the data directory.
func (s *Server) DataDir() string { return s.dataDir }

// Exited returns a channel closed when the server this process started
// exits, whether Stop stopped it or it died (killed, crashed); nil, which
// never fires, for a server this process joined.
func (s *Server) Exited() <-chan struct{} {
	if s.proc == nil {
		return nil
	}
	return s.proc.Exited()
}

// Owned reports whether this process started the server. It is false when
// Start reused a server another process runs; Stop then leaves the server
// running.
func (s *Server) Owned() bool { return s.owned }

// Created reports whether Start initialised the data directory (ran
// initdb) rather than finding a cluster there: the first use of a data
// directory, or a mistyped one.
func (s *Server) Created() bool { return s.created }

// Stop says that this process has finished using the server, and stops
// the server if this process started it.
//
// For a server another process owns, Stop only releases this process's
// claim on it and returns nil. The owner's Stop waits for that, so a
// process that joined a server must call Stop once it has closed its
// connections, or else the owner stops only when this process exits or
// its own ctx is done.
//
// The owner's Stop of a non-ephemeral server first waits until every
// other process that got the server from Start has called Stop or exited
// (logging a warning if that takes 3 seconds), so that none of
// them is refused a connection halfway through its work; a Start arriving
// meanwhile joins the server, and Stop waits for it too. It waits up to
// StopGrace: a process that uses the server for longer (folio serve, say)
// loses it then, in an orderly shutdown, not a crash. Then the server
// gets a smart shutdown, which waits for the remaining clients to
// disconnect; after StopGrace a fast shutdown, which terminates their
// sessions; and if that takes too long an immediate shutdown. An ephemeral
// server gets a fast shutdown at once, and its data directory, separate
// socket directory and lock file are then removed. When ctx is done before
// the server has exited, Stop stops waiting for other processes and
// escalates to an immediate shutdown. Stop returns once the postmaster has
// exited.
//
// Stop returns an error if the server could not be stopped, if it had
// already exited on its own before Stop (with the last lines of its log),
// or if removing an ephemeral server's files failed. Calling Stop again
// returns the first call's result.
func (s *Server) Stop(ctx context.Context) error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if !s.stopDone {
		if s.owned {
			s.stopErr = s.stop(ctx)
		} else {
			s.users.unlock()
		}
		s.stopDone = true
	}
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	exclusive := false
	select {
	case <-s.proc.Exited():
		// Another process may have started a server of its own since;
		// it is not this Stop's to wait for its users.
	default:
		exclusive = s.waitForUsers(ctx)
	}
	defer func() {
		// The server is gone and its socket directory removed, so a
		// waiting Start may go ahead. While this open holds the lock
		// exclusively no other one holds the file, so removing it is safe
		// (see lockFile) and leaves nothing behind.
		select {
		case <-s.proc.Exited():
		default:
			exclusive = false // still running: others may lock the file yet
		}
		if !exclusive {
			s.users.unlock()
		} else if err := s.users.removeAndUnlock(); err != nil {
			s.logger.Debug("pglocal: leaving users lock file", "data_dir", s.dataDir, "err", err)
		}
	}()
	var err error
	select {
	case <-s.proc.Exited():
		err = fmt.Errorf("pglocal: server had exited before Stop (%v)%s", s.proc.Wait(), s.logTail())
	default:
		if err = s.shutdown(ctx); err != nil {
			return err
		}
	}
	if s.ephemeral {
		err = errors.Join(err, s.removeFiles(ctx))
	} else if s.socketDir != s.dataDir {
		s.removeSocketDir(ctx)
	}
	return err
}

// waitForUsers converts the owner's shared lock on the users lock file
// into an exclusive one, which it gets once every other process using the
// server has released its shared lock, and reports whether it did. It
// gives up after StopGrace, when ctx is done or when the server exits. An
// ephemeral server has no users lock and does not wait.
func (s *Server) waitForUsers(ctx context.Context) bool {
	if s.users == nil {
		return false
	}
	began := time.Now()
	limit := time.NewTimer(s.stopGrace)
	defer limit.Stop()
	warned := false
	for {
		ok, err := s.users.tryExclusive()
		if err != nil {
			s.logger.Warn("pglocal: cannot wait for other processes using the server", "data_dir", s.dataDir, "err", err)
			return false
		}
		if ok {
			if warned {
				s.logger.Info("pglocal: other processes have finished using the server", "data_dir", s.dataDir,
					"waited", time.Since(began).Round(time.Millisecond))
			}
			return true
		}
		if !warned && time.Since(began) >= usersWarnAfter {
			s.logger.Warn("pglocal: waiting for other processes using the server on " + s.dataDir + " to finish")
			warned = true
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.logger.Debug("pglocal: no longer waiting for other processes using the server", "data_dir", s.dataDir, "err", ctx.Err())
			return false
		case <-limit.C:
			t.Stop()
			s.logger.Warn("pglocal: stopping the server on "+s.dataDir+" while other processes still use it",
				"waited", time.Since(began).Round(time.Millisecond))
			return false
		case <-s.proc.Exited():
			t.Stop()
			return false
		}
	}
}

// removeSocketDir removes the short socket directory of a stopped server
// that keeps its data (the server removed the socket in it), under the
// start lock so that a Start at the same time cannot lose the directory it
// just made. Failing to remove it is harmless: the next Start reuses it.
func (s *Server) removeSocketDir(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	lock, err := lockFile(ctx, s.lockPath)
	if err != nil {
		return
	}
	defer lock.unlock()
	if err := os.Remove(s.socketDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Debug("pglocal: leaving socket directory", "path", s.socketDir, "err", err)
	}
}

// shutdown signals the postmaster with escalating shutdown modes until it
// exits.
func (s *Server) shutdown(ctx context.Context) error {
	type step struct {
		sig  os.Signal
		mode string
		wait time.Duration
	}
	steps := []step{
		{sigSmartShutdown, "smart", s.stopGrace},
		{sigFastShutdown, "fast", fastShutdownTimeout},
		{sigImmediateShutdown, "immediate", immediateShutdownTimeout},
		{os.Kill, "kill", immediateShutdownTimeout},
	}
	if s.ephemeral {
		steps = steps[1:]
	}
	pid := s.proc.Pid()
	began := time.Now()
	immediate := len(steps) - 2
	done := ctx.Done()
	for i := 0; i < len(steps); i++ {
		if i < immediate && ctx.Err() != nil {
			s.logger.Warn("pglocal: stopping was cut short: shutting the server down immediately", "pid", pid, "err", ctx.Err())
			i = immediate
		}
		if i >= immediate {
			done = nil // nothing left to skip
		}
		st := steps[i]
		s.logger.Debug("pglocal: stopping server", "pid", pid, "mode", st.mode)
		if err := s.proc.Signal(st.sig); err != nil {
			return fmt.Errorf("pglocal: stopping server (pid %d): %w", pid, err)
		}
		timer := time.NewTimer(st.wait)
		// A smart shutdown waits for every session to end: say why
		// when it takes a while, or the end of a command that is done
		// would hang in silence while, say, a psql stays connected.
		var slow <-chan time.Time
		if st.mode == "smart" && st.wait > slowShutdown {
			t := time.NewTimer(slowShutdown)
			defer t.Stop()
			slow = t.C
		}
		for waiting := true; waiting; {
			select {
			case <-s.proc.Exited():
				timer.Stop()
				s.logger.Info("pglocal: server stopped", "pid", pid, "mode", st.mode,
					"elapsed", time.Since(began).Round(time.Millisecond))
				return nil
			case <-slow:
				// Sessions of other programs are the usual cause; the
				// shutdown checkpoint may be another.
				s.logger.Warn(fmt.Sprintf("pglocal: stopping the server on %s takes a while: it waits for sessions of other programs, if any, to end (in %v they are ended) and writes its checkpoint",
					s.dataDir, (st.wait-slowShutdown).Round(time.Second)), "pid", pid)
				slow = nil
			case <-timer.C:
				s.logger.Info("pglocal: server still running, escalating", "pid", pid, "mode", st.mode, "waited", st.wait)
				waiting = false
			case <-done:
				timer.Stop()
				waiting = false
			}
		}
	}
	return fmt.Errorf("pglocal: server (pid %d) did not exit after SIGKILL", pid)
}

// slowShutdown is how long a smart shutdown runs before Stop says why. The
// shutdown checkpoint of a new cluster alone (fsync on) took 1.0 to 1.4 s
// on a loaded 2-core machine: a second would warn of it routinely.
const slowShutdown = 3 * time.Second

// removeFiles removes an ephemeral server's files once it has exited. It
// holds the start lock meanwhile so that a concurrent Start does not see a
// half-removed data directory.
func (s *Server) removeFiles(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	lock, lockErr := lockFile(ctx, s.lockPath)
	err := os.RemoveAll(s.dataDir)
	if s.socketDir != s.dataDir {
		err = errors.Join(err, os.RemoveAll(s.socketDir))
	}
	if lockErr != nil {
		s.logger.Warn("pglocal: leaving lock file", "path", s.lockPath, "err", lockErr)
	} else if rmErr := lock.removeAndUnlock(); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	if err != nil {
		return fmt.Errorf("pglocal: removing ephemeral server files: %w", err)
	}
	return nil
}

// sleepCtx sleeps for d or until ctx is done, whichever comes first, and
// returns ctx.Err() in the latter case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
