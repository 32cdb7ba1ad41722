//go:build !unix

package main

import (
	"errors"
	"fmt"
)

// mkfifo fails: named pipes in a file system are a Unix thing, and the
// fixtures are only ever written into an overlay2 upper directory on Linux.
// The stub keeps `go build` and `go vet` working on every platform.
func mkfifo(path string, _ uint32) error {
	return fmt.Errorf("mkfifo %s: named pipes need a Unix system: %w", path, errors.ErrUnsupported)
}
