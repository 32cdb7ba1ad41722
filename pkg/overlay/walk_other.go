//go:build !linux

package overlay

import (
	"context"
	"errors"
)

func walk(ctx context.Context, root string, opts Options, fn func(*entry) error) error {
	return errors.New("read overlay layer: only Linux has overlay2")
}
