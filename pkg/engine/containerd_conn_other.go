//go:build !linux

package engine

import (
	"context"
	"net"
)

func isSocket(string) error { return errUnsupported }

func dialTrusted(context.Context, string) (net.Conn, error) { return nil, errUnsupported }
