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

// Root is only implemented on Linux.
type Root struct{}

// OpenRoot is only implemented on Linux.
func OpenRoot(dir string) (*Root, error) { return nil, errors.New("open root: only on Linux") }

// Open is only implemented on Linux.
func (r *Root) Open(name string) (*os.File, error) { return nil, errors.New("open: only on Linux") }

// Close is only implemented on Linux.
func (r *Root) Close() error { return nil }
