//go:build !linux

package engine

import (
	"context"
	"errors"
	"net"
)

var errUnsupported = errors.New("containerd is supported on Linux only")

func kernelRelease() (string, error) { return "", errUnsupported }

func isSocket(string) error { return errUnsupported }

func dialTrusted(context.Context, string) (net.Conn, error) { return nil, errUnsupported }
