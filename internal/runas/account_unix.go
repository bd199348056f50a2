//go:build unix

package runas

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Lookup returns the account to run program (a name for error messages,
// e.g. "PostgreSQL" or "pgbouncer") as: nil, this process's own user,
// unless this process is root, which the program refuses to run as; then
// the [User] system account. It returns an error, saying what to do, when
// this process is root and that user does not exist or is root too.
func Lookup(program string) (*Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(User)
	if err != nil {
		return nil, fmt.Errorf("running as root, so %s must run as the %q system user, but: %w; "+
			"create that user (installing PostgreSQL's server package does; or useradd --system --user-group %s) "+
			"or run this program as a regular user", program, User, err, User)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("system user %q: %w", User, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("system user %q has uid 0, but %s refuses to run as root", User, program)
	}
	a := &Account{Name: u.Username, UID: uint32(uid), GID: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.Groups = append(a.Groups, uint32(n))
		}
	}
	return a, nil
}

// SysProcAttr returns the attributes of a child process (exec.Cmd's
// SysProcAttr): run as a (nil: as this process's user), in a new process
// group of its own if newGroup, and, on Linux, sent parentDeath when its
// parent dies (nil: nothing). parentDeath is a syscall.Signal, as
// os.Interrupt and os.Kill are; start the child with [Start], or keep the
// starting goroutine locked to its OS thread until the child has exited
// (see the package documentation).
func (a *Account) SysProcAttr(newGroup bool, parentDeath os.Signal) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: newGroup}
	if a != nil {
		// Go sets the parent-death signal after switching credentials; the
		// kernel clears it on a credential change, so this order matters.
		attr.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}
	}
	if sig, ok := parentDeath.(syscall.Signal); ok {
		setPdeathsig(attr, sig)
	}
	return attr
}

// MkdirPrivate creates dir with mode 0700 unless it exists, and makes sure
// it is a directory private to a (nil: this process's user): owned by a,
// mode 0700. An existing directory owned by this process's user is handed
// to a; anything else, such as a symbolic link or a directory someone else
// created (in a world-writable parent, say), is refused.
func (a *Account) MkdirPrivate(dir string) error {
	uid, gid := os.Geteuid(), os.Getegid()
	if a != nil {
		uid, gid = int(a.UID), int(a.GID)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || (int(st.Uid) != uid && int(st.Uid) != os.Geteuid()) {
		return fmt.Errorf("%s exists but is not a directory owned by uid %d; remove it", dir, uid)
	}
	if int(st.Uid) != uid {
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	if fi.Mode().Perm() != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}
