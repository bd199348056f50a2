package pglocal

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// RemoveStale removes the data directory of an ephemeral server that no
// longer runs, with its lock file: what a process killed before it could
// call Stop leaves behind (its server stops with it; see Options). It
// removes nothing, and reports false, when a server still runs on dataDir,
// a Start is under way on it, or the directory changed within minAge (a
// server being initialised writes no postmaster.pid yet). dataDir must be
// an ephemeral server's: RemoveStale cannot tell a cluster worth keeping
// from one thrown away.
func RemoveStale(dataDir string, minAge time.Duration) (bool, error) {
	// Lstat: a link named like a data directory is not one (anyone can
	// make one in the temporary directory), and is left alone.
	fi, err := os.Lstat(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return removeStaleLock(dataDir+".lock", minAge)
	}
	if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < minAge {
		return false, nil
	}
	if running(dataDir) {
		return false, nil
	}
	// A Start holds the lock while it initialises or launches the server.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	lock, err := lockFile(ctx, dataDir+".lock")
	if err != nil {
		return false, nil
	}
	defer lock.unlock()
	if running(dataDir) {
		return false, nil
	}
	if err := os.RemoveAll(dataDir); err != nil {
		return false, err
	}
	removeStaleSocketDir(dataDir)
	if err := os.Remove(dataDir + ".lock"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, err
	}
	return true, nil
}

// removeStaleSocketDir removes the socket directory of a server on dataDir
// that no longer runs, when it had one of its own (a data directory path
// too long for a socket), unless its socket lock names a live process: the
// directory's name comes from a hash of dataDir's path, and errs on the
// side of keeping. Best effort, as the directory is /tmp's to clean too.
func removeStaleSocketDir(dataDir string) {
	dir := socketDirFor(dataDir)
	if dir == dataDir {
		return
	}
	b, err := os.ReadFile(dir + socketLockSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist): // no socket lock: no server there
	case err != nil:
		return
	default:
		first, _, _ := strings.Cut(string(b), "\n")
		if pid, err := strconv.Atoi(strings.TrimSpace(first)); err != nil || processExists(pid) {
			return
		}
	}
	_ = os.RemoveAll(dir)
}

// removeStaleLock removes the lock file of a data directory that is gone
// (a Start that failed leaves one), unless it is recent or held.
func removeStaleLock(path string, minAge time.Duration) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < minAge {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	lock, err := lockFile(ctx, path)
	if err != nil {
		return false, nil
	}
	defer lock.unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// running reports whether postmaster.pid in dataDir names a live process,
// or is being written; a missing one means no server. A pid that is this
// process's or its parent's was reused: no server of ours has it.
func running(dataDir string) bool {
	pf, err := readPidFile(dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false
	case err != nil:
		return true // incomplete or unreadable: assume a server
	}
	// Any live process, not only one that works in dataDir (pidAlive):
	// what decides a deletion errs on the side of keeping.
	return processExists(pf.pid) && pf.pid != os.Getpid() && pf.pid != os.Getppid()
}
