package pglocal_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pglocal"
)

// alivePID returns the pid of a live process that is neither this one nor
// its parent: a child that sleeps until the test ends.
func alivePID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// staleDir makes what a killed process leaves of an ephemeral server: a
// data directory whose postmaster.pid names pid, last changed age ago, and
// its lock file.
func staleDir(t *testing.T, pid int, age time.Duration) string {
	t.Helper()
	dir := newDataDir(t, "data")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600))
	if pid != 0 {
		pidFile := fmt.Sprintf("%d\n%s\n1700000000\n5432\n%s\n\n", pid, dir, dir)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pidFile), 0o600))
	}
	require.NoError(t, os.WriteFile(dir+".lock", nil, 0o600))
	then := time.Now().Add(-age)
	require.NoError(t, os.Chtimes(dir, then, then))
	return dir
}

func TestRemoveStale(t *testing.T) {
	t.Parallel()
	const deadPID = 1 << 22 // above the kernel's pid_max: never alive
	for _, tc := range []struct {
		desc    string
		pid     int
		age     time.Duration
		removed bool
	}{
		{"server gone", deadPID, time.Hour, true},
		{"no postmaster.pid, old", 0, time.Hour, true},
		// Any live process keeps the directory, even one that cannot be
		// its server (it works elsewhere): a deletion errs on the side of
		// keeping.
		{"server alive", alivePID(t), time.Hour, false},
		{"pid reused by this process", os.Getpid(), time.Hour, true},
		{"pid reused by this process's parent", os.Getppid(), time.Hour, true},
		{"recent: may be initialising", 0, time.Second, false},
		{"recent, server gone", deadPID, time.Second, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := staleDir(t, tc.pid, tc.age)
			removed, err := pglocal.RemoveStale(dir, time.Minute)
			require.NoError(t, err)
			assert.Equal(t, tc.removed, removed)
			if tc.removed {
				assert.NoDirExists(t, dir)
				assert.NoFileExists(t, dir+".lock")
			} else {
				assert.DirExists(t, dir)
				assert.FileExists(t, dir+".lock")
			}
		})
	}

	// A running server's directory is left alone, however old.
	opts, _ := newOptions(t, newDataDir(t, "data"))
	opts.Ephemeral = true
	s := start(t, opts)
	then := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(s.DataDir(), then, then))
	removed, err := pglocal.RemoveStale(s.DataDir(), time.Minute)
	require.NoError(t, err)
	assert.False(t, removed)
	assert.FileExists(t, filepath.Join(s.DataDir(), "postmaster.pid"))
}

// A directory whose lock a Start holds stays, however old; a lock file
// whose directory is gone goes, unless it is recent or held (a Start is
// about to make the directory).
func TestRemoveStaleLocks(t *testing.T) {
	t.Parallel()
	dir := staleDir(t, 0, time.Hour)
	f, err := os.OpenFile(dir+".lock", os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	removed, err := pglocal.RemoveStale(dir, time.Minute)
	require.NoError(t, err)
	assert.False(t, removed, "a Start holds the lock")
	assert.DirExists(t, dir)
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))

	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Chtimes(dir+".lock", time.Now(), time.Now()))
	removed, err = pglocal.RemoveStale(dir, time.Minute)
	require.NoError(t, err)
	assert.False(t, removed, "a recent lock file")
	assert.FileExists(t, dir+".lock")

	then := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(dir+".lock", then, then))
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	removed, err = pglocal.RemoveStale(dir, time.Minute)
	require.NoError(t, err)
	assert.False(t, removed, "an old lock file a Start holds")
	assert.FileExists(t, dir+".lock")
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))

	removed, err = pglocal.RemoveStale(dir, time.Minute)
	require.NoError(t, err)
	assert.True(t, removed)
	assert.NoFileExists(t, dir+".lock")
}

// A server whose data directory path is too long for a socket has its
// socket in a directory of its own; what a killed process leaves of it goes
// with the data directory.
func TestRemoveStaleTakesTheSocketDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(newDataDir(t, strings.Repeat("d", 60)), strings.Repeat("e", 60), "data")
	opts, _ := newOptions(t, dir)
	opts.Ephemeral = true
	s, err := pglocal.Start(t.Context(), opts)
	require.NoError(t, err)
	socketDir := s.SocketDir()
	require.NotEqual(t, dir, socketDir)
	t.Cleanup(func() { _ = os.RemoveAll(socketDir) })

	// Killed with its process: no Stop, no cleanup.
	pid := postmasterPID(t, dir)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) == syscall.ESRCH }, 20*time.Second, 10*time.Millisecond,
		"postmaster %d still exists", pid)
	require.DirExists(t, socketDir)
	then := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(dir, then, then))

	// The socket directory is shared by name with whatever server has a
	// data directory of the same path: while its socket lock names a live
	// process, it stays.
	lockPath := filepath.Join(socketDir, ".s.PGSQL.5432.lock")
	owner, err := os.ReadFile(lockPath)
	require.NoError(t, err)
	_, rest, _ := strings.Cut(string(owner), "\n")
	require.NoError(t, os.WriteFile(lockPath, []byte(fmt.Sprintf("%d\n%s", alivePID(t), rest)), 0o600))
	removed, err := pglocal.RemoveStale(dir, time.Minute)
	require.NoError(t, err)
	assert.True(t, removed)
	assert.NoDirExists(t, dir)
	assert.DirExists(t, socketDir, "its socket lock names a live process")

	// What the killed server left: its socket lock names a dead process.
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(lockPath, owner, 0o600))
	require.NoError(t, os.Chtimes(dir, then, then))
	removed, err = pglocal.RemoveStale(dir, time.Minute)
	require.NoError(t, err)
	assert.True(t, removed)
	assert.NoDirExists(t, dir)
	assert.NoDirExists(t, socketDir)
}

// A link named like a stale data directory (anyone can make one in the
// temporary directory) is not one: RemoveStale leaves it, and what it
// points to, alone.
func TestRemoveStaleLeavesLinksAlone(t *testing.T) {
	t.Parallel()
	dir := staleDir(t, 0, time.Hour)
	link := dir + "-link"
	require.NoError(t, os.Symlink(dir, link))
	t.Cleanup(func() { os.Remove(link) })
	removed, err := pglocal.RemoveStale(link, time.Minute)
	require.NoError(t, err)
	assert.False(t, removed)
	assert.DirExists(t, dir)
	assert.FileExists(t, dir+".lock")
	assert.NoFileExists(t, link+".lock")
}
