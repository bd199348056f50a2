// Package runas starts a server program, such as initdb, postgres or
// pgbouncer, as a child of this process, the way packages pglocal and
// pgbouncer need it: as the "postgres" system user when this process is
// root, in a process group of its own, and, on Linux, with a signal the
// kernel sends it when its parent dies. It also prepares the files such a
// program writes and quotes its log in error messages.
//
// # Why another user
//
// PostgreSQL's programs and PgBouncer refuse to run as root. When this
// process is root, [Lookup] returns the [User] account, which PostgreSQL's
// server packages create, and [Account.SysProcAttr] switches the child to
// it; [Account.MkdirPrivate] and [Account.Chown] hand that user the
// directories and files it must own. When this process is not root, the
// account is nil, which stands for this process's own user.
//
// # The parent-death signal
//
// On Linux a child can ask the kernel for a signal when its parent dies
// (prctl PR_SET_PDEATHSIG), so that a server never outlives a process that
// died without stopping it (a crash, SIGKILL). Two details make it work:
//
//   - The kernel clears that setting when the child changes its
//     credentials. Go's os/exec sets SysProcAttr.Pdeathsig after switching
//     to SysProcAttr.Credential, so setting both in one SysProcAttr, as
//     [Account.SysProcAttr] does, is right, and setting the signal any
//     other way before the switch would be lost.
//   - The kernel sends the signal when the thread that started the child
//     exits, not the process (go.dev/issue/27505), and the Go runtime ends
//     a thread whenever a goroutine locked to it exits. [Start] therefore
//     starts the child from a goroutine locked to its OS thread and keeps
//     it locked until the child has exited; the runtime never retires a
//     thread while the goroutine locked to it lives. Code that runs a
//     child with a parent-death signal synchronously (exec.Cmd.Output)
//     must lock its own goroutine for as long.
//
// Elsewhere than Linux there is no parent-death signal, and a child
// outlives a parent that dies without stopping it.
//
// # Process group
//
// A child started with newGroup gets a process group of its own, so the
// SIGINT a terminal sends to the foreground process group on Ctrl-C does
// not reach it: its parent decides how it stops.
//
// On systems other than Unix, [Lookup] and [Account.MkdirPrivate] report
// errors.ErrUnsupported and [Account.SysProcAttr] returns nil.
package runas

import (
	"fmt"
	"os"
	"strings"
)

// User is the system user a server program runs as when this process is
// root.
const User = "postgres"

// Account is the system user a server program runs as. A nil *Account
// stands for this process's own user; its methods then leave credentials
// and ownership alone.
type Account struct {
	Name     string
	UID, GID uint32
	Groups   []uint32 // all the user's groups, the primary one included
}

// Chown hands path to a. It does nothing when a is nil.
func (a *Account) Chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Chown(path, int(a.UID), int(a.GID)); err != nil {
		return fmt.Errorf("giving %s to the %s user: %w", path, a.Name, err)
	}
	return nil
}

// LogTail returns the last lines written to the log file at path since it
// was offset bytes long (at most 20 lines from its last 4 KiB), formatted
// to end an error message: "; last lines of <path>:" and the lines, each
// indented by a tab. It returns "" when there are none or the file cannot
// be read.
func LogTail(path string, offset int64) string {
	const maxBytes, maxLines = 4096, 20
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	start := max(offset, fi.Size()-maxBytes, 0)
	buf := make([]byte, max(fi.Size()-start, 0))
	n, _ := f.ReadAt(buf, start)
	text := string(buf[:n])
	if start > offset {
		_, text, _ = strings.Cut(text, "\n") // drop a partial line
	}
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	lines = lines[max(len(lines)-maxLines, 0):]
	return "; last lines of " + path + ":\n\t" + strings.Join(lines, "\n\t")
}
