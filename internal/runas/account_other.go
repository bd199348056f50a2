//go:build !unix

package runas

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// Lookup refuses: running a server program needs process groups and, as
// root, setuid.
func Lookup(string) (*Account, error) {
	return nil, fmt.Errorf("not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// SysProcAttr returns nil: there are no credentials, process groups or
// parent-death signals to set.
func (*Account) SysProcAttr(bool, os.Signal) *syscall.SysProcAttr { return nil }

// MkdirPrivate refuses: it needs Unix file ownership.
func (*Account) MkdirPrivate(string) error { return errors.ErrUnsupported }
