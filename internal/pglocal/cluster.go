package pglocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/folio-dev/folio/internal/runas"
)

const (
	// socketLockSuffix is the longest name postgres creates in the socket
	// directory.
	socketLockSuffix = "/.s.PGSQL.5432.lock"
	// maxSocketPath leaves a margin below sun_path's 104 (macOS) and 108
	// (Linux) bytes.
	maxSocketPath = 100
	// maxLogSize is the size beyond which Start moves server.log aside.
	maxLogSize = 8 << 20
)

// checkReachable verifies that the server account can reach the directory
// holding the data directory (and the one holding a separate socket
// directory), and names the blocking directory if not.
//
// It asks the kernel rather than interpreting mode bits, which would get
// ACLs and security modules wrong: a shell running as the server user
// changes into each existing ancestor, top down, so the first failure is
// the blocking directory. If no shell can be run, the check is skipped and
// initdb reports the problem instead.
func (l *launcher) checkReachable(ctx context.Context) error {
	dirs := existingAncestors(filepath.Dir(l.dataDir))
	if l.socketDir != l.dataDir {
		for _, d := range existingAncestors(filepath.Dir(l.socketDir)) {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	const script = `for d do cd "$d" 2>/dev/null || { printf '%s' "$d"; exit 3; }; done`
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", script, "pglocal"}, dirs...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = l.acct.SysProcAttr(false, nil)
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 3 && len(out) > 0 {
		blocked := string(out)
		mode := ""
		if fi, err := os.Stat(blocked); err == nil {
			if !fi.IsDir() {
				return refuse("pglocal: data directory %s: %s is not a directory", l.dataDir, blocked)
			}
			mode = fmt.Sprintf(" (mode %04o)", fi.Mode().Perm())
		}
		return refuse("pglocal: %s is not reachable by the %s system user%s, which runs PostgreSQL when this program runs as root: "+
			"put the data directory elsewhere, e.g. under /var/lib or /tmp, or set DATABASE_URL to use an existing PostgreSQL server",
			blocked, l.acct.Name, mode)
	}
	if err != nil {
		l.logger.Debug("pglocal: skipping the reachability check", "err", err)
	}
	return nil
}

// existingAncestors returns dir and its ancestors, root first, up to the
// first one that does not exist.
func existingAncestors(dir string) []string {
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var dirs []string
	for i := len(chain) - 1; i >= 0; i-- {
		if _, err := os.Stat(chain[i]); err != nil {
			break
		}
		dirs = append(dirs, chain[i])
	}
	return dirs
}

// makeParentDirs creates the missing ancestors of the data directory with
// mode 0755. When the server runs as another user, the mode is set
// explicitly, so that a restrictive umask does not lock that user out.
func (l *launcher) makeParentDirs() error {
	var missing []string
	for d := filepath.Dir(l.dataDir); ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pglocal: %w", err)
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o755)
		if err == nil && l.acct != nil {
			err = os.Chmod(missing[i], 0o755)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("pglocal: creating the data directory's parent: %w", err)
		}
	}
	return nil
}

// ErrNotUsable reports a data directory this process may not use as it
// is: a cluster that belongs to another user, a symbolic link a server
// started as root would follow, a directory the server user cannot reach,
// or one that holds files but no cluster. The error's message says what
// to do instead. [Start] returns errors that wrap it for those, and only
// those; test with errors.Is.
var ErrNotUsable = errors.New("pglocal: data directory not usable")

// notUsable is an error of ErrNotUsable with a message of its own.
type notUsable struct{ msg string }

func (e *notUsable) Error() string        { return e.msg }
func (e *notUsable) Is(target error) bool { return target == ErrNotUsable }

func refuse(format string, args ...any) error {
	return &notUsable{fmt.Sprintf(format, args...)}
}

// refuseLinks refuses, for a process that runs the server as another user
// (root), a data directory that is a symbolic link, or whose parent is
// (where the lock files go; an ephemeral server's parent is the temporary
// directory, not checked). initdb gives the data directory to the server
// user, and the lock files are created as root: through a link planted in
// a checkout (git stores links) or in a shared directory, that would hand
// any empty directory to the server user, or create files as root,
// anywhere. Not a check a link made in between could slip past, but the
// links that matter are the ones already there: the directories are
// root's to create from here on.
func (l *launcher) refuseLinks() error {
	dirs := []string{l.dataDir}
	if !l.ephemeral {
		dirs = append(dirs, filepath.Dir(l.dataDir))
	}
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return refuse("pglocal: %s is a symbolic link, which a server started as root does not follow "+
				"(it would give what it points to to the %s user): use the directory it points to", d, l.acct.Name)
		}
	}
	return nil
}

// initCluster runs initdb unless the data directory holds a cluster.
func (l *launcher) initCluster(ctx context.Context) error {
	_, err := os.Stat(filepath.Join(l.dataDir, "PG_VERSION"))
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pglocal: data directory: %w", err)
	}
	fi, err := os.Stat(l.dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(l.dataDir, 0o700); err != nil {
			return fmt.Errorf("pglocal: creating data directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("pglocal: data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("pglocal: data directory %s is not a directory", l.dataDir)
	default:
		empty, err := l.awaitEmpty(ctx)
		if err != nil {
			return fmt.Errorf("pglocal: data directory: %w", err)
		}
		if _, err := os.Stat(filepath.Join(l.dataDir, "PG_VERSION")); !empty && err == nil {
			return nil // the initdb finished after all
		}
		if !empty {
			return refuse("pglocal: data directory %s is not empty but holds no PostgreSQL cluster (no PG_VERSION); "+
				"refusing to initialise it: choose another directory, or, if it is what a killed initdb left, remove it", l.dataDir)
		}
	}
	if err := l.acct.Chown(l.dataDir); err != nil {
		return fmt.Errorf("pglocal: data directory: %w", err)
	}

	l.logger.Info("pglocal: running initdb", "data_dir", l.dataDir)
	began := time.Now()
	out, err := l.initdb(ctx, "C.UTF-8")
	if err != nil && ctx.Err() == nil && bytes.Contains(out, []byte("invalid locale")) {
		// Systems without the C.UTF-8 locale (musl, old glibc) have C. initdb
		// checks the locale before it writes anything. (Only that error:
		// initdb names the locale in every run's banner, and another
		// failure retried in C would hide its own message and leave a
		// cluster in a locale nobody asked for.)
		if empty, _ := isEmptyDir(l.dataDir); empty {
			l.logger.Debug("pglocal: locale C.UTF-8 unavailable, using C", "initdb_output", string(out))
			out, err = l.initdb(ctx, "C")
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("pglocal: initdb: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("pglocal: initdb failed (%v):\n%s", err, indent(string(out)))
	}
	l.logger.Debug("pglocal: initdb done", "elapsed", time.Since(began).Round(time.Millisecond), "output", string(out))
	l.created = true
	return nil
}

// initdb runs initdb for the data directory with the given locale and
// returns its combined output.
func (l *launcher) initdb(ctx context.Context, locale string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(l.binDir, "initdb"),
		"-D", l.dataDir,
		"-U", superuser,
		// Trust is safe on the socket, whose directory is private; TCP,
		// which the server never listens on, is refused outright, should
		// someone turn it on.
		"--auth-local=trust", "--auth-host=reject",
		"--encoding=UTF8",
		"--locale="+locale,
		"--no-sync")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C") // untranslated messages; the cluster's locale is --locale
	// SIGINT, should this process die, or on cancellation, makes initdb
	// remove what it has created, so no half-initialised data directory is
	// left behind. But initdb ignores it while it waits for the server it
	// runs in bootstrap and single-user mode (system() does), which is most
	// of its time: so initdb runs in a process group of its own, and the
	// cancellation goes to the whole group. The server stops at it, which
	// fails initdb's step, and initdb removes the directory and exits.
	cmd.SysProcAttr = l.acct.SysProcAttr(true, os.Interrupt)
	cmd.Cancel = func() error { return signalGroup(cmd.Process, syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	// Keep the parent-death signal's thread alive while initdb runs (see
	// package runas).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil && cmd.Process != nil {
		// Past WaitDelay, Go kills initdb alone: a server it ran would go
		// on writing into the directory the caller is about to remove.
		_ = signalGroup(cmd.Process, syscall.SIGKILL)
	}
	return out, err
}

// initdbCleanup is how long a data directory without a cluster is given
// to become empty before initCluster refuses it.
const initdbCleanup = 5 * time.Second

// awaitEmpty reports whether the data directory, which holds no cluster,
// is empty (or gone, and then made again), waiting initdbCleanup for it
// to become so: a process killed while its initdb ran (whose start lock
// died with it) leaves that initdb removing what it made, for a second or
// so, and the next Start must not call that a directory of other files.
func (l *launcher) awaitEmpty(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(initdbCleanup)
	for {
		empty, err := isEmptyDir(l.dataDir)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(l.dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return false, err
			}
			continue
		}
		if err != nil || empty || time.Now().After(deadline) {
			return empty, err
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return false, err
		}
	}
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// socketDirFor returns the directory for the server's socket: the data
// directory if its path is short enough, else a short directory derived
// from it (see the package documentation).
func socketDirFor(dataDir string) string {
	if fitsSocketPath(dataDir) {
		return dataDir
	}
	sum := sha256.Sum256([]byte(dataDir))
	name := "folio-" + hex.EncodeToString(sum[:4])
	if tmp := os.TempDir(); filepath.IsAbs(tmp) {
		if dir := filepath.Join(tmp, name); fitsSocketPath(dir) {
			return dir
		}
	}
	return filepath.Join("/tmp", name)
}

// fitsSocketPath reports whether dir can hold the server's socket. A comma
// would split the host list of a connection string.
func fitsSocketPath(dir string) bool {
	return len(dir)+len(socketLockSuffix) <= maxSocketPath && !strings.Contains(dir, ",")
}

// quoteSocketDir quotes dir for unix_socket_directories, a comma-separated
// list whose elements may be double-quoted.
func quoteSocketDir(dir string) string {
	if !strings.ContainsAny(dir, ", \t\"") {
		return dir
	}
	return `"` + strings.ReplaceAll(dir, `"`, `""`) + `"`
}

// prepareSocketDir creates a separate socket directory, private to the
// server user, or checks that an existing one is. It lives in a
// world-writable directory, so one created by someone else is refused.
func (l *launcher) prepareSocketDir() error {
	if l.socketDir == l.dataDir {
		return nil
	}
	if err := l.acct.MkdirPrivate(l.socketDir); err != nil {
		return fmt.Errorf("pglocal: socket directory: %w", err)
	}
	return nil
}

// openLog opens DataDir/log/server.log for appending, for the server's
// stdout and stderr, and returns it with its current size. A log grown
// beyond maxLogSize is first renamed to server.log.1.
func (l *launcher) openLog() (*os.File, int64, error) {
	dir := filepath.Join(l.dataDir, "log")
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		err = l.acct.Chown(dir)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, 0, fmt.Errorf("pglocal: log directory: %w", err)
	}
	// The data directory is the server user's: whoever runs as that user
	// could put links in it. Run as root, this process must not follow
	// one to create, or give that user, a file elsewhere.
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil, 0, fmt.Errorf("pglocal: log directory %s is not a directory (a symbolic link?)", dir)
	}
	path := filepath.Join(dir, "server.log")
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".1")
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("pglocal: server log: %w", err)
	}
	if l.acct != nil {
		// Files in the data directory belong to the server user, or
		// pg_basebackup and pg_upgrade stumble over them.
		if err := f.Chown(int(l.acct.UID), int(l.acct.GID)); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("pglocal: server log: %w", err)
		}
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("pglocal: server log: %w", err)
	}
	return f, off, nil
}

// logTail returns the last lines the server logged since it started,
// formatted to end an error message, or "" if there are none.
func (s *Server) logTail() string { return runas.LogTail(s.logPath, s.logOffset) }

// indent prefixes every line of s with a tab.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}

// The layout of postmaster.pid, from PostgreSQL's src/include/utils/pidfile.h:
// line 1 the postmaster's pid (negative for a single-user backend), 2 the
// data directory, 3 the start time, 4 the port, 5 the first Unix socket
// directory, 6 the first listen address, 7 the shared memory key, 8 the
// status (PostgreSQL 10 and later).
const (
	pmStatusStarting = "starting"
	pmStatusReady    = "ready"
)

var errPidFileIncomplete = errors.New("postmaster.pid is incomplete")

type pidFile struct {
	pid       int
	port      int
	socketDir string
	shmKey    int64  // the System V shared memory segment's key
	shmID     int    // and id; -1 if unknown
	status    string // "starting", "stopping", "ready" or "standby"
	hasStatus bool
}

// readPidFile parses the data directory's postmaster.pid. It returns an
// error satisfying errors.Is(err, fs.ErrNotExist) if there is none, and
// errPidFileIncomplete while postgres is still writing it.
func readPidFile(dataDir string) (*pidFile, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) < 6 { // postgres writes at least five lines, each ending in a newline
		return nil, errPidFileIncomplete
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil {
		return nil, errPidFileIncomplete
	}
	pf := &pidFile{pid: max(pid, -pid), port: port, socketDir: lines[4], shmID: -1}
	if len(lines) >= 7 {
		// "<key> <id>", both right-aligned in their columns.
		if f := strings.Fields(lines[6]); len(f) == 2 {
			key, err1 := strconv.ParseInt(f[0], 10, 64)
			id, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				pf.shmKey, pf.shmID = key, id
			}
		}
	}
	if len(lines) >= 8 {
		pf.status = strings.TrimSpace(lines[7])
		pf.hasStatus = pf.status != ""
	}
	return pf, nil
}

// ping connects to the server and disconnects. It returns nil if the server
// accepted the connection; otherwise the error and whether trying again
// may succeed: the server may not be listening yet, or be starting up or
// shutting down.
func ping(ctx context.Context, connString string) (retry bool, err error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return false, err
	}
	cfg.RuntimeParams["application_name"] = "pglocal"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		return false, conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P03": // cannot_connect_now: starting up, shutting down, in recovery
			return true, err
		case "3D000": // invalid_catalog_name: the database was dropped, but the server answers
			return false, nil
		}
		return false, err
	}
	return true, err
}

// shmAttached returns the number of processes attached to the System V
// shared memory segment with this key and id that the process creator
// made, from Linux's /proc/sysvipc/shm; ok is false where that cannot be
// read, or there is no such segment (gone, or the id now another's).
// postgres refuses to start while a process of a dead server still holds
// the segment that server's postmaster made and postmaster.pid names.
func shmAttached(key int64, id, creator int) (n int, ok bool) {
	data, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		// key shmid perms size cpid lpid nattch ...
		f := strings.Fields(line)
		if len(f) < 7 || f[1] != strconv.Itoa(id) || f[4] != strconv.Itoa(creator) {
			continue
		}
		// key_t is an int: the kernel shows as negative a key that
		// postmaster.pid shows as unsigned.
		k, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || int32(k) != int32(key) {
			continue
		}
		n, err := strconv.Atoi(f[6])
		return n, err == nil
	}
	return 0, false
}
