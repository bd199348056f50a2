package pglocal

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// shmAttached reads /proc/sysvipc/shm: a segment this process made and
// attached has one process attached, then none; a segment of another
// creator or key, or a removed one, is not the one looked for.
func TestShmAttached(t *testing.T) {
	if _, err := os.Stat("/proc/sysvipc/shm"); err != nil {
		t.Skip("no /proc/sysvipc/shm")
	}
	const key = 0x7f01a5e1
	id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	require.NoError(t, err)
	removed := false
	t.Cleanup(func() {
		if !removed {
			_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		}
	})
	mem, err := unix.SysvShmAttach(id, 0, 0)
	require.NoError(t, err)
	me := os.Getpid()

	n, ok := shmAttached(key, id, me)
	assert.True(t, ok)
	assert.Equal(t, 1, n)
	_, ok = shmAttached(key, id, me+1)
	assert.False(t, ok, "another creator: the id is now another server's, or no server's")
	_, ok = shmAttached(key+1, id, me)
	assert.False(t, ok, "another key")

	require.NoError(t, unix.SysvShmDetach(mem))
	n, ok = shmAttached(key, id, me)
	assert.True(t, ok)
	assert.Zero(t, n)

	_, err = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	require.NoError(t, err)
	removed = true
	_, ok = shmAttached(key, id, me)
	assert.False(t, ok, "removed")
}
