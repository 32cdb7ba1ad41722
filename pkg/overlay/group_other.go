//go:build !linux

package overlay

// Group is several locked upper directories replaced together. Only Linux
// has one: elsewhere OpenGroup fails and no Group exists.
type Group struct {
	// Targets are the group's directories, the primary first.
	Targets []*Target
	// Recovered says what a killed earlier run left and this one mended.
	Recovered []string
}

// OpenGroup fails: replacing upper directories takes flock, renameat2 and
// overlay2, which only Linux has.
func OpenGroup(primary string, others ...string) (*Group, error) {
	return nil, needLinux("open group " + primary)
}

// Close releases nothing: no Group is ever opened here.
func (g *Group) Close() error { return nil }

// Swap fails: only Linux has renameat2(RENAME_EXCHANGE).
func (g *Group) Swap(stagings []string, keep bool) (backups []string, err error) {
	return nil, needLinux("swap in a group")
}

// Backups fails: only Linux has overlay upper directories.
func (g *Group) Backups() ([]BackupSet, error) { return nil, needLinux("list backups") }

// Rollback fails: only Linux has renameat2(RENAME_EXCHANGE).
func (g *Group) Rollback() (restored, displaced []string, err error) {
	return nil, nil, needLinux("roll back")
}
