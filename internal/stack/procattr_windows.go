//go:build windows

package stack

import "syscall"

// procAttr: Windows has neither process groups of this kind nor a parent-death signal; the
// runner stops its children itself (Stop kills what does not end on its own).
func procAttr() *syscall.SysProcAttr { return nil }
