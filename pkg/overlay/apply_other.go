//go:build !linux

package overlay

import (
	"context"
	"errors"
	"io"
	"os"
)

// Apply is only implemented on Linux.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Stats, error) {
	return Stats{}, errors.New("apply layer: only Linux has overlay2")
}

// OpenBeneath is only implemented on Linux.
func OpenBeneath(dir, name string) (*os.File, error) {
	return nil, errors.New("open beneath: only on Linux")
}
