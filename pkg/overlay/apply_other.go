//go:build !linux

package overlay

import (
	"context"
	"io"
	"os"
)

// Apply fails: it makes whiteout devices and overlay xattrs, with
// openat2, which only Linux has.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Stats, error) {
	return Stats{}, needLinux("apply layer to " + dir)
}

// Root is a directory kept open to open files beneath it. Only Linux has
// one: elsewhere OpenRoot fails and no Root exists.
type Root struct{}

// OpenRoot fails: Root relies on openat2(RESOLVE_BENEATH), which only
// Linux has.
func OpenRoot(dir string) (*Root, error) { return nil, needLinux("open " + dir) }

// Open fails: only Linux has openat2(RESOLVE_BENEATH).
func (r *Root) Open(name string) (*os.File, error) { return nil, needLinux("open " + name) }

// Close releases nothing: no Root is ever opened here.
func (r *Root) Close() error { return nil }
