package overlay_test

import (
	"context"
	"io"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// The API that Linux implements and other systems stub, with its
// signatures: this file is compiled for every GOOS that vets the package,
// so a name or a signature that one platform lacks fails the build there,
// not in a caller's package.
var (
	_ func(context.Context, string, io.Reader, overlay.Options) (overlay.Stats, error) = overlay.Apply

	_ func(string) (*overlay.Target, error)               = overlay.OpenTarget
	_ func(*overlay.Target) error                         = (*overlay.Target).Close
	_ func(*overlay.Target) (string, error)               = (*overlay.Target).Stage
	_ func(*overlay.Target, string) error                 = (*overlay.Target).Discard
	_ func(*overlay.Target, string) error                 = (*overlay.Target).CopyRootAttrs
	_ func(*overlay.Target, string, bool) (string, error) = (*overlay.Target).Swap
	_ func(*overlay.Target) ([]overlay.Backup, error)     = (*overlay.Target).Backups
	_ func(*overlay.Target) (string, string, error)       = (*overlay.Target).Rollback
	_ func(string) (bool, error)                          = overlay.Mounted

	_ func(string, ...string) (*overlay.Group, error)        = overlay.OpenGroup
	_ func(*overlay.Group) error                             = (*overlay.Group).Close
	_ func(*overlay.Group, []string, bool) ([]string, error) = (*overlay.Group).Swap
	_ func(*overlay.Group) ([]overlay.BackupSet, error)      = (*overlay.Group).Backups
	_ func(*overlay.Group) ([]string, []string, error)       = (*overlay.Group).Rollback
	_ func(overlay.BackupSet) bool                           = overlay.BackupSet.Complete

	_ = overlay.Target{Upper: "", Recovered: []string(nil)}
	_ = overlay.Backup{Path: "", Time: (overlay.Backup{}).Time}
	_ = overlay.Group{Targets: []*overlay.Target(nil), Recovered: []string(nil)}
	_ = overlay.BackupSet{Time: (overlay.Backup{}).Time, Paths: []string(nil)}
	_ = []error{overlay.ErrBusy, overlay.ErrMounted, overlay.ErrNoBackup}
)
