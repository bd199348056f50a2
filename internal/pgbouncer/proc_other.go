//go:build !unix

package pgbouncer

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

var sigStop = os.Kill

type account struct{}

// runAs refuses: the package needs process groups and, as root, setuid.
func runAs() (*account, error) {
	return nil, fmt.Errorf("pgbouncer: not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func sysProcAttr(*account) *syscall.SysProcAttr { return nil }

func prepareDir(string, *account) error { return errors.ErrUnsupported }

func writeOwned(string, string, *account) error { return errors.ErrUnsupported }
