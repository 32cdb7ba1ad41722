package engine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// kernelRelease is uname -r.
func kernelRelease() (string, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(uts.Release[:]), nil
}
