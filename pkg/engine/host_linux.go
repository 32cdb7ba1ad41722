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

// socketOwner returns the uid that owns the unix socket at path.
func socketOwner(path string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, fmt.Errorf("not a socket")
	}
	return int(st.Uid), nil
}
