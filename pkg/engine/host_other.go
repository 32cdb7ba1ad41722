//go:build !linux

package engine

import "errors"

// errUnsupported: containerd's snapshots are overlayfs upper dirs on
// Linux only, and the peer-credential check of its socket is SO_PEERCRED.
var errUnsupported = errors.New("containerd is supported on Linux only")

func kernelRelease() (string, error) { return "", errUnsupported }
