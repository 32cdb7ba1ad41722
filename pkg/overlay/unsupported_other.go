//go:build !linux

package overlay

import (
	"errors"
	"fmt"
)

// needLinux is the error of every entry point that reads or writes an
// overlay upper directory on another system: overlay2, openat2 and
// renameat2 are Linux's. It wraps errors.ErrUnsupported for callers that
// branch on it.
func needLinux(op string) error {
	return fmt.Errorf("%s: %w: overlay2 needs Linux", op, errors.ErrUnsupported)
}
