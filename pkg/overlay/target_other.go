//go:build !linux

package overlay

// Target is a locked upper directory about to be replaced. Only Linux has
// one: elsewhere OpenTarget fails and no Target exists.
type Target struct {
	Upper string
	// Recovered says what a killed earlier run left and this one mended.
	Recovered []string
}

// OpenTarget fails: replacing an upper directory takes flock, renameat2
// and overlay2, which only Linux has.
func OpenTarget(upper string) (*Target, error) {
	return nil, needLinux("open target " + upper)
}

// Close releases nothing: no Target is ever opened here.
func (t *Target) Close() error { return nil }

// Stage fails: only Linux has overlay upper directories.
func (t *Target) Stage() (string, error) { return "", needLinux("make staging dir") }

// Sync fails: only Linux has overlay upper directories.
func Sync(dir string) error { return needLinux("sync " + dir) }

// Discard fails: only Linux has overlay upper directories.
func (t *Target) Discard(staging string) error { return needLinux("discard " + staging) }

// CopyRootAttrs fails: only Linux has overlay upper directories.
func (t *Target) CopyRootAttrs(staging string) error {
	return needLinux("copy root attributes to " + staging)
}

// Swap fails: only Linux has renameat2(RENAME_EXCHANGE).
func (t *Target) Swap(staging string, keep bool) (backup string, err error) {
	return "", needLinux("swap in " + staging)
}

// Backups fails: only Linux has overlay upper directories.
func (t *Target) Backups() ([]Backup, error) { return nil, needLinux("list backups") }

// Rollback fails: only Linux has renameat2(RENAME_EXCHANGE).
func (t *Target) Rollback() (restored, displaced string, err error) {
	return "", "", needLinux("roll back")
}

// Mounted fails: only Linux mounts overlay2.
func Mounted(upper string) (bool, error) { return false, needLinux("read mounts") }
