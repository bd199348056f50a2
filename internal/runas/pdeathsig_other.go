//go:build unix && !linux

package runas

import "syscall"

// setPdeathsig does nothing: a parent-death signal is a Linux feature.
// Elsewhere a child outlives a parent that dies without stopping it.
func setPdeathsig(*syscall.SysProcAttr, syscall.Signal) {}
