package overlay

import (
	"errors"
	"time"
)

// Errors of replacing an upper directory. They are here, not in
// target_linux.go, so that callers can test for them on every platform.
var (
	// ErrBusy: another import holds the layer's lock.
	ErrBusy = errors.New("another import of this container is running")
	// ErrMounted: the overlay that uses the upper directory is mounted.
	ErrMounted = errors.New("the container's overlay is mounted")
	// ErrNoBackup: there is no backup to roll back to.
	ErrNoBackup = errors.New("no backup to roll back to")
	// ErrSwapped: a swap failed after its commit point; the new
	// directories are in place, or will be after the next run opens any of
	// them. A caller must not undo what led to the swap.
	ErrSwapped = errors.New("swapped")
)

// Backup is a kept upper directory.
type Backup struct {
	Path string
	Time time.Time
}
