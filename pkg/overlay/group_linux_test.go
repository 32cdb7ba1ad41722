package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
)

// Tests of Group: a layer and two volumes, each in its own parent dir as
// Docker keeps them (overlay2/<id>/diff, volumes/<name>/_data), replaced
// together. Kills are simulated as in target_linux_test.go.

// groupDirs is a layer dir and two volume dirs, each filled with its own
// "old" tree.
type groupDirs struct {
	parents, uppers, old []string
}

func newGroupDirs(t *testing.T) *groupDirs {
	t.Helper()
	needRoot(t)
	f := &groupDirs{}
	for i, base := range []string{"diff", "_data", "_data"} {
		p := t.TempDir()
		u := filepath.Join(p, base)
		check(t, os.Mkdir(u, 0o755))
		fillTree(t, u, fmt.Sprintf("old%d", i))
		f.parents = append(f.parents, p)
		f.uppers = append(f.uppers, u)
		f.old = append(f.old, dirState(t, u))
	}
	return f
}

func (f *groupDirs) open(t *testing.T) *Group {
	t.Helper()
	g, err := OpenGroup(f.uppers[0], f.uppers[1:]...)
	check(t, err)
	t.Cleanup(func() { g.Close() })
	return g
}

// stageGroup stages variant's trees, one per member, different in each.
func stageGroup(t *testing.T, g *Group, variant string) (stagings, states []string) {
	t.Helper()
	for i, tg := range g.Targets {
		dir, err := tg.Stage()
		check(t, err)
		fillTree(t, dir, fmt.Sprintf("%s%d", variant, i))
		stagings = append(stagings, dir)
		states = append(states, dirState(t, dir))
	}
	return stagings, states
}

func (f *groupDirs) wantStates(t *testing.T, what string, want []string) {
	t.Helper()
	for i, u := range f.uppers {
		if got := dirState(t, u); got != want[i] {
			t.Errorf("member %d (%s) is not %s:\n got %s\nwant %s", i, u, what, got, want[i])
		}
	}
}

// wantClean checks that each parent holds its directory and, with backup
// set, one backup of it, and nothing else: no staging dir, journal or
// link. It returns the backups.
func (f *groupDirs) wantClean(t *testing.T, backup bool) []string {
	t.Helper()
	var backups []string
	for i, p := range f.parents {
		base := filepath.Base(f.uppers[i])
		names := namesIn(t, p)
		want := []string{base}
		if backup {
			var b string
			for _, n := range names {
				if strings.HasPrefix(n, base+backupInfix) {
					b = n
				}
			}
			want = append(want, b)
			slices.Sort(want)
			backups = append(backups, filepath.Join(p, b))
		}
		if !slices.Equal(names, want) {
			t.Errorf("parent of member %d holds %q, want %q", i, names, want)
		}
	}
	return backups
}

// sameStamp checks that backups carry one time in their names.
func sameStamp(t *testing.T, backups []string) {
	t.Helper()
	for _, b := range backups {
		_, s0, _ := strings.Cut(filepath.Base(backups[0]), backupInfix)
		_, s, _ := strings.Cut(filepath.Base(b), backupInfix)
		if s == "" || s != s0 {
			t.Errorf("backups %q do not share one time stamp", backups)
		}
	}
}

func TestGroupSwapKeep(t *testing.T) {
	f := newGroupDirs(t)
	g := f.open(t)
	if len(g.Recovered) != 0 {
		t.Errorf("fresh group recovered %q", g.Recovered)
	}
	stagings, want := stageGroup(t, g, "new")
	backups, err := g.Swap(stagings, true)
	check(t, err)
	f.wantStates(t, "new", want)
	if got := f.wantClean(t, true); !slices.Equal(got, backups) {
		t.Errorf("Swap returned backups %q, the parents hold %q", backups, got)
	}
	sameStamp(t, backups)
	for i, b := range backups {
		if got := dirState(t, b); got != f.old[i] {
			t.Errorf("backup %d is not the old dir", i)
		}
	}
	sets, err := g.Backups()
	check(t, err)
	if len(sets) != 1 || !slices.Equal(sets[0].Paths, backups) || !sets[0].Complete() {
		t.Fatalf("Backups() = %v, want one complete set %q", sets, backups)
	}
}

func TestGroupSwapNoKeep(t *testing.T) {
	f := newGroupDirs(t)
	g := f.open(t)
	stagings, want := stageGroup(t, g, "new")
	backups, err := g.Swap(stagings, false)
	check(t, err)
	if backups != nil {
		t.Errorf("Swap without keep returned backups %q", backups)
	}
	f.wantStates(t, "new", want)
	f.wantClean(t, false)
	if sets, err := g.Backups(); err != nil || len(sets) != 0 {
		t.Errorf("Backups() = %v, %v; want none", sets, err)
	}
}

// A Swap refused before it starts touches nothing; one that fails before
// the journal removes its staging dirs and leaves every directory old.
func TestGroupSwapFailsBeforeJournal(t *testing.T) {
	f := newGroupDirs(t)
	g := f.open(t)
	stagings, _ := stageGroup(t, g, "new")
	if _, err := g.Swap(stagings[:2], true); err == nil {
		t.Fatal("Swap of two staging dirs for three members succeeded")
	}
	swapped := []string{stagings[1], stagings[0], stagings[2]}
	if _, err := g.Swap(swapped, true); err == nil {
		t.Fatal("Swap of staging dirs beside the wrong members succeeded")
	}
	for _, s := range stagings {
		if _, err := os.Stat(s); err != nil {
			t.Errorf("a refused Swap removed %s", s)
		}
	}
	check(t, os.RemoveAll(stagings[2])) // cannot be synced: gone
	if _, err := g.Swap(stagings, true); err == nil {
		t.Fatal("Swap with a missing staging dir succeeded")
	}
	f.wantStates(t, "old", f.old)
	f.wantClean(t, false)
}

// An exchange that fails after the journal (here: a staging dir gone
// under the run) is undone by the run that holds the locks: all old.
func TestGroupExchangeFailsUndone(t *testing.T) {
	f := newGroupDirs(t)
	g := f.open(t)
	stagings, _ := stageGroup(t, g, "new")
	restore := failpoint.Set(func(p string) {
		if p == "exchanged-1" {
			os.RemoveAll(stagings[2])
		}
	})
	_, err := g.Swap(stagings, true)
	restore()
	if err == nil || !strings.Contains(err.Error(), "exchange") {
		t.Fatalf("Swap = %v, want an exchange error", err)
	}
	f.wantStates(t, "old", f.old)
	f.wantClean(t, false)
}

// groupKillPoints are every point of Group.Swap a run can die at, in
// order, and whether the swap is committed there.
var groupKillPoints = []struct {
	point     string
	committed bool
}{
	{"journal", false},
	{"exchange", true},
	{"exchanged-1", true},
	{"exchanged-2", true},
	{"exchanged", true},
	{"finished-1", true},
	{"finished-2", true},
}

// TestGroupKilledSwap kills a group swap at every point, then opens the
// whole group, its primary alone, or one volume alone: each must find all
// old (before the journal) or all new (after), with the backups complete,
// and the group then opens clean.
func TestGroupKilledSwap(t *testing.T) {
	for _, kp := range groupKillPoints {
		for _, keep := range []bool{true, false} {
			for _, reopen := range []string{"group", "primary", "volume"} {
				t.Run(fmt.Sprintf("%s/keep=%v/%s", kp.point, keep, reopen), func(t *testing.T) {
					f := newGroupDirs(t)
					g, err := OpenGroup(f.uppers[0], f.uppers[1:]...)
					check(t, err)
					stagings, newStates := stageGroup(t, g, "new")
					runKilled(t, kp.point, func() error { _, err := g.Swap(stagings, keep); return err })
					check(t, g.Close())
					_, err = os.Stat(filepath.Join(f.parents[0], groupJournalName))
					if kp.committed != (err == nil) {
						t.Fatalf("journal after a kill at %s: %v", kp.point, err)
					}

					want, what := f.old, "old"
					if kp.committed {
						want, what = newStates, "new"
					}
					var recovered []string
					switch reopen {
					case "group":
						g, err := OpenGroup(f.uppers[0], f.uppers[1:]...)
						check(t, err)
						recovered = g.Recovered
						check(t, g.Close())
					case "primary":
						p, err := OpenGroup(f.uppers[0])
						check(t, err)
						recovered = p.Recovered
						check(t, p.Close())
					case "volume":
						v, err := OpenTarget(f.uppers[1])
						check(t, err)
						recovered = v.Recovered
						check(t, v.Close())
					}
					t.Logf("recovered: %q", recovered)
					if len(recovered) == 0 {
						t.Error("Recovered is empty")
					}
					f.wantStates(t, what, want)

					// Whatever the first open left, the group's own open
					// finishes; then every parent is clean.
					g = f.open(t)
					f.wantStates(t, what, want)
					backups := f.wantClean(t, keep && kp.committed)
					sameStamp(t, backups)
					for i, b := range backups {
						if got := dirState(t, b); got != f.old[i] {
							t.Errorf("backup %d is not the old dir:\n got %s\nwant %s", i, got, f.old[i])
						}
					}
					sets, err := g.Backups()
					check(t, err)
					if len(backups) > 0 && (len(sets) != 1 || !sets[0].Complete()) {
						t.Errorf("Backups() = %v, want one complete set", sets)
					}
					// The recovered group works.
					stagings, again := stageGroup(t, g, "again")
					_, err = g.Swap(stagings, false)
					check(t, err)
					f.wantStates(t, "swapped again", again)
				})
			}
		}
	}
}

func TestGroupRollback(t *testing.T) {
	f := newGroupDirs(t)
	g := f.open(t)
	v1 := f.old
	stagings, v2 := stageGroup(t, g, "two")
	b1, err := g.Swap(stagings, true) // b1 = v1
	check(t, err)
	stagings, v3 := stageGroup(t, g, "three")
	b2, err := g.Swap(stagings, true) // b2 = v2, dirs = v3
	check(t, err)

	restored, displaced, err := g.Rollback()
	check(t, err)
	if !slices.Equal(restored, b2) {
		t.Errorf("restored %q, want the newest set %q", restored, b2)
	}
	f.wantStates(t, "rolled back", v2)
	sameStamp(t, displaced)
	for i := range f.uppers {
		if got := dirState(t, displaced[i]); got != v3[i] {
			t.Errorf("displaced dir %d is not what the rollback replaced", i)
		}
		if got := dirState(t, b1[i]); got != v1[i] {
			t.Errorf("older backup %d changed", i)
		}
	}
	sets, err := g.Backups()
	check(t, err)
	if len(sets) != 2 || !slices.Equal(sets[0].Paths, b1) || !slices.Equal(sets[1].Paths, displaced) {
		t.Fatalf("Backups() = %v, want %q then %q", sets, b1, displaced)
	}

	// A second rollback undoes the first.
	_, displaced2, err := g.Rollback()
	check(t, err)
	f.wantStates(t, "rolled forward again", v3)
	for i := range f.uppers {
		if got := dirState(t, displaced2[i]); got != v2[i] {
			t.Errorf("second rollback displaced %d: not the first rollback's", i)
		}
	}
}

// A rollback is a group swap: killed once committed, it is finished.
func TestGroupKilledRollback(t *testing.T) {
	for _, kp := range groupKillPoints {
		t.Run(kp.point, func(t *testing.T) {
			f := newGroupDirs(t)
			g, err := OpenGroup(f.uppers[0], f.uppers[1:]...)
			check(t, err)
			stagings, v1 := stageGroup(t, g, "one")
			b0, err := g.Swap(stagings, true)
			check(t, err)
			runKilled(t, kp.point, func() error { _, _, err := g.Rollback(); return err })
			check(t, g.Close())

			g = f.open(t)
			sets, err := g.Backups()
			check(t, err)
			if len(sets) != 1 || !sets[0].Complete() {
				t.Fatalf("Backups() = %v, want one complete set", sets)
			}
			if !kp.committed {
				f.wantStates(t, "current", v1)
				if !slices.Equal(sets[0].Paths, b0) {
					t.Errorf("backups %q, want %q unchanged", sets[0].Paths, b0)
				}
				return
			}
			f.wantStates(t, "restored", f.old)
			for i, p := range sets[0].Paths {
				if p == b0[i] {
					t.Errorf("displaced dir kept under the restored backup's name %s", p)
				}
				if got := dirState(t, p); got != v1[i] {
					t.Errorf("displaced dir %d is not what the rollback replaced", i)
				}
			}
			f.wantClean(t, true)
		})
	}
}

// Only a complete set is rolled back to: a newer backup of the layer
// alone (an import of the layer without its volumes) is not half a set.
func TestGroupRollbackComplete(t *testing.T) {
	f := newGroupDirs(t)
	g := f.open(t)
	if _, _, err := g.Rollback(); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("Rollback without backups: %v, want ErrNoBackup", err)
	}
	stagings, v1 := stageGroup(t, g, "one")
	set, err := g.Swap(stagings, true)
	check(t, err)
	staging, _ := stage(t, g.Targets[0], "alone")
	alone, err := g.Targets[0].Swap(staging, true)
	check(t, err)

	sets, err := g.Backups()
	check(t, err)
	if len(sets) != 2 || !sets[0].Complete() || sets[1].Complete() || sets[1].Paths[0] != alone {
		t.Fatalf("Backups() = %v, want a complete set, then the layer's alone", sets)
	}
	restored, _, err := g.Rollback()
	check(t, err)
	if !slices.Equal(restored, set) {
		t.Errorf("restored %q, want the complete set %q", restored, set)
	}
	f.wantStates(t, "restored", f.old)
	if got := dirState(t, alone); got != v1[0] {
		t.Errorf("the layer's own backup changed")
	}
}

// The journal of a single-target swap, as every release before groups and
// Target.Swap today write it, is recovered by OpenGroup as OpenTarget
// always did: rolled back before its exchange, finished after.
func TestGroupRecoversSingleJournal(t *testing.T) {
	f := newGroupDirs(t)
	layer, err := OpenTarget(f.uppers[0])
	check(t, err)
	staging, newLayer := stage(t, layer, "new")
	runKilled(t, "exchanged", func() error { _, err := layer.Swap(staging, true); return err })
	check(t, layer.Close())
	vol, err := OpenTarget(f.uppers[1])
	check(t, err)
	staging, err = vol.Stage()
	check(t, err)
	fillTree(t, staging, "new")
	runKilled(t, "exchange", func() error { _, err := vol.Swap(staging, true); return err })
	check(t, vol.Close())
	for _, p := range f.parents[:2] {
		if _, err := os.Stat(filepath.Join(p, journalName)); err != nil {
			t.Fatalf("no single journal after the kill: %v", err)
		}
	}

	g := f.open(t)
	if len(g.Recovered) < 2 {
		t.Errorf("Recovered = %q, want both journals", g.Recovered)
	}
	f.wantStates(t, "the layer new, the volumes old", []string{newLayer, f.old[1], f.old[2]})
	sets, err := g.Backups()
	check(t, err)
	if len(sets) != 1 || sets[0].Complete() || dirState(t, sets[0].Paths[0]) != f.old[0] {
		t.Errorf("Backups() = %v, want the layer's backup alone", sets)
	}
	wantNames(t, f.parents[1], "_data")
	wantNames(t, f.parents[2], "_data")
}

// A journal or link that recovery cannot trust stops it, and nothing is
// touched, whichever member is opened.
func TestGroupDamagedJournal(t *testing.T) {
	member := func(dir, base, staging, backup string) string {
		m, _ := json.Marshal(groupMember{Dir: dir, Base: base, Staging: staging, StagingIno: 1, UpperIno: 2, Backup: backup})
		return string(m)
	}
	journal := func(members ...string) string {
		return `{"version":1,"stamp":"x","members":[` + strings.Join(members, ",") + `]}`
	}
	for name, content := range map[string]func(f *groupDirs) string{
		"garbage":    func(*groupDirs) string { return "{not json" },
		"no members": func(*groupDirs) string { return `{"version":1,"members":[]}` },
		"new version": func(f *groupDirs) string {
			return strings.Replace(journal(member(f.parents[0], "diff", "diff"+stagingInfix+"1", "")), `"version":1`, `"version":2`, 1)
		},
		"foreign staging": func(f *groupDirs) string {
			return journal(member(f.parents[0], "diff", "diff"+stagingInfix+"1", ""), member(f.parents[1], "_data", "../../etc", ""))
		},
		"staging of another dir": func(f *groupDirs) string {
			return journal(member(f.parents[0], "diff", "diff"+stagingInfix+"1", ""), member(f.parents[1], "_data", "other"+stagingInfix+"1", ""))
		},
		"backup without prefix": func(f *groupDirs) string {
			return journal(member(f.parents[0], "diff", "diff"+stagingInfix+"1", "etc"))
		},
		"relative dir": func(f *groupDirs) string {
			return journal(member(f.parents[0], "diff", "diff"+stagingInfix+"1", ""), member("volumes/x", "_data", "_data"+stagingInfix+"1", ""))
		},
		"base with a slash": func(f *groupDirs) string {
			return journal(member(f.parents[0], "diff", "diff"+stagingInfix+"1", ""), member(f.parents[1], "../x", "../x"+stagingInfix+"1", ""))
		},
		"primary elsewhere": func(f *groupDirs) string {
			return journal(member(f.parents[1], "_data", "_data"+stagingInfix+"1", ""))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newGroupDirs(t)
			check(t, os.WriteFile(filepath.Join(f.parents[0], groupJournalName), []byte(content(f)), 0o600))
			before := [][]string{namesIn(t, f.parents[0]), namesIn(t, f.parents[1])}
			for _, open := range []func() error{
				func() error { g, err := OpenGroup(f.uppers[0], f.uppers[1:]...); closeGroup(g); return err },
				func() error { g, err := OpenGroup(f.uppers[0]); closeGroup(g); return err },
			} {
				err := open()
				if err == nil || !strings.Contains(err.Error(), "damaged") {
					t.Fatalf("open with a damaged journal: %v, want an error saying so", err)
				}
			}
			f.wantStates(t, "untouched", f.old)
			for i, want := range before {
				if got := namesIn(t, f.parents[i]); !slices.Equal(got, want) {
					t.Errorf("parent %d holds %q, want %q", i, got, want)
				}
			}
			// The failed opens released every lock.
			for _, u := range f.uppers[1:] {
				tg, err := OpenTarget(u)
				check(t, err)
				tg.Close()
			}
		})
	}

	t.Run("link", func(t *testing.T) {
		f := newGroupDirs(t)
		link := filepath.Join(f.parents[1], "_data"+groupLinkSuffix)
		check(t, os.WriteFile(link, []byte(`{"primary":"relative/dir"}`), 0o600))
		if _, err := OpenTarget(f.uppers[1]); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("open with a damaged link: %v, want an error saying so", err)
		}
		wantNames(t, f.parents[1], "_data", filepath.Base(link))
	})
}

func closeGroup(g *Group) {
	if g != nil {
		g.Close()
	}
}

// A member whose parent another run holds makes the whole open fail with
// ErrBusy, and the locks taken before it are released.
func TestGroupBusy(t *testing.T) {
	f := newGroupDirs(t)
	held, err := OpenTarget(f.uppers[2])
	check(t, err)
	if g, err := OpenGroup(f.uppers[0], f.uppers[1:]...); !errors.Is(err, ErrBusy) {
		closeGroup(g)
		t.Fatalf("OpenGroup with a member held: %v, want ErrBusy", err)
	}
	for _, u := range f.uppers[:2] {
		tg, err := OpenTarget(u)
		check(t, err)
		check(t, tg.Close())
	}
	check(t, held.Close())
	g := f.open(t)
	// Closing a group member's Target does not release the group's lock.
	check(t, g.Targets[1].Close())
	if _, err := OpenTarget(f.uppers[1]); !errors.Is(err, ErrBusy) {
		t.Errorf("OpenTarget of a member of an open group: %v, want ErrBusy", err)
	}
	if _, err := OpenGroup(f.uppers[0], f.uppers[0]); err == nil {
		t.Error("OpenGroup of one directory twice succeeded")
	}
}

// Two members in one parent (bind sources /srv/a and /srv/b) share its
// lock and its journal, and still go over together.
func TestGroupSharedParent(t *testing.T) {
	needRoot(t)
	p := t.TempDir()
	f := &groupDirs{}
	for i, base := range []string{"a", "b"} {
		u := filepath.Join(p, base)
		check(t, os.Mkdir(u, 0o755))
		fillTree(t, u, fmt.Sprintf("old%d", i))
		f.parents = append(f.parents, p)
		f.uppers = append(f.uppers, u)
		f.old = append(f.old, dirState(t, u))
	}
	g, err := OpenGroup(f.uppers[1], f.uppers[0]) // the primary need not sort first
	check(t, err)
	f.uppers[0], f.uppers[1] = f.uppers[1], f.uppers[0]
	f.old[0], f.old[1] = f.old[1], f.old[0]
	stagings, newStates := stageGroup(t, g, "new")
	runKilled(t, "exchanged-1", func() error { _, err := g.Swap(stagings, true); return err })
	check(t, g.Close())

	v, err := OpenTarget(f.uppers[1]) // the other member alone
	check(t, err)
	check(t, v.Close())
	f.wantStates(t, "new", newStates)
	g = f.open(t)
	sets, err := g.Backups()
	check(t, err)
	if len(sets) != 1 || !sets[0].Complete() {
		t.Fatalf("Backups() = %v, want one complete set", sets)
	}
	for i, b := range sets[0].Paths {
		if got := dirState(t, b); got != f.old[i] {
			t.Errorf("backup %d is not the old dir", i)
		}
	}
	wantNames(t, p, "a", "a"+backupInfix+sets[0].Time.Format(backupLayout), "b", "b"+backupInfix+sets[0].Time.Format(backupLayout))
}
