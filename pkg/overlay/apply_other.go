//go:build !linux

package overlay

import (
	"context"
	"io"
)

// Apply fails: it makes whiteout devices and overlay xattrs, with
// openat2, which only Linux has.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Stats, error) {
	return Stats{}, needLinux("apply layer to " + dir)
}
