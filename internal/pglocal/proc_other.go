//go:build !unix

package pglocal

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// The package needs flock, setuid and process groups; elsewhere Start
// reports that it is unsupported.
const supported = false

var (
	sigSmartShutdown     = os.Interrupt
	sigFastShutdown      = os.Interrupt
	sigImmediateShutdown = os.Kill
)

func isNoListener(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func pidAlive(int, string) bool { return false }

func worksElsewhere(int, string) bool { return false }

func processExists(int) bool { return false }

type fileLock struct{}

func lockFile(context.Context, string) (*fileLock, error) { return nil, errors.ErrUnsupported }

func lockFileShared(context.Context, string, func()) (*fileLock, error) {
	return nil, errors.ErrUnsupported
}

func (*fileLock) tryExclusive() (bool, error) { return false, errors.ErrUnsupported }

func (*fileLock) unlock() {}

func (*fileLock) removeAndUnlock() error { return nil }

func (l *launcher) checkOwner() error { return nil }

func signalGroup(p *os.Process, sig syscall.Signal) error { return p.Signal(sig) }

func openLogFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}
