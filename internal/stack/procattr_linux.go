//go:build linux

package stack

import "syscall"

// procAttr gives each child its own process group, so that a Ctrl-C in the terminal reaches
// only us and we stop the children in order (services deregister before Consul goes), and
// makes the child die with us even if we are killed without a chance to clean up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
