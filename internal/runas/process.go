package runas

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"time"
)

// Process is a child process started by [Start]. Its methods are safe for
// concurrent use.
type Process struct {
	proc    *os.Process
	exited  chan struct{} // closed once the process has exited
	waitErr error         // what cmd.Wait returned; read after exited is closed
}

// Start starts cmd, as configured by the caller (typically with
// cmd.SysProcAttr from [Account.SysProcAttr]), and waits for it to exit in
// a goroutine of its own. That goroutine starts cmd and stays locked to its
// OS thread until the process has exited, so that a parent-death signal
// comes only when this process dies (see the package documentation).
//
// Start returns once the process is running, or the error of
// exec.Cmd.Start. The caller must not call cmd.Wait; [Process.Wait] and
// [Process.Exited] tell when the process has exited.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{exited: make(chan struct{})}
	started := make(chan error, 1)
	go p.run(cmd, started)
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) run(cmd *exec.Cmd, started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		started <- err
		return
	}
	p.proc = cmd.Process
	started <- nil
	p.waitErr = cmd.Wait()
	close(p.exited)
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.proc.Pid }

// Exited returns a channel that is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Wait waits for the process to exit and returns what exec.Cmd.Wait
// returned: nil for exit status 0, an *exec.ExitError otherwise.
func (p *Process) Wait() error {
	<-p.exited
	return p.waitErr
}

// Signal sends sig to the process (not to its process group). Signalling
// a process that has already exited is not an error.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Kill sends the signals first, in turn, and then SIGKILL, waiting up to
// wait after each for the process to exit, and returns nil as soon as it
// has. It returns an error if the process is still running after SIGKILL
// and wait.
func (p *Process) Kill(wait time.Duration, first ...os.Signal) error {
	var errs []error
	for _, sig := range append(slices.Clip(first), os.Kill) {
		if err := p.Signal(sig); err != nil {
			errs = append(errs, fmt.Errorf("sending %v: %w", sig, err))
		}
		timer := time.NewTimer(wait)
		select {
		case <-p.exited:
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
	return errors.Join(append([]error{fmt.Errorf("process %d did not exit after SIGKILL", p.Pid())}, errs...)...)
}
