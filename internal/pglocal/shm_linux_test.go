package pglocal

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shmAttached reads /proc/sysvipc/shm: a segment of this process's own
// has one process attached, a gone one is not found.
func TestShmAttached(t *testing.T) {
	if _, err := os.Stat("/proc/sysvipc/shm"); err != nil {
		t.Skip("no /proc/sysvipc/shm")
	}
	id, _, errno := syscall.Syscall(syscall.SYS_SHMGET, 0 /* IPC_PRIVATE */, 4096, 0o1000|0o600 /* IPC_CREAT */)
	require.Zero(t, errno)
	addr, _, errno := syscall.Syscall(syscall.SYS_SHMAT, id, 0, 0)
	require.Zero(t, errno)
	n, ok := shmAttached(int(id))
	assert.True(t, ok)
	assert.Equal(t, 1, n)

	_, _, errno = syscall.Syscall(syscall.SYS_SHMDT, addr, 0, 0)
	require.Zero(t, errno)
	n, ok = shmAttached(int(id))
	assert.True(t, ok)
	assert.Zero(t, n)

	_, _, errno = syscall.Syscall(syscall.SYS_SHMCTL, id, 0 /* IPC_RMID */, 0)
	require.Zero(t, errno)
	_, ok = shmAttached(int(id))
	assert.False(t, ok, "removed")
}
