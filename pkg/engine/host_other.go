//go:build !linux

package engine

import "errors"

var errUnsupported = errors.New("containerd is supported on Linux only")

func kernelRelease() (string, error) { return "", errUnsupported }

func socketOwner(string) (int, error) { return 0, errUnsupported }
