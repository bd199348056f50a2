//go:build unix && !linux

package pglocal

import "syscall"

// setPdeathsig does nothing: a parent-death signal is a Linux feature.
// Elsewhere an ephemeral server outlives a parent that dies without Stop.
func setPdeathsig(*syscall.SysProcAttr, syscall.Signal) {}
