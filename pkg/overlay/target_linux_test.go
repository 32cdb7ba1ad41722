package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"golang.org/x/sys/unix"
)

// Tests of Target: the locked, journaled replacement of an upper directory.
// A "layer dir" L stands for Docker's overlay2/<id>/ and holds the upper
// dir L/diff. A kill is simulated by a failpoint hook that panics: Swap's
// deferred cleanup sees a nil error during the panic and does nothing, as
// after a SIGKILL, and the test then closes the target (the process's lock
// goes away) and opens it again.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for devices, owners and trusted.* xattrs")
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fillTree fills dir with a small upper dir whose contents depend on
// variant: a file with an owner and an xattr, a hard link to it, a subdir,
// a symlink, a whiteout (char 0:0) and an opaque dir. The root's mode and
// mtime also depend on variant; they are set last.
func fillTree(t *testing.T, dir, variant string) {
	t.Helper()
	p := func(name string) string { return filepath.Join(dir, name) }
	check(t, os.MkdirAll(p("etc/sub"), 0o755))
	check(t, os.WriteFile(p("etc/conf"), []byte("conf of "+variant+"\n"), 0o644))
	check(t, os.Chown(p("etc/conf"), 1000, 1001))
	check(t, unix.Setxattr(p("etc/conf"), "user.note", []byte(variant), 0))
	check(t, os.Link(p("etc/conf"), p("etc/hard")))
	check(t, os.WriteFile(p("etc/sub/"+variant), []byte(strings.Repeat(variant, 100)), 0o600))
	check(t, os.Chmod(p("etc/sub"), 0o750))
	check(t, os.Symlink("etc/conf", p("link")))
	check(t, unix.Mknod(p("gone"), unix.S_IFCHR, 0))
	check(t, os.Mkdir(p("opq"), 0o755))
	if err := unix.Setxattr(p("opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	mode := os.FileMode(0o755)
	if variant != "old" {
		mode = 0o750
	}
	check(t, os.Chmod(dir, mode))
	stamp := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(len(variant)+int(variant[0])) * time.Hour)
	check(t, os.Chtimes(dir, stamp, stamp))
}

// dirState is a byte-exact picture of an upper dir: the digest of its
// canonical layer tar (names, contents, owners, modes, mtimes, xattrs,
// whiteouts, opaque dirs, hard links) and the root dir's own metadata,
// which the layer does not carry.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	if _, err := Write(context.Background(), dir, h, Options{}); err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	var st unix.Stat_t
	check(t, unix.Lstat(dir, &st))
	return fmt.Sprintf("layer=%x mode=%o owner=%d:%d mtime=%d.%09d", h.Sum(nil), st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
}

// namesIn lists dir, sorted.
func namesIn(t *testing.T, dir string) []string {
	t.Helper()
	names, err := readNames(dir)
	check(t, err)
	return names
}

// newLayerDir makes L with the upper dir L/diff filled with the "old" tree.
func newLayerDir(t *testing.T) (l, upper string) {
	t.Helper()
	needRoot(t)
	l = t.TempDir()
	upper = filepath.Join(l, "diff")
	check(t, os.Mkdir(upper, 0o755))
	fillTree(t, upper, "old")
	return l, upper
}

func openTarget(t *testing.T, upper string) *Target {
	t.Helper()
	tg, err := OpenTarget(upper)
	check(t, err)
	t.Cleanup(func() { tg.Close() })
	return tg
}

// stage makes a staging dir holding the variant's tree.
func stage(t *testing.T, tg *Target, variant string) (dir, state string) {
	t.Helper()
	dir, err := tg.Stage()
	check(t, err)
	if !strings.HasPrefix(filepath.Base(dir), "diff"+stagingInfix) || filepath.Dir(dir) != filepath.Dir(tg.Upper) {
		t.Fatalf("staging dir %s is not beside %s with the staging infix", dir, tg.Upper)
	}
	fillTree(t, dir, variant)
	return dir, dirState(t, dir)
}

func wantNames(t *testing.T, l string, want ...string) {
	t.Helper()
	if got := namesIn(t, l); !slices.Equal(got, want) {
		t.Fatalf("layer dir holds %q, want %q", got, want)
	}
}

func TestTargetSwapKeep(t *testing.T) {
	l, upper := newLayerDir(t)
	old := dirState(t, upper)
	tg := openTarget(t, upper)
	if len(tg.Recovered) != 0 {
		t.Errorf("fresh target recovered %q", tg.Recovered)
	}
	staging, want := stage(t, tg, "new")
	before := time.Now()
	backup, err := tg.Swap(staging, true)
	check(t, err)
	after := time.Now()
	if got := dirState(t, upper); got != want {
		t.Errorf("upper after swap:\n got %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(filepath.Base(backup), "diff"+backupInfix) || filepath.Dir(backup) != l {
		t.Fatalf("backup %s: not diff%s* in %s", backup, backupInfix, l)
	}
	if got := dirState(t, backup); got != old {
		t.Errorf("backup:\n got %s\nwant the old upper %s", got, old)
	}
	wantNames(t, l, "diff", filepath.Base(backup))
	bs, err := tg.Backups()
	check(t, err)
	if len(bs) != 1 || bs[0].Path != backup {
		t.Fatalf("Backups() = %v, want just %s", bs, backup)
	}
	if bs[0].Time.Before(before.Add(-time.Microsecond)) || bs[0].Time.After(after) {
		t.Errorf("backup time %v not within the swap (%v .. %v)", bs[0].Time, before, after)
	}
}

func TestTargetSwapNoKeep(t *testing.T) {
	l, upper := newLayerDir(t)
	tg := openTarget(t, upper)
	staging, want := stage(t, tg, "new")
	backup, err := tg.Swap(staging, false)
	check(t, err)
	if backup != "" {
		t.Errorf("Swap without keep returned backup %q", backup)
	}
	if got := dirState(t, upper); got != want {
		t.Errorf("upper after swap:\n got %s\nwant %s", got, want)
	}
	wantNames(t, l, "diff")
	if bs, err := tg.Backups(); err != nil || len(bs) != 0 {
		t.Errorf("Backups() = %v, %v; want none", bs, err)
	}
}

// A Swap that fails before the exchange leaves the upper dir alone and
// removes its journal.
func TestSwapFailsBeforeExchange(t *testing.T) {
	l, upper := newLayerDir(t)
	old := dirState(t, upper)
	tg := openTarget(t, upper)
	if _, err := tg.Swap(filepath.Join(l, "diff"+stagingInfix+"1"), true); err == nil {
		t.Fatal("Swap of a missing staging dir succeeded")
	}
	if got := dirState(t, upper); got != old {
		t.Errorf("upper changed:\n got %s\nwant %s", got, old)
	}
	wantNames(t, l, "diff")
}

func TestTargetDiscardRefusesNonStaging(t *testing.T) {
	l, upper := newLayerDir(t)
	old := dirState(t, upper)
	tg := openTarget(t, upper)
	for _, p := range []string{upper, l, filepath.Join(l, "diff"+backupInfix+"x")} {
		if err := tg.Discard(p); err == nil {
			t.Errorf("Discard(%s) succeeded", p)
		}
	}
	if got := dirState(t, upper); got != old {
		t.Errorf("upper changed")
	}
	staging, _ := stage(t, tg, "new")
	check(t, tg.Discard(staging))
	wantNames(t, l, "diff")
}

func TestTargetCopyRootAttrs(t *testing.T) {
	_, upper := newLayerDir(t)
	check(t, os.Chown(upper, 1234, 5678))
	check(t, os.Chmod(upper, 0o751|os.ModeSetgid|os.ModeSticky))
	stamp := time.Unix(1600000000, 123456789)
	check(t, os.Chtimes(upper, stamp, stamp))
	tg := openTarget(t, upper)
	staging, err := tg.Stage()
	check(t, err)
	check(t, tg.CopyRootAttrs(staging))
	var a, b unix.Stat_t
	check(t, unix.Lstat(upper, &a))
	check(t, unix.Lstat(staging, &b))
	if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Mtim != b.Mtim {
		t.Errorf("staging root mode %o owner %d:%d mtime %v; upper %o %d:%d %v", b.Mode, b.Uid, b.Gid, b.Mtim, a.Mode, a.Uid, a.Gid, a.Mtim)
	}
}

func TestTargetBackupsOrder(t *testing.T) {
	l, upper := newLayerDir(t)
	tg := openTarget(t, upper)
	var states []string // states[i]: the upper dir the i-th swap displaced
	var paths []string
	for _, v := range []string{"one", "two", "three"} {
		states = append(states, dirState(t, upper))
		staging, _ := stage(t, tg, v)
		b, err := tg.Swap(staging, true)
		check(t, err)
		paths = append(paths, b)
	}
	// Names that are not backups of this upper dir, and an old backup
	// made by hand.
	check(t, os.Mkdir(filepath.Join(l, "diff"+backupInfix+"garbage"), 0o700))
	check(t, os.Mkdir(filepath.Join(l, "other"+backupInfix+"20300101T000000.000000000Z"), 0o700))
	oldest := filepath.Join(l, "diff"+backupInfix+"20200101T000000.000000000Z")
	check(t, os.Mkdir(oldest, 0o700))

	bs, err := tg.Backups()
	check(t, err)
	var got []string
	for i, b := range bs {
		got = append(got, b.Path)
		if i > 0 && !bs[i-1].Time.Before(b.Time) {
			t.Errorf("backup %d (%v) not after backup %d (%v)", i, b.Time, i-1, bs[i-1].Time)
		}
	}
	want := append([]string{oldest}, paths...)
	if !slices.Equal(got, want) {
		t.Fatalf("Backups() = %q\nwant %q", got, want)
	}
	if !bs[0].Time.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("hand-made backup time %v", bs[0].Time)
	}
	for i, p := range paths {
		if got := dirState(t, p); got != states[i] {
			t.Errorf("backup %d holds %s, want %s", i, got, states[i])
		}
	}
}

func TestTargetRollback(t *testing.T) {
	l, upper := newLayerDir(t)
	tg := openTarget(t, upper)
	v1 := dirState(t, upper)
	staging, v2 := stage(t, tg, "two")
	b1, err := tg.Swap(staging, true) // b1 = v1
	check(t, err)
	staging, v3 := stage(t, tg, "three")
	b2, err := tg.Swap(staging, true) // b2 = v2, upper = v3
	check(t, err)

	restored, displaced, err := tg.Rollback()
	check(t, err)
	if restored != b2 {
		t.Errorf("restored %s, want the newest backup %s", restored, b2)
	}
	if got := dirState(t, upper); got != v2 {
		t.Errorf("upper after rollback:\n got %s\nwant %s", got, v2)
	}
	if got := dirState(t, displaced); got != v3 {
		t.Errorf("displaced upper kept at %s holds\n %s\nwant %s", displaced, got, v3)
	}
	if got := dirState(t, b1); got != v1 {
		t.Errorf("older backup changed")
	}
	wantNames(t, l, "diff", filepath.Base(b1), filepath.Base(displaced))
	bs, err := tg.Backups()
	check(t, err)
	if len(bs) != 2 || bs[0].Path != b1 || bs[1].Path != displaced {
		t.Fatalf("Backups() = %v, want %s then %s", bs, b1, displaced)
	}

	// A second rollback undoes the first.
	_, displaced2, err := tg.Rollback()
	check(t, err)
	if got := dirState(t, upper); got != v3 {
		t.Errorf("upper after the second rollback:\n got %s\nwant %s", got, v3)
	}
	if got := dirState(t, displaced2); got != v2 {
		t.Errorf("second rollback displaced %s, want %s", got, v2)
	}
	wantNames(t, l, "diff", filepath.Base(b1), filepath.Base(displaced2))
}

func TestTargetRollbackNoBackup(t *testing.T) {
	l, upper := newLayerDir(t)
	old := dirState(t, upper)
	tg := openTarget(t, upper)
	// A backup of another upper dir in the same place is not ours.
	check(t, os.Mkdir(filepath.Join(l, "other"+backupInfix+"20200101T000000.000000000Z"), 0o700))
	_, _, err := tg.Rollback()
	if !errors.Is(err, ErrNoBackup) {
		t.Fatalf("Rollback without backups: %v, want ErrNoBackup", err)
	}
	if got := dirState(t, upper); got != old {
		t.Errorf("upper changed")
	}
	wantNames(t, l, "diff", "other"+backupInfix+"20200101T000000.000000000Z")
}

func TestTargetBusy(t *testing.T) {
	_, upper := newLayerDir(t)
	first, err := OpenTarget(upper)
	check(t, err)
	// flock belongs to the open file description: a second open in this
	// process conflicts just as another process would.
	second, err := OpenTarget(upper)
	if !errors.Is(err, ErrBusy) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second OpenTarget: %v, want ErrBusy", err)
	}
	// The same dir named differently is the same lock.
	if _, err := OpenTarget(upper + "/"); !errors.Is(err, ErrBusy) {
		t.Errorf("OpenTarget(%s/): %v, want ErrBusy", upper, err)
	}
	check(t, first.Close())
	again, err := OpenTarget(upper)
	check(t, err)
	check(t, again.Close())
}

func TestTargetOpenMissing(t *testing.T) {
	if _, err := OpenTarget(filepath.Join(t.TempDir(), "nope", "diff")); err == nil {
		t.Fatal("OpenTarget of a missing layer dir succeeded")
	}
}

// TestTargetOpenSymlink: a layer dir that is a symlink is not followed;
// the swap would otherwise happen wherever it points.
func TestTargetOpenSymlink(t *testing.T) {
	real := filepath.Join(t.TempDir(), "elsewhere")
	check(t, os.MkdirAll(filepath.Join(real, "diff"), 0o755))
	link := filepath.Join(t.TempDir(), "layer")
	check(t, os.Symlink(real, link))
	tg, err := OpenTarget(filepath.Join(link, "diff"))
	if err == nil {
		tg.Close()
		t.Fatal("OpenTarget followed a symlinked layer dir")
	}
	if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
		t.Fatalf("want ELOOP or ENOTDIR, got %v", err)
	}
}

// killed is what a simulated kill panics with.
type killed struct{ point string }

// killAt returns a failpoint that "kills" the run at point.
func killAt(point string) func(string) {
	return func(p string) {
		if p == point {
			panic(killed{p})
		}
	}
}

// runKilled runs f with a killAt(point) hook, which must kill it. The hook
// is process-global, so it is set only while f runs (and no test here runs
// in parallel): what the test does after the "kill" runs without it.
func runKilled(t *testing.T, point string, f func() error) {
	t.Helper()
	err := func() (err error) {
		defer failpoint.Set(killAt(point))()
		defer func() {
			r := recover()
			if k, ok := r.(killed); ok && k.point == point {
				err = nil
				return
			}
			if r != nil {
				panic(r)
			}
			err = fmt.Errorf("not killed at %q (returned %v)", point, err)
		}()
		if err := f(); err != nil {
			return err
		}
		return errors.New("returned")
	}()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecoverKilledSwap(t *testing.T) {
	for _, point := range []string{"exchange", "exchanged"} {
		for _, keep := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/keep=%v", point, keep), func(t *testing.T) {
				l, upper := newLayerDir(t)
				old := dirState(t, upper)
				tg, err := OpenTarget(upper)
				check(t, err)
				staging, newState := stage(t, tg, "new")
				runKilled(t, point, func() error { _, err := tg.Swap(staging, keep); return err })
				check(t, tg.Close())
				if _, err := os.Stat(filepath.Join(l, journalName)); err != nil {
					t.Fatalf("no journal after a kill at %s: %v", point, err)
				}

				tg = openTarget(t, upper)
				if len(tg.Recovered) == 0 {
					t.Error("Recovered is empty")
				}
				t.Logf("recovered: %q", tg.Recovered)
				bs, err := tg.Backups()
				check(t, err)
				switch {
				case point == "exchange":
					if got := dirState(t, upper); got != old {
						t.Errorf("upper after recovery:\n got %s\nwant the old %s", got, old)
					}
					wantNames(t, l, "diff")
				case keep:
					if got := dirState(t, upper); got != newState {
						t.Errorf("upper after recovery:\n got %s\nwant the new %s", got, newState)
					}
					if len(bs) != 1 {
						t.Fatalf("backups %v, want one", bs)
					}
					if got := dirState(t, bs[0].Path); got != old {
						t.Errorf("backup:\n got %s\nwant the old %s", got, old)
					}
					wantNames(t, l, "diff", filepath.Base(bs[0].Path))
				default:
					if got := dirState(t, upper); got != newState {
						t.Errorf("upper after recovery:\n got %s\nwant the new %s", got, newState)
					}
					wantNames(t, l, "diff")
				}
				// The recovered target works.
				staging, again := stage(t, tg, "again")
				_, err = tg.Swap(staging, false)
				check(t, err)
				if got := dirState(t, upper); got != again {
					t.Errorf("swap after recovery did not take")
				}
			})
		}
	}
}

func TestRecoverKilledRollback(t *testing.T) {
	for _, point := range []string{"exchange", "exchanged"} {
		t.Run(point, func(t *testing.T) {
			l, upper := newLayerDir(t)
			v0 := dirState(t, upper)
			tg, err := OpenTarget(upper)
			check(t, err)
			staging, v1 := stage(t, tg, "one")
			b0, err := tg.Swap(staging, true)
			check(t, err)
			runKilled(t, point, func() error { _, _, err := tg.Rollback(); return err })
			check(t, tg.Close())

			tg = openTarget(t, upper)
			if len(tg.Recovered) == 0 {
				t.Error("Recovered is empty")
			}
			bs, err := tg.Backups()
			check(t, err)
			if len(bs) != 1 {
				t.Fatalf("backups %v, want one", bs)
			}
			if point == "exchange" {
				if got := dirState(t, upper); got != v1 {
					t.Errorf("upper after recovery:\n got %s\nwant the current %s", got, v1)
				}
				if bs[0].Path != b0 || dirState(t, b0) != v0 {
					t.Errorf("backup %s, want %s unchanged", bs[0].Path, b0)
				}
			} else {
				if got := dirState(t, upper); got != v0 {
					t.Errorf("upper after recovery:\n got %s\nwant the restored %s", got, v0)
				}
				if bs[0].Path == b0 {
					t.Errorf("displaced upper kept under the restored backup's name %s", b0)
				}
				if got := dirState(t, bs[0].Path); got != v1 {
					t.Errorf("displaced upper:\n got %s\nwant %s", got, v1)
				}
			}
			wantNames(t, l, "diff", filepath.Base(bs[0].Path))
		})
	}
}

// A run killed inside finish, after the old upper dir got its backup name
// (or was removed) but before the journal was removed, must be recoverable
// too: the next OpenTarget only has to drop the journal.
func TestRecoverKilledInFinish(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			l, upper := newLayerDir(t)
			old := dirState(t, upper)
			tg, err := OpenTarget(upper)
			check(t, err)
			staging, newState := stage(t, tg, "new")
			runKilled(t, "exchanged", func() error { _, err := tg.Swap(staging, keep); return err })
			// Do finish's first step by hand, as a run killed right after
			// it would have.
			data, err := os.ReadFile(filepath.Join(l, journalName))
			check(t, err)
			var j journal
			check(t, json.Unmarshal(data, &j))
			if keep {
				check(t, os.Rename(filepath.Join(l, j.Staging), filepath.Join(l, j.Backup)))
			} else {
				check(t, os.RemoveAll(filepath.Join(l, j.Staging)))
			}
			check(t, tg.Close())

			tg, err = OpenTarget(upper)
			if err != nil {
				t.Fatalf("OpenTarget after a kill between finish's rename and its journal removal: %v", err)
			}
			defer tg.Close()
			if got := dirState(t, upper); got != newState {
				t.Errorf("upper:\n got %s\nwant the new %s", got, newState)
			}
			if keep {
				if got := dirState(t, filepath.Join(l, j.Backup)); got != old {
					t.Errorf("backup:\n got %s\nwant the old %s", got, old)
				}
				wantNames(t, l, "diff", j.Backup)
			} else {
				wantNames(t, l, "diff")
			}
		})
	}
}

func TestRecoverAbandonedStaging(t *testing.T) {
	l, upper := newLayerDir(t)
	old := dirState(t, upper)
	tg, err := OpenTarget(upper)
	check(t, err)
	staging, _ := stage(t, tg, "new")
	// A staging dir of another upper dir in the same place is not ours.
	other := filepath.Join(l, "other"+stagingInfix+"1")
	check(t, os.Mkdir(other, 0o700))
	check(t, tg.Close())

	tg = openTarget(t, upper)
	if len(tg.Recovered) != 1 || !strings.Contains(tg.Recovered[0], filepath.Base(staging)) {
		t.Errorf("Recovered = %q, want the removal of %s", tg.Recovered, filepath.Base(staging))
	}
	wantNames(t, l, "diff", filepath.Base(other))
	if got := dirState(t, upper); got != old {
		t.Errorf("upper changed")
	}
}

// A run killed while writing the journal (before its rename) leaves
// journal.tmp; the next OpenTarget removes it with the staging dir.
func TestRecoverKilledWritingJournal(t *testing.T) {
	l, upper := newLayerDir(t)
	old := dirState(t, upper)
	tg, err := OpenTarget(upper)
	check(t, err)
	staging, _ := stage(t, tg, "new")
	check(t, os.WriteFile(filepath.Join(l, journalName+".tmp"), []byte(`{"staging":"`+filepath.Base(staging)+`"`), 0o600))
	check(t, tg.Close())

	tg = openTarget(t, upper)
	if got := dirState(t, upper); got != old {
		t.Errorf("upper changed")
	}
	wantNames(t, l, "diff")
}

// A journal OpenTarget cannot trust stops it, and nothing is touched.
func TestRecoverDamagedJournal(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":       "{not json",
		"foreign name":  `{"staging":"../../etc","stagingIno":1,"upperIno":2}`,
		"other upper":   `{"staging":"other` + stagingInfix + `1","stagingIno":1,"upperIno":2}`,
		"empty staging": `{"staging":"","stagingIno":1,"upperIno":2}`,
	} {
		t.Run(name, func(t *testing.T) {
			l, upper := newLayerDir(t)
			old := dirState(t, upper)
			check(t, os.WriteFile(filepath.Join(l, journalName), []byte(content), 0o600))
			tg, err := OpenTarget(upper)
			if err == nil {
				tg.Close()
				t.Fatal("OpenTarget accepted a damaged journal")
			}
			if !strings.Contains(err.Error(), "damaged") {
				t.Errorf("error %q does not say the journal is damaged", err)
			}
			if got := dirState(t, upper); got != old {
				t.Errorf("upper changed")
			}
			wantNames(t, l, "diff", journalName)
			// The failed open released the lock.
			if _, err := OpenTarget(upper); errors.Is(err, ErrBusy) {
				t.Errorf("lock kept after a failed OpenTarget")
			}
		})
	}
}

func TestMounted(t *testing.T) {
	dir := t.TempDir()
	upper := filepath.Join(dir, "upper")
	check(t, os.Mkdir(upper, 0o755))
	if m, err := Mounted(upper); err != nil || m {
		t.Fatalf("Mounted(plain dir) = %v, %v", m, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting an overlay needs root")
	}
	lower, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{lower, work, merged} {
		check(t, os.Mkdir(d, 0o755))
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount an overlay here: %v", err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			unix.Unmount(merged, unix.MNT_DETACH)
		}
	})
	if m, err := Mounted(upper); err != nil || !m {
		t.Errorf("Mounted(upper of a mounted overlay) = %v, %v", m, err)
	}
	// Only that exact upper dir: neither its parent nor a longer name.
	for _, p := range []string{dir, upper + "x", lower} {
		if m, err := Mounted(p); err != nil || m {
			t.Errorf("Mounted(%s) = %v, %v", p, m, err)
		}
	}
	check(t, unix.Unmount(merged, 0))
	unmounted = true
	if m, err := Mounted(upper); err != nil || m {
		t.Errorf("Mounted after unmount = %v, %v", m, err)
	}
}
