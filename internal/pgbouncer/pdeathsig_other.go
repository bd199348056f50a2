//go:build unix && !linux

package pgbouncer

import "syscall"

// setPdeathsig does nothing: a parent-death signal is a Linux feature.
// Elsewhere pgbouncer outlives a parent that dies without Stop.
func setPdeathsig(*syscall.SysProcAttr, syscall.Signal) {}
