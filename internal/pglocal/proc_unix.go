//go:build unix

package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// pidAlive reports whether a process with this pid exists. EPERM means it
// exists but belongs to another user.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// fileLock is an exclusive flock held on a lock file.
type fileLock struct {
	f    *os.File
	path string
}

// lockFile creates path if needed and takes an exclusive flock on it,
// polling until it gets it or ctx is done. Locks conflict between any two
// opens of the file, within one process too.
func lockFile(ctx context.Context, path string) (*fileLock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("pglocal: opening lock file: %w", err)
		}
		if err := flockWait(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("pglocal: locking %s: %w", path, err)
		}
		// The previous holder may have removed the file (an ephemeral
		// server's Stop does) while we waited on it; then the lock we hold
		// protects nothing and we must lock the file now at path.
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

func flockWait(ctx context.Context, f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var lockErr error
		if err := raw.Control(func(fd uintptr) {
			lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
		}); err != nil {
			return err
		}
		if lockErr == nil {
			return nil
		}
		if !errors.Is(lockErr, syscall.EWOULDBLOCK) && !errors.Is(lockErr, syscall.EINTR) {
			return lockErr
		}
		// Polling rather than a blocking flock keeps the wait cancellable.
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// unlock releases the lock; the file stays.
func (l *fileLock) unlock() { l.f.Close() }

// removeAndUnlock removes the lock file, then releases the lock. Removing
// it while still holding the lock is what makes lockFile's same-file check
// sufficient.
func (l *fileLock) removeAndUnlock() error {
	err := os.Remove(l.path)
	l.f.Close()
	return err
}
