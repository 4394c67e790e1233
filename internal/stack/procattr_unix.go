//go:build unix && !linux

package stack

import "syscall"

// procAttr gives each child its own process group, so that a Ctrl-C in the terminal reaches
// only us and we stop the children in order. macOS and the BSDs have no parent-death signal: a
// runner killed with SIGKILL leaves its children running (Ctrl-C and SIGTERM stop them all).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
