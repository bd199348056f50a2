//go:build unix

package pgbouncer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// sigStop asks pgbouncer to shut down: at once in PgBouncer before 1.23,
// once its clients have gone in later versions.
var sigStop os.Signal = syscall.SIGTERM

// account is the system user pgbouncer runs as when this process is root.
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// runAs returns the account to run pgbouncer as: nil (this process's user)
// unless this process is root, which pgbouncer refuses to run as.
func runAs() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(runAsUser)
	if err != nil {
		return nil, fmt.Errorf("pgbouncer: running as root, so pgbouncer must run as the %q system user, but: %w; "+
			"create that user (installing PostgreSQL's server package does) or run this program as a regular user", runAsUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgbouncer: system user %q: %w", runAsUser, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("pgbouncer: system user %q has uid 0, but pgbouncer refuses to run as root", runAsUser)
	}
	acct := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			acct.groups = append(acct.groups, uint32(n))
		}
	}
	return acct, nil
}

// sysProcAttr runs pgbouncer as acct (nil: as this process), in a process
// group of its own, and, on Linux, sends it SIGTERM when the thread that
// started it dies.
func sysProcAttr(acct *account) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if acct != nil {
		// Go sets the parent-death signal after switching credentials; the
		// kernel clears it on a credential change, so this order matters.
		attr.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: acct.groups}
	}
	setPdeathsig(attr, syscall.SIGTERM)
	return attr
}

// prepareDir creates dir (mode 0700) unless it exists, and hands it to acct.
func prepareDir(dir string, acct *account) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgbouncer: creating directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pgbouncer: directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("pgbouncer: %s is not a directory", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pgbouncer: directory: %w", err)
	}
	if acct != nil {
		if err := os.Chown(dir, int(acct.uid), int(acct.gid)); err != nil {
			return fmt.Errorf("pgbouncer: giving the directory to the %s user: %w", acct.name, err)
		}
	}
	return nil
}

// writeOwned writes a file only its owner (acct, or this process's user)
// may read.
func writeOwned(path, content string, acct *account) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	if acct != nil {
		if err := os.Chown(path, int(acct.uid), int(acct.gid)); err != nil {
			return fmt.Errorf("pgbouncer: giving %s to the %s user: %w", path, acct.name, err)
		}
	}
	return nil
}
