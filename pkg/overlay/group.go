package overlay

import "time"

// BackupSet is what one swap of a Group kept: a backup of each member, all
// named with the same time, so that a rollback restores them together.
type BackupSet struct {
	Time time.Time
	// Paths[i] is the backup of the group's Targets[i], or "" where that
	// member has none of this time (it was swapped alone, or its backup
	// was removed by hand).
	Paths []string
}

// Complete tells whether every member of the group has a backup in s.
func (s BackupSet) Complete() bool {
	for _, p := range s.Paths {
		if p == "" {
			return false
		}
	}
	return len(s.Paths) > 0
}
