//go:build unix

package main_test

import "syscall"

func umask(m int) int { return syscall.Umask(m) }
