//go:build unix

package migrate

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on the directory itself, so that two
// Creates at once, in one process or two, number their files one after the
// other instead of both taking the highest version plus one. It returns
// what releases the lock.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
