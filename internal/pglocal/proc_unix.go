//go:build unix

package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

const supported = true

// The postmaster's shutdown modes, in escalating order
// (https://www.postgresql.org/docs/current/server-shutdown.html).
//
// A fast shutdown is also what the kernel requests, on Linux, when this
// process dies without Stop: the server terminates its sessions, writes a
// shutdown checkpoint and removes its socket and postmaster.pid. An
// immediate shutdown would be quicker but leaves the cluster needing crash
// recovery, and SIGKILL would orphan the server's backends and shared
// memory.
var (
	sigSmartShutdown     os.Signal = syscall.SIGTERM // wait for clients to disconnect
	sigFastShutdown      os.Signal = syscall.SIGINT  // terminate sessions, checkpoint, exit
	sigImmediateShutdown os.Signal = syscall.SIGQUIT // exit at once; crash recovery at next start
)

// isNoListener reports whether err says that nobody listens on the socket.
func isNoListener(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// processExists reports whether a process with this pid exists. EPERM
// means it exists but belongs to another user.
func processExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// pidAlive reports whether a process with this pid exists and may be the
// postmaster of dataDir.
func pidAlive(pid int, dataDir string) bool {
	return processExists(pid) && !worksElsewhere(pid, dataDir)
}

// worksElsewhere reports whether the process with this pid is known to work
// in another directory than dataDir. A postmaster works in its data
// directory (it moves there before it writes postmaster.pid). Where /proc
// tells a process's working directory (Linux, for a process this one may
// inspect), one elsewhere is an unrelated process that got the pid of a
// server gone without removing postmaster.pid (killed, or the machine
// restarted): waiting for it to stop would take as long as it lives. (Not
// its name: a packaged postgres may run under another, behind a wrapper.)
func worksElsewhere(pid int, dataDir string) bool {
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil {
		return false
	}
	dir, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		dir = dataDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	return cwd != abs
}

// fileLock is an flock held on a lock file: exclusive for the start lock,
// shared for the users lock.
type fileLock struct {
	f    *os.File
	path string
}

// lockFile creates path if needed and takes an exclusive flock on it,
// polling until it gets it or ctx is done. Locks conflict between any two
// opens of the file, within one process too.
func lockFile(ctx context.Context, path string) (*fileLock, error) {
	return lockFileMode(ctx, path, syscall.LOCK_EX, nil)
}

// lockFileShared is lockFile for a shared flock, which any number of opens
// hold at once and which conflicts only with an exclusive one. waiting, if
// not nil, is called once should the lock not be free at once.
func lockFileShared(ctx context.Context, path string, waiting func()) (*fileLock, error) {
	return lockFileMode(ctx, path, syscall.LOCK_SH, waiting)
}

func lockFileMode(ctx context.Context, path string, how int, waiting func()) (*fileLock, error) {
	for {
		f, err := openNoFollow(path, os.O_RDWR)
		if err != nil {
			return nil, fmt.Errorf("pglocal: lock file %w", err)
		}
		if err := flockWait(ctx, f, how, waiting); err != nil {
			f.Close()
			return nil, fmt.Errorf("pglocal: locking %s: %w", path, err)
		}
		waiting = nil // said once is enough
		// The previous holder may have removed the file (an ephemeral
		// server's Stop removes the start lock, an owner's Stop the users
		// lock) while we waited on it; then the lock we hold protects
		// nothing and we must lock the file now at path.
		held, err1 := f.Stat()
		cur, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, cur) {
			return &fileLock{f: f, path: path}, nil
		}
		f.Close()
		if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
			return nil, fmt.Errorf("pglocal: lock file: %w", err2)
		}
	}
}

// flockWait takes the flock how (LOCK_EX or LOCK_SH) on f, polling until
// it gets it or ctx is done. It calls waiting, if not nil, before the
// first wait.
func flockWait(ctx context.Context, f *os.File, how int, waiting func()) error {
	for {
		ok, err := tryFlock(f, how)
		if err != nil || ok {
			return err
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		// Polling rather than a blocking flock keeps the wait cancellable.
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// tryFlock tries once to take the flock how on f and reports whether it
// did.
func tryFlock(f *os.File, how int) (bool, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lockErr error
	if err := raw.Control(func(fd uintptr) {
		lockErr = syscall.Flock(int(fd), how|syscall.LOCK_NB)
	}); err != nil {
		return false, err
	}
	if lockErr == nil {
		return true, nil
	}
	if errors.Is(lockErr, syscall.EWOULDBLOCK) || errors.Is(lockErr, syscall.EINTR) {
		return false, nil
	}
	return false, lockErr
}

// tryExclusive tries once to convert the lock into an exclusive one and
// reports whether it did: it fails while any other open of the file holds
// a lock. flock converts by releasing the old lock first, so after a
// failed attempt this open may hold no lock at all; use it only on a lock
// that is to be given up anyway.
func (l *fileLock) tryExclusive() (bool, error) { return tryFlock(l.f, syscall.LOCK_EX) }

// unlock releases the lock; the file stays. A nil lock is fine.
func (l *fileLock) unlock() {
	if l != nil {
		l.f.Close()
	}
}

// removeAndUnlock removes the lock file, then releases the lock. Removing
// it while still holding the lock exclusively is what makes lockFile's
// same-file check sufficient.
func (l *fileLock) removeAndUnlock() error {
	err := os.Remove(l.path)
	l.f.Close()
	return err
}

// checkOwner refuses a data directory that holds a cluster another user
// owns, before this process creates anything next to it: the server would
// not start (postgres runs as the cluster's owner only), and the lock
// files made on the way, owned by this process's user, would lock the
// owner out afterwards. A data directory this user may not look into (a
// cluster's is mode 0700) is taken for a cluster too: its owner is who
// may use it, or root, when root's lock file is beside it (a cluster made
// as root belongs to the server user). A data directory it cannot stat at
// all is left to the later steps, which say what is wrong.
func (l *launcher) checkOwner() error {
	fi, err := os.Stat(l.dataDir)
	if err != nil {
		return nil
	}
	if !fi.IsDir() {
		return fmt.Errorf("pglocal: data directory %s is not a directory", l.dataDir)
	}
	what := "the cluster in " + l.dataDir
	if _, err := os.Stat(filepath.Join(l.dataDir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		return nil // no cluster yet: initdb makes one for the right user
	} else if err != nil {
		what = "the data directory " + l.dataDir + ", which this user may not look into,"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	want, runAs := uint32(os.Geteuid()), "this user"
	if l.acct != nil {
		want, runAs = l.acct.UID, "the "+l.acct.Name+" system user"
	}
	if st.Uid == want {
		return l.checkLocks()
	}
	if lfi, err := os.Stat(l.lockPath()); err == nil {
		if lst, ok := lfi.Sys().(*syscall.Stat_t); ok && lst.Uid == 0 && st.Uid != 0 {
			// Made as root, for the server user: root is who uses it.
			return refuse("pglocal: %s belongs to %s, the server user of a cluster made as root (its lock file %s is root's), "+
				"and the server would run as %s: run folio as root, or choose another data directory",
				what, userName(st.Uid), l.lockPath(), runAs)
		}
	}
	return refuse("pglocal: %s belongs to %s, and the server would run as %s: "+
		"run folio as its owner, or choose another data directory", what, userName(st.Uid), runAs)
}

// checkLocks refuses, for a process that is not root, a cluster whose lock
// files beside it it may not write, or create: one made as root belongs to
// the server user, but its lock files, and the directory that holds them,
// are root's, and root runs its server. Running folio as the server user
// would otherwise stop at "permission denied" on a lock file, with no word
// of whose the cluster is to use.
func (l *launcher) checkLocks() error {
	if l.acct != nil {
		return nil // root writes any file
	}
	const wOK = 2 // W_OK
	for _, path := range []string{l.lockPath(), l.usersPath()} {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			dir := filepath.Dir(path)
			dfi, err := os.Stat(dir)
			if err != nil || syscall.Access(dir, wOK) == nil {
				continue
			}
			if st, ok := dfi.Sys().(*syscall.Stat_t); ok {
				return refuse("pglocal: this user may not create the lock file %s of the cluster in %s: the directory belongs to %s; "+
					"run folio as that user, or choose another data directory", path, l.dataDir, userName(st.Uid))
			}
		case err != nil || syscall.Access(path, wOK) == nil:
			continue
		default:
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				return refuse("pglocal: this user may not write the lock file %s of the cluster in %s: it belongs to %s; "+
					"run folio as that user, or choose another data directory", path, l.dataDir, userName(st.Uid))
			}
		}
	}
	return nil
}

// userName is "name (uid N)", or "uid N" for a uid with no name.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// signalGroup sends sig to the process group that p leads (p was started
// with Setpgid): p and whatever it started that is still running.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// openLogFile opens the server log for appending, creating it if need be,
// and refuses anything but a regular file with one name: not through a
// symbolic link (O_NOFOLLOW), not a hard link to a file elsewhere, which
// the caller would otherwise give to the server user.
func openLogFile(path string) (*os.File, error) {
	f, err := openNoFollow(path, os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || (ok && st.Nlink != 1) {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file of its own; refusing to use it", path)
	}
	return f, nil
}

// openNoFollow opens path with flag, creating it (mode 0600) if need be,
// but never through a symbolic link: the file is created with this
// process's rights, root's too, wherever a link would point.
func openNoFollow(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; refusing to follow it", path)
	}
	return f, err // a *PathError, which names the path
}
