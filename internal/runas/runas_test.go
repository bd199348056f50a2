//go:build unix

package runas_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/runas"
)

// account returns what Lookup returns, which is nil unless the tests run
// as root, and the uid children and private directories get.
func account(t *testing.T) (*runas.Account, int) {
	t.Helper()
	acct, err := runas.Lookup("the test")
	require.NoError(t, err)
	if acct == nil {
		return nil, os.Geteuid()
	}
	return acct, int(acct.UID)
}

func TestLookup(t *testing.T) {
	acct, err := runas.Lookup("the test")
	require.NoError(t, err)
	if os.Geteuid() != 0 {
		assert.Nil(t, acct, "not root: run as this process's user")
		return
	}
	require.NotNil(t, acct, "root: run as the postgres user")
	u, err := user.Lookup(runas.User)
	require.NoError(t, err)
	assert.Equal(t, u.Username, acct.Name)
	assert.Equal(t, u.Uid, strconv.Itoa(int(acct.UID)))
	assert.Equal(t, u.Gid, strconv.Itoa(int(acct.GID)))
	assert.NotZero(t, acct.UID)
	assert.Contains(t, acct.Groups, acct.GID, "the primary group is among the groups")
}

func TestSysProcAttr(t *testing.T) {
	var self *runas.Account
	attr := self.SysProcAttr(false, nil)
	require.NotNil(t, attr)
	assert.False(t, attr.Setpgid)
	assert.Nil(t, attr.Credential, "nil account: this process's user")

	acct := &runas.Account{Name: "someone", UID: 4242, GID: 4343, Groups: []uint32{4343, 17}}
	attr = acct.SysProcAttr(true, syscall.SIGTERM)
	assert.True(t, attr.Setpgid)
	require.NotNil(t, attr.Credential)
	assert.Equal(t, syscall.Credential{Uid: 4242, Gid: 4343, Groups: []uint32{4343, 17}}, *attr.Credential)
}

func TestStartFailure(t *testing.T) {
	p, err := runas.Start(exec.Command("/nonexistent/program"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Nil(t, p)
}

// startReady starts `sh -c script` as the test account, in a process group
// of its own, and waits until the script has written a line.
func startReady(t *testing.T, script string) *runas.Process {
	t.Helper()
	acct, _ := account(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = "/"
	cmd.Stdout = w
	cmd.SysProcAttr = acct.SysProcAttr(true, nil)
	p, err := runas.Start(cmd)
	w.Close()
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(time.Second) })
	line, err := bufio.NewReader(r).ReadString('\n')
	require.NoError(t, err, "the script wrote %q", line)
	return p
}

func TestKillEscalates(t *testing.T) {
	p := startReady(t, `trap '' TERM; echo ready; exec sleep 60`)

	began := time.Now()
	require.NoError(t, p.Kill(300*time.Millisecond, syscall.SIGTERM))
	assert.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond, "SIGTERM was ignored, so Kill waited for it")
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited is open after Kill")
	}
	var exitErr *exec.ExitError
	require.ErrorAs(t, p.Wait(), &exitErr)
	assert.Equal(t, syscall.SIGKILL, exitErr.Sys().(syscall.WaitStatus).Signal())

	require.NoError(t, p.Signal(syscall.SIGTERM), "signalling an exited process is no error")
	began = time.Now()
	require.NoError(t, p.Kill(time.Minute), "killing an exited process is no error")
	assert.Less(t, time.Since(began), 10*time.Second, "and takes no time")
}

func TestKillStopsAtTheFirstSignalThatWorks(t *testing.T) {
	p := startReady(t, `echo ready; exec sleep 60`)
	began := time.Now()
	require.NoError(t, p.Kill(time.Minute, syscall.SIGTERM))
	assert.Less(t, time.Since(began), 30*time.Second)
	var exitErr *exec.ExitError
	require.ErrorAs(t, p.Wait(), &exitErr)
	assert.Equal(t, syscall.SIGTERM, exitErr.Sys().(syscall.WaitStatus).Signal())
}

func TestWaitReturnsTheExitStatus(t *testing.T) {
	p := startReady(t, `echo ready; exit 3`)
	var exitErr *exec.ExitError
	require.ErrorAs(t, p.Wait(), &exitErr)
	assert.Equal(t, 3, exitErr.ExitCode())
	require.ErrorAs(t, p.Wait(), &exitErr, "Wait may be called again")
}

func TestMkdirPrivate(t *testing.T) {
	acct, uid := account(t)
	base := t.TempDir()
	requirePrivate := func(dir string) {
		t.Helper()
		fi, err := os.Lstat(dir)
		require.NoError(t, err)
		assert.True(t, fi.IsDir())
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
		assert.Equal(t, uint32(uid), fi.Sys().(*syscall.Stat_t).Uid)
	}

	fresh := filepath.Join(base, "fresh")
	require.NoError(t, acct.MkdirPrivate(fresh))
	requirePrivate(fresh)
	require.NoError(t, acct.MkdirPrivate(fresh), "again")
	requirePrivate(fresh)

	// A directory of this process's user is made private and handed over.
	open := filepath.Join(base, "open")
	require.NoError(t, os.Mkdir(open, 0o755))
	require.NoError(t, os.Chmod(open, 0o755))
	require.NoError(t, acct.MkdirPrivate(open))
	requirePrivate(open)

	// Anything else is refused and left alone.
	link := filepath.Join(base, "link")
	require.NoError(t, os.Symlink(open, link))
	file := filepath.Join(base, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, dir := range []string{link, file} {
		err := acct.MkdirPrivate(dir)
		require.ErrorContains(t, err, fmt.Sprintf("%s exists but is not a directory owned by uid %d; remove it", dir, uid))
	}
	if os.Geteuid() == 0 {
		strangers := filepath.Join(base, "strangers")
		require.NoError(t, os.Mkdir(strangers, 0o755))
		require.NoError(t, os.Chown(strangers, 4242, 4242))
		require.ErrorContains(t, acct.MkdirPrivate(strangers), "is not a directory owned by")
		fi, err := os.Stat(strangers)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "left alone")
	}

	err := acct.MkdirPrivate(filepath.Join(base, "missing", "parent"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestChown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	var self *runas.Account
	require.NoError(t, self.Chown(path), "nil: nothing to do")

	acct, uid := account(t)
	require.NoError(t, acct.Chown(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, uint32(uid), fi.Sys().(*syscall.Stat_t).Uid)

	someone := &runas.Account{Name: "someone", UID: 4242, GID: 4242}
	err = someone.Chown(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "to the someone user")
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	assert.Empty(t, runas.LogTail(path, 0), "no log")

	require.NoError(t, os.WriteFile(path, []byte("old run\n"), 0o600))
	offset := int64(len("old run\n"))
	assert.Empty(t, runas.LogTail(path, offset), "nothing since offset")
	assert.Equal(t, "; last lines of "+path+":\n\told run", runas.LogTail(path, 0))

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString("FATAL: one\nDETAIL: two\n\n")
	require.NoError(t, err)
	assert.Equal(t, "; last lines of "+path+":\n\tFATAL: one\n\tDETAIL: two", runas.LogTail(path, offset))

	// At most 20 lines, whole ones, from the last 4 KiB.
	for i := range 300 {
		_, err = fmt.Fprintf(f, "line %03d %s\n", i, strings.Repeat("x", 20))
		require.NoError(t, err)
	}
	tail := runas.LogTail(path, offset)
	head, body, ok := strings.Cut(tail, ":\n")
	require.True(t, ok, tail)
	assert.Equal(t, "; last lines of "+path, head)
	lines := strings.Split(body, "\n")
	require.Len(t, lines, 20)
	assert.Equal(t, "\tline 280 "+strings.Repeat("x", 20), lines[0])
	assert.Equal(t, "\tline 299 "+strings.Repeat("x", 20), lines[19])

	short := "1\n2\n3\n" + strings.Repeat("y", 5000) + "\nlast\n"
	require.NoError(t, os.WriteFile(path, []byte(short), 0o600))
	assert.Equal(t, "; last lines of "+path+":\n\tlast", runas.LogTail(path, 0), "a partial first line is dropped")
}

func TestNewGroupAndSignal(t *testing.T) {
	// The shell's child stays in the shell's process group.
	p := startReady(t, `sleep 60 & echo ready; wait`)
	pgid, err := syscall.Getpgid(p.Pid())
	require.NoError(t, err)
	require.Equal(t, p.Pid(), pgid, "a process group of its own")
	require.NotEqual(t, syscall.Getpgrp(), pgid)

	// Signal signals the process, not its group.
	require.NoError(t, p.Signal(syscall.SIGKILL))
	require.Error(t, p.Wait())
	require.False(t, errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH), "the shell's child is still there")
	require.NoError(t, syscall.Kill(-pgid, syscall.SIGKILL))
}

// helperEnv makes the test binary a parent process for TestDiesWithParent:
// it starts `sleep 60` with or without a parent-death signal, prints the
// sleep's pid, and exits when its standard input closes.
const helperEnv = "RUNAS_TEST_HELPER"

// The main goroutine keeps the main thread to itself, so the goroutines of
// TestOutlivesTheStartingThread run on other threads, which the runtime
// ends when a goroutine locked to one exits (it parks the main thread
// instead).
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	acct, err := runas.Lookup("sleep")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var sig os.Signal = syscall.SIGTERM
	if mode == "no-signal" {
		sig = nil
	}
	cmd := exec.Command("/bin/sleep", "60")
	cmd.Dir = "/"
	cmd.SysProcAttr = acct.SysProcAttr(true, sig)
	p, err := runas.Start(cmd)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(p.Pid())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0 // without stopping the sleep
}

// skipUnlessLinux skips tests of the parent-death signal, a Linux feature,
// and of what /proc shows.
func skipUnlessLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
}

// procStatus returns the fields of /proc/<pid>/status, or nil once the
// process has gone.
func procStatus(pid int) map[string]string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil
	}
	fields := map[string]string{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// exited reports whether pid has exited; a zombie that its new parent has
// not reaped yet counts.
func exited(pid int) bool {
	st := procStatus(pid)
	return st == nil || strings.HasPrefix(st["State"], "Z")
}

// requireRunsAs checks that pid runs as acct (nil: as this process's user)
// with acct's groups, in a process group of its own.
func requireRunsAs(t *testing.T, pid int, acct *runas.Account) {
	t.Helper()
	st := procStatus(pid)
	require.NotNil(t, st, "process %d is gone", pid)
	uid, gid := os.Geteuid(), os.Getegid()
	if acct != nil {
		uid, gid = int(acct.UID), int(acct.GID)
	}
	assert.Equal(t, strings.Repeat(strconv.Itoa(uid)+"\t", 3)+strconv.Itoa(uid), st["Uid"], "real, effective, saved and fs uid")
	assert.Equal(t, strings.Repeat(strconv.Itoa(gid)+"\t", 3)+strconv.Itoa(gid), st["Gid"])
	if acct != nil {
		var groups []uint32
		for _, g := range strings.Fields(st["Groups"]) {
			n, err := strconv.ParseUint(g, 10, 32)
			require.NoError(t, err)
			groups = append(groups, uint32(n))
		}
		assert.ElementsMatch(t, acct.Groups, groups)
		assert.NotContains(t, groups, uint32(0), "root's group is gone")
	}
	pgid, err := syscall.Getpgid(pid)
	require.NoError(t, err)
	assert.Equal(t, pid, pgid, "a process group of its own")
}

func TestStartRunsAsTheAccount(t *testing.T) {
	skipUnlessLinux(t)
	acct, _ := account(t)
	cmd := exec.Command("/bin/sleep", "60")
	cmd.Dir = "/"
	cmd.SysProcAttr = acct.SysProcAttr(true, syscall.SIGTERM)
	p, err := runas.Start(cmd)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(time.Second) })

	requireRunsAs(t, p.Pid(), acct)
	assert.Equal(t, strconv.Itoa(os.Getpid()), procStatus(p.Pid())["PPid"])

	require.NoError(t, p.Kill(time.Minute, syscall.SIGTERM))
	assert.True(t, exited(p.Pid()))
}

// TestDiesWithParent starts a parent process that starts `sleep 60` and
// exits without stopping it. When this process is root, the sleep runs as
// the postgres user, so the test also shows that the parent-death signal
// survives the credential change.
func TestDiesWithParent(t *testing.T) {
	skipUnlessLinux(t)
	acct, _ := account(t)
	for _, mode := range []string{"signal", "no-signal"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"="+mode)
			cmd.Stderr = os.Stderr
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err, "helper said %q", line)
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			require.NoError(t, err)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

			requireRunsAs(t, pid, acct)
			assert.Equal(t, strconv.Itoa(cmd.Process.Pid), procStatus(pid)["PPid"])

			stdin.Close() // the helper exits
			require.NoError(t, cmd.Wait())
			if mode == "no-signal" {
				// The control: without the signal the orphan lives on.
				time.Sleep(200 * time.Millisecond)
				assert.False(t, exited(pid), "sleep %d died without a parent-death signal", pid)
				return
			}
			require.Eventually(t, func() bool { return exited(pid) }, 10*time.Second, 20*time.Millisecond,
				"sleep %d survived its parent", pid)
		})
	}
}

// TestOutlivesTheStartingThread starts a child with a parent-death signal
// from a goroutine locked to its OS thread that then exits, which ends the
// thread. A child forked on that thread would get the signal; one started
// by Start does not.
func TestOutlivesTheStartingThread(t *testing.T) {
	skipUnlessLinux(t)
	acct, _ := account(t)
	command := func() *exec.Cmd {
		cmd := exec.Command("/bin/sleep", "60")
		cmd.Dir = "/"
		cmd.SysProcAttr = acct.SysProcAttr(false, syscall.SIGTERM)
		return cmd
	}
	onDoomedThread := func(start func()) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			start()
		}()
		<-done
	}

	// The control: cmd.Start on the doomed thread.
	cmd := command()
	var startErr error
	onDoomedThread(func() { startErr = cmd.Start() })
	require.NoError(t, startErr)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr)
		require.Equal(t, syscall.SIGTERM, exitErr.Sys().(syscall.WaitStatus).Signal(), "killed when its thread ended")
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the control outlived the thread that started it")
	}

	var p *runas.Process
	onDoomedThread(func() { p, startErr = runas.Start(command()) })
	require.NoError(t, startErr)
	t.Cleanup(func() { _ = p.Kill(time.Second) })
	select {
	case <-p.Exited():
		t.Fatalf("the child died with the thread that called Start: %v", p.Wait())
	case <-time.After(500 * time.Millisecond):
	}
	assert.False(t, exited(p.Pid()))
}
