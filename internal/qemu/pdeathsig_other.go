//go:build !linux

package qemu

import "syscall"

// setParentDeathSignal: only Linux has a parent-death signal; elsewhere a
// child is stopped by StopChildren alone (signals and Exit, not SIGKILL).
func setParentDeathSignal(*syscall.SysProcAttr) {}
