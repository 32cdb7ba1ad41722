//go:build unix

package main

import (
	"os"
	"syscall"
)

// mkfifo makes a named pipe at path.
func mkfifo(path string, mode uint32) error {
	if err := syscall.Mkfifo(path, mode); err != nil {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}
