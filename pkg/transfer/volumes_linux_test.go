package transfer

// Tests of Import with volumes (envelope v2), against a temp "container":
// a layer dir L with its upper dir L/diff, and two volume dirs V1/_data and
// V2/_data, each under a parent of its own as Docker keeps them. The layer
// and both volumes are one transaction: whatever happens, every directory
// is old, or (after the next run's recovery) every directory is new, and
// nothing the import made is left beside any of them.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// treeListing describes dir entry by entry, in path order: type, mode,
// owner, mtime in ns, xattrs, and by type size and content digest (with
// whether the file has holes, and for a file of several links the first
// path of its inode), link target or device numbers. withRoot lists dir
// itself too: a volume's root is its data, a layer's root is not.
func treeListing(t *testing.T, dir string, withRoot bool) []string {
	t.Helper()
	var out []string
	firstPath := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." && !withRoot {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s type=%o mode=%04o owner=%d:%d mtime=%d.%09d", rel, st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			line += fmt.Sprintf(" size=%d sha256=%s holes=%v", st.Size, fileDigest(t, p), st.Blocks*512 < st.Size)
			if st.Nlink > 1 {
				if first, ok := firstPath[st.Ino]; ok {
					line += " linkof=" + first
				} else {
					firstPath[st.Ino] = rel
					line += fmt.Sprintf(" nlink=%d", st.Nlink)
				}
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " target=" + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		out = append(out, line+" xattrs="+xattrList(t, p))
		return nil
	})
	must(t, err)
	return out
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	must(t, err)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// xattrList is p's extended attributes, sorted, as name=hex(value).
// security.selinux is left out: a labelling host gives new files a label
// of its own, which no tar carries.
func xattrList(t *testing.T, p string) string {
	t.Helper()
	n, err := unix.Llistxattr(p, nil)
	must(t, err)
	buf := make([]byte, n)
	n, err = unix.Llistxattr(p, buf)
	must(t, err)
	var out []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || name == "security.selinux" {
			continue
		}
		vn, err := unix.Lgetxattr(p, name, nil)
		must(t, err)
		val := make([]byte, vn)
		vn, err = unix.Lgetxattr(p, name, val)
		must(t, err)
		out = append(out, name+"="+hex.EncodeToString(val[:vn]))
	}
	slices.Sort(out)
	return "[" + strings.Join(out, ",") + "]"
}

// sameListing fails, showing the first lines that differ, unless got is
// want.
func sameListing(t *testing.T, what string, got, want []string) bool {
	t.Helper()
	if slices.Equal(got, want) {
		return true
	}
	var diff []string
	for i := 0; i < max(len(got), len(want)) && len(diff) < 6; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			diff = append(diff, fmt.Sprintf(" got %s\nwant %s", g, w))
		}
	}
	t.Errorf("%s differs (%d entries, want %d):\n%s", what, len(got), len(want), strings.Join(diff, "\n"))
	return false
}

// fillPlain gives dir a plain tree (a volume's): everything a volume may
// hold that a layer would read otherwise (a char 0:0 device, names that
// look like whiteouts and an opaque marker, trusted.overlay.opaque as
// data), a hard link, a sparse file, a symlink out of the tree, a fifo,
// xattrs and owners, and blob bytes of data in a file of their own. The
// root gets mode and owner: the old trees' 0755 0:0, the sources' 0700
// 999:999 (postgres's data directory).
func fillPlain(t *testing.T, dir, variant string, blob int) {
	t.Helper()
	p := func(name string) string { return filepath.Join(dir, name) }
	must(t, os.MkdirAll(p("data/sub"), 0o755))
	must(t, os.WriteFile(p("data/file"), []byte("file of "+variant+"\n"), 0o640))
	must(t, os.Chown(p("data/file"), 1000, 1000))
	must(t, unix.Setxattr(p("data/file"), "user.note", []byte(variant), 0))
	must(t, os.Link(p("data/file"), p("hardlink")))
	must(t, os.WriteFile(p(".wh.x"), []byte("a file, not a whiteout\n"), 0o644))
	must(t, os.WriteFile(p("data/sub/.wh..wh..opq"), []byte("a file, not an opaque marker\n"), 0o600))
	must(t, unix.Setxattr(p("data/sub"), "trusted.overlay.opaque", []byte("y"), 0))
	must(t, unix.Mknod(p("dev0"), unix.S_IFCHR|0o600, 0))
	must(t, unix.Mkfifo(p("fifo"), 0o640))
	must(t, os.Symlink("../../outside/"+variant, p("data/link")))
	f, err := os.Create(p("sparse"))
	must(t, err)
	_, err = f.WriteAt([]byte("head of "+variant), 0)
	must(t, err)
	_, err = f.WriteAt([]byte("tail"), 192<<10)
	must(t, err)
	must(t, f.Truncate(256<<10))
	must(t, f.Close())
	if blob > 0 {
		data := make([]byte, blob)
		for i := range data {
			data[i] = byte(i*7 + i/251)
		}
		must(t, os.WriteFile(p("blob"), data, 0o644))
	}
	stamp := time.Date(2022, 1, 2, 3, 4, 5, 987654321, time.UTC)
	must(t, os.Chtimes(p("data/file"), stamp, stamp))
	if strings.HasPrefix(variant, "old") {
		must(t, os.Chmod(dir, 0o755))
		must(t, os.Chown(dir, 0, 0))
	} else {
		must(t, os.Chmod(dir, 0o700))
		must(t, os.Chown(dir, 999, 999))
	}
	must(t, unix.Setxattr(dir, "user.root", []byte(variant), 0))
	must(t, os.Chtimes(dir, stamp.Add(time.Hour), stamp.Add(time.Hour)))
}

// volDir is a volume's directory, parent/_data, with its old contents,
// locked as the import's caller locks it.
type volDir struct {
	parent, dir string
	tg          *overlay.Target
	listing     []string // of the old tree, root included
	names       []string // in parent, as made
}

func newVolDir(t *testing.T, parent, variant string) *volDir {
	t.Helper()
	v := &volDir{parent: parent, dir: filepath.Join(parent, "_data")}
	must(t, os.MkdirAll(v.dir, 0o755))
	fillPlain(t, v.dir, variant, 0)
	v.listing = treeListing(t, v.dir, true)
	v.names = namesIn(t, parent)
	v.open(t)
	return v
}

func (v *volDir) open(t *testing.T) {
	t.Helper()
	tg, err := overlay.OpenTarget(v.dir)
	must(t, err)
	v.tg = tg
	t.Cleanup(func() { v.tg.Close() })
}

// unchanged fails unless the volume is as made and nothing is beside it.
func (v *volDir) unchanged(t *testing.T) {
	t.Helper()
	sameListing(t, v.dir, treeListing(t, v.dir, true), v.listing)
	if got := namesIn(t, v.parent); !slices.Equal(got, v.names) {
		t.Errorf("%s holds %q, want %q", v.parent, got, v.names)
	}
}

// vcontainer is the layer and two volumes of one container.
type vcontainer struct {
	base string
	lo   *layout
	vols []*volDir
}

// newVContainer makes the container in a fresh temp dir; V2's parent is
// v2parent if it is given (a small file system).
func newVContainer(t *testing.T, v2parent string) *vcontainer {
	t.Helper()
	needRoot(t)
	c := &vcontainer{base: t.TempDir()}
	l := filepath.Join(c.base, "L")
	must(t, os.Mkdir(l, 0o755))
	c.lo = newLayout(t, l)
	if v2parent == "" {
		v2parent = filepath.Join(c.base, "V2")
	}
	c.vols = []*volDir{newVolDir(t, filepath.Join(c.base, "V1"), "old1"), newVolDir(t, v2parent, "old2")}
	return c
}

// targets are the volumes' targets, for ImportOptions.Volumes.
func (c *vcontainer) targets(context.Context, *envelope.Meta) ([]*overlay.Target, error) {
	return []*overlay.Target{c.vols[0].tg, c.vols[1].tg}, nil
}

func (c *vcontainer) importEnv(ctx context.Context, env io.Reader, keep bool) (Imported, error) {
	return Import(ctx, c.lo.tg, env, ImportOptions{Gate: okGate, Volumes: c.targets, Keep: keep})
}

// unchanged fails unless every directory is as made, nothing is beside
// any of them.
func (c *vcontainer) unchanged(t *testing.T) {
	t.Helper()
	c.lo.unchanged(t)
	for _, v := range c.vols {
		v.unchanged(t)
	}
}

// closeAll drops every lock, as a killed run's do.
func (c *vcontainer) closeAll(t *testing.T) {
	t.Helper()
	must(t, c.lo.tg.Close())
	for _, v := range c.vols {
		must(t, v.tg.Close())
	}
}

// vsource is the container an envelope is exported from.
type vsource struct {
	layer  string
	vols   []string
	digest string // the layer's
	// volList, volDig and volEnt are each volume's tree listing, tar
	// digest and entry count.
	volList [][]string
	volDig  []string
	volEnt  []int64
}

// newVSource makes a source layer (fillSource: past 64 KiB, for the
// "extract" failpoint) and two source volumes, the second with blob2
// bytes of data more.
func newVSource(t *testing.T, blob2 int) *vsource {
	t.Helper()
	needRoot(t)
	base := t.TempDir()
	s := &vsource{layer: filepath.Join(base, "layer")}
	must(t, os.Mkdir(s.layer, 0o755))
	fillSource(t, s.layer)
	s.digest = layerDigest(t, s.layer)
	for i, blob := range []int{0, blob2} {
		dir := filepath.Join(base, fmt.Sprintf("vol%d", i+1), "_data")
		must(t, os.MkdirAll(dir, 0o755))
		fillPlain(t, dir, fmt.Sprintf("new%d", i+1), blob)
		s.vols = append(s.vols, dir)
		s.volList = append(s.volList, treeListing(t, dir, true))
		h := sha256.New()
		plan, err := overlay.Write(context.Background(), dir, h, overlay.Options{Plain: true})
		must(t, err)
		s.volDig = append(s.volDig, "sha256:"+hex.EncodeToString(h.Sum(nil)))
		s.volEnt = append(s.volEnt, plan.Stats.Entries)
	}
	return s
}

var vDests = []string{"/var/lib/db", "/data"}

// export writes the source's envelope with transfer.Export.
func (s *vsource) export(t *testing.T, c envelope.Compression) []byte {
	t.Helper()
	src := Source{
		Meta:      testMeta(0, 0),
		Container: []byte(`{"Id":"x"}`),
		Info:      []byte(`{"Driver":"overlay2"}`),
		Layer:     Tree{Dir: s.layer},
		Volumes: []VolumeTree{
			{Meta: envelope.Volume{Type: "volume", Name: "db", Destination: vDests[0], Driver: "local", RW: true}, Dir: s.vols[0]},
			{Meta: envelope.Volume{Type: "volume", Name: strings.Repeat("4f", 32), Anonymous: true, Destination: vDests[1], Driver: "local", RW: true}, Dir: s.vols[1]},
		},
	}
	var buf bytes.Buffer
	digest, err := Export(context.Background(), &buf, src, ExportOptions{WriteOptions: envelope.WriteOptions{Compression: c}})
	must(t, err)
	if rep, err := envelope.Verify(context.Background(), bytes.NewReader(buf.Bytes())); err != nil || digest != rep.Root {
		t.Fatalf("Export returned %s for an envelope whose root is %s (%v)", digest, rep.Root, err)
	}
	return buf.Bytes()
}

// state tells what each directory of c holds: "old", "new" (s's), or
// "neither".
func (c *vcontainer) state(t *testing.T, s *vsource) []string {
	t.Helper()
	var out []string
	switch {
	case dirState(t, c.lo.upper) == c.lo.state:
		out = append(out, "old")
	case layerDigest(t, c.lo.upper) == s.digest:
		out = append(out, "new")
	default:
		out = append(out, "neither")
	}
	for i, v := range c.vols {
		switch got := treeListing(t, v.dir, true); {
		case slices.Equal(got, v.listing):
			out = append(out, "old")
		case slices.Equal(got, s.volList[i]):
			out = append(out, "new")
		default:
			out = append(out, "neither")
		}
	}
	return out
}

// The layer and both volumes of a v2 envelope written by Export are
// imported exactly: each volume's tree, root included, equals its source
// entry by entry (devices and .wh. names stay what they are), the layer's
// tree equals its source, backups (with keep) sit beside each directory
// with one time stamp and hold the old trees, and Imported reports each
// volume.
func TestImportVolumesRoundTrip(t *testing.T) {
	s := newVSource(t, 0)
	for _, tc := range []struct {
		c    envelope.Compression
		keep bool
	}{{envelope.Zstd, true}, {envelope.None, false}} {
		t.Run(fmt.Sprintf("%s/keep=%v", tc.c, tc.keep), func(t *testing.T) {
			env := s.export(t, tc.c)
			rep, err := envelope.Verify(context.Background(), bytes.NewReader(env))
			must(t, err)
			if !rep.Valid || rep.Format != envelope.FormatV2 || len(rep.Volumes) != 2 {
				t.Fatalf("Export wrote no valid v2 envelope with two volumes: %+v", rep)
			}
			c := newVContainer(t, "")
			oldLayer := treeListing(t, c.lo.upper, true)
			res, err := c.importEnv(context.Background(), bytes.NewReader(env), tc.keep)
			must(t, err)

			if res.Digest != s.digest || layerDigest(t, c.lo.upper) != s.digest {
				t.Errorf("layer imported as %s (upper %s), want %s", res.Digest, layerDigest(t, c.lo.upper), s.digest)
			}
			sameListing(t, "imported layer", treeListing(t, c.lo.upper, false), treeListing(t, s.layer, false))
			if got := treeListing(t, c.lo.upper, true)[0]; got != oldLayer[0] {
				t.Errorf("the upper dir's root is\n %s\nwant the old one's\n %s", got, oldLayer[0])
			}
			for i, v := range c.vols {
				sameListing(t, "imported volume "+vDests[i], treeListing(t, v.dir, true), s.volList[i])
			}

			if len(res.Volumes) != 2 {
				t.Fatalf("Imported.Volumes %+v, want two", res.Volumes)
			}
			for i, iv := range res.Volumes {
				if iv.Destination != vDests[i] || iv.Digest != s.volDig[i] || iv.Entries != s.volEnt[i] {
					t.Errorf("volume %d imported as %+v, want %s %s %d entries", i, iv, vDests[i], s.volDig[i], s.volEnt[i])
				}
			}

			if !tc.keep {
				if res.Backup != "" {
					t.Errorf("layer backup %q without keep", res.Backup)
				}
				if got := namesIn(t, c.lo.l); !slices.Equal(got, []string{"diff"}) {
					t.Errorf("layer dir holds %q, want just diff", got)
				}
				for _, iv := range res.Volumes {
					if iv.Backup != "" {
						t.Errorf("volume %s: backup %q without keep", iv.Destination, iv.Backup)
					}
				}
				for _, v := range c.vols {
					if got := namesIn(t, v.parent); !slices.Equal(got, []string{"_data"}) {
						t.Errorf("%s holds %q, want just _data", v.parent, got)
					}
				}
				return
			}
			stamp, ok := strings.CutPrefix(filepath.Base(res.Backup), "diff.layer-tool-backup.")
			if !ok || filepath.Dir(res.Backup) != c.lo.l {
				t.Fatalf("layer backup %q is not a backup name in %s", res.Backup, c.lo.l)
			}
			if got := dirState(t, res.Backup); got != c.lo.state {
				t.Errorf("layer backup:\n got %s\nwant the old upper %s", got, c.lo.state)
			}
			if got, want := namesIn(t, c.lo.l), []string{"diff", filepath.Base(res.Backup)}; !slices.Equal(got, want) {
				t.Errorf("layer dir holds %q, want %q", got, want)
			}
			for i, v := range c.vols {
				b := res.Volumes[i].Backup
				if want := filepath.Join(v.parent, "_data.layer-tool-backup."+stamp); b != want {
					t.Errorf("volume %s: backup %q, want %q (beside it, with the layer's time)", vDests[i], b, want)
					continue
				}
				sameListing(t, "backup of "+vDests[i], treeListing(t, b, true), v.listing)
				if got, want := namesIn(t, v.parent), []string{"_data", filepath.Base(b)}; !slices.Equal(got, want) {
					t.Errorf("%s holds %q, want %q", v.parent, got, want)
				}
			}
		})
	}
}

// A volume the caller leaves out (a nil target) is read and verified but
// not written: its directory is untouched, nothing is staged beside it,
// and the layer and the other volume are imported.
func TestImportVolumeLeftOut(t *testing.T) {
	s := newVSource(t, 0)
	env := s.export(t, envelope.Gzip)
	c := newVContainer(t, "")
	// The volume left out is not locked by this import: a caller that
	// leaves it out does not open it.
	must(t, c.vols[1].tg.Close())
	res, err := Import(context.Background(), c.lo.tg, bytes.NewReader(env), ImportOptions{
		Gate: okGate,
		Volumes: func(context.Context, *envelope.Meta) ([]*overlay.Target, error) {
			return []*overlay.Target{c.vols[0].tg, nil}, nil
		},
		Keep: true,
	})
	must(t, err)
	c.vols[1].unchanged(t)
	if got := layerDigest(t, c.lo.upper); got != s.digest {
		t.Errorf("layer is %s, want %s", got, s.digest)
	}
	sameListing(t, "imported volume", treeListing(t, c.vols[0].dir, true), s.volList[0])
	if len(res.Volumes) != 1 || res.Volumes[0].Destination != vDests[0] || res.Volumes[0].Digest != s.volDig[0] || res.Volumes[0].Backup == "" {
		t.Errorf("Imported.Volumes %+v, want only %s, with a backup", res.Volumes, vDests[0])
	}
}

// Without a way to place its volumes, an envelope that carries some is
// refused before anything is written.
func TestImportVolumesNotPlaced(t *testing.T) {
	s := newVSource(t, 0)
	env := s.export(t, envelope.None)
	c := newVContainer(t, "")
	_, err := Import(context.Background(), c.lo.tg, bytes.NewReader(env), ImportOptions{Gate: okGate, Keep: true})
	if !errors.Is(err, ErrVolumes) {
		t.Fatalf("error %v, want ErrVolumes", err)
	}
	c.unchanged(t)
}

// A run killed at any point of the import (a panic stands for SIGKILL, as
// in TestReplaceLayerKilled) leaves a state that the next run, opening any
// one of the directories alone, mends for all of them: before the journal
// is written every directory is old, from then on every directory is new;
// never a mix. Once each directory has been opened, nothing (staging dir,
// journal, link) is left beside any, and with keep each holds a backup of
// its old tree.
func TestImportVolumesKilled(t *testing.T) {
	s := newVSource(t, 0)
	env := s.export(t, envelope.Zstd)
	points := []struct {
		name string
		new  bool
	}{
		{"extract", false}, {"journal", false}, {"exchange", true},
		{"exchanged-1", true}, {"exchanged-2", true}, {"exchanged", true},
		{"finished-1", true}, {"finished-2", true},
	}
	for _, point := range points {
		for _, opener := range []string{"layer", "volume"} {
			for _, keep := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/open %s/keep=%v", point.name, opener, keep), func(t *testing.T) {
					c := newVContainer(t, "")
					hit := false
					defer failpoint.Set(func(p string) {
						if p == point.name {
							hit = true
							panic(killed{p})
						}
					})()
					func() {
						defer func() {
							if r := recover(); r != nil && r != (killed{point.name}) {
								panic(r)
							}
						}()
						_, err := c.importEnv(context.Background(), bytes.NewReader(env), keep)
						t.Fatalf("not killed at %s; returned %v", point.name, err)
					}()
					if !hit {
						t.Fatal("failpoint not reached")
					}
					failpoint.Set(nil)
					c.closeAll(t)

					// The next run opens one directory alone.
					var first *overlay.Target
					var firstParent string
					switch opener {
					case "layer":
						tg, err := overlay.OpenTarget(c.lo.upper)
						must(t, err)
						c.lo.tg, first, firstParent = tg, tg, c.lo.l
					case "volume":
						// The last member: its link names the layer's parent.
						v := c.vols[1]
						v.open(t)
						first, firstParent = v.tg, v.parent
					}
					if len(first.Recovered) == 0 {
						t.Error("nothing recovered")
					}
					t.Logf("recovered: %q", first.Recovered)
					want := "old"
					if point.new {
						want = "new"
					}
					if got := c.state(t, s); !slices.Equal(got, []string{want, want, want}) {
						t.Fatalf("after the next run opened the %s alone, layer, V1, V2 are %q, want all %s", opener, got, want)
					}
					// A swap that committed is finished everywhere by the
					// first run that opens any member; one that did not
					// leaves each member's staging dir to the run that
					// opens that member.
					if point.new {
						c.checkLeft(t, keep)
					} else {
						c.checkLeftIn(t, firstParent, false)
					}
					if opener == "layer" {
						c.vols[0].open(t)
						c.vols[1].open(t)
					} else {
						tg, err := overlay.OpenTarget(c.lo.upper)
						must(t, err)
						c.lo.tg = tg
						c.vols[0].open(t)
					}
					if got := c.state(t, s); !slices.Equal(got, []string{want, want, want}) {
						t.Fatalf("once every directory was opened, layer, V1, V2 are %q, want all %s", got, want)
					}
					c.checkLeft(t, keep && point.new)
					if keep && point.new {
						c.checkBackups(t)
					}
				})
			}
		}
	}
}

// checkLeft fails unless each parent holds its directory and, with
// backup, one backup, and nothing else.
func (c *vcontainer) checkLeft(t *testing.T, backup bool) {
	t.Helper()
	for _, p := range []string{c.lo.l, c.vols[0].parent, c.vols[1].parent} {
		c.checkLeftIn(t, p, backup)
	}
}

func (c *vcontainer) checkLeftIn(t *testing.T, parent string, backup bool) {
	t.Helper()
	base := "_data"
	if parent == c.lo.l {
		base = "diff"
	}
	names := namesIn(t, parent)
	ok := len(names) > 0 && names[0] == base
	switch {
	case !ok:
	case backup:
		ok = len(names) == 2 && strings.HasPrefix(names[1], base+".layer-tool-backup.")
	default:
		ok = len(names) == 1
	}
	if !ok {
		t.Errorf("%s holds %q, want %s and %s", parent, names, base, map[bool]string{true: "one backup", false: "nothing else"}[backup])
	}
}

// checkBackups fails unless the layer and both volumes have one backup
// each, of one time, holding the old trees.
func (c *vcontainer) checkBackups(t *testing.T) {
	t.Helper()
	lb, err := c.lo.tg.Backups()
	must(t, err)
	if len(lb) != 1 {
		t.Fatalf("layer backups %v, want one", lb)
	}
	if got := dirState(t, lb[0].Path); got != c.lo.state {
		t.Errorf("layer backup:\n got %s\nwant %s", got, c.lo.state)
	}
	for _, v := range c.vols {
		vb, err := v.tg.Backups()
		must(t, err)
		if len(vb) != 1 || !vb[0].Time.Equal(lb[0].Time) {
			t.Errorf("%s: backups %v, want one of %v", v.dir, vb, lb[0].Time)
			continue
		}
		sameListing(t, "backup of "+v.dir, treeListing(t, vb[0].Path, true), v.listing)
	}
}

// A volume whose file system cannot hold it: refused from envelope.json
// by the free-space check, before the layer's tar is read, and every
// directory stays as it was with nothing staged beside any.
func TestImportVolumeNoSpace(t *testing.T) {
	s := newVSource(t, 512<<10)
	env := s.export(t, envelope.None)
	c := newVContainer(t, filepath.Join(mountTmpfs(t, "size=256k"), "V2"))
	cr := &countReader{r: bytes.NewReader(env)}
	_, err := c.importEnv(context.Background(), cr, true)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("error %v, want ErrNoSpace", err)
	}
	t.Logf("%v", err)
	if n := cr.n.Load(); n > 128<<10 {
		t.Errorf("read %d of %d bytes before refusing", n, len(env))
	}
	c.unchanged(t)
}

// A volume's file system that passes the free-space check but fills up
// while the volume is written (another file takes the space once the
// check is made: here, while the layer is extracted, through the "extract"
// failpoint): the import fails with ENOSPC, every directory stays old,
// nothing is left staged, and the space the staged files took is free
// again.
func TestImportVolumeFullFileSystem(t *testing.T) {
	s := newVSource(t, 300<<10)
	env := s.export(t, envelope.None)
	fsDir := mountTmpfs(t, "size=1m")
	c := newVContainer(t, filepath.Join(fsDir, "V2"))
	free, inodes := statfsFree(t, fsDir)
	eater := filepath.Join(fsDir, "eater")
	var eatErr error
	done := false
	defer failpoint.Set(func(p string) {
		if p != "extract" || done {
			return
		}
		done = true
		eatErr = eat(eater)
	})()
	_, err := c.importEnv(context.Background(), bytes.NewReader(env), true)
	must(t, eatErr)
	if !done {
		t.Fatalf("the extract failpoint was never reached; import returned %v", err)
	}
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	t.Logf("%v", err)
	if !strings.Contains(err.Error(), envelope.VolumeTar(1)) {
		t.Errorf("error %q does not name %s", err, envelope.VolumeTar(1))
	}
	c.unchanged(t)
	must(t, os.Remove(eater))
	if free2, inodes2 := statfsFree(t, fsDir); free2 != free || inodes2 != inodes {
		t.Errorf("after the failed import %d bytes and %d inodes are free, before %d and %d: staged files were left", free2, inodes2, free, inodes)
	}
}

// eat makes the file p take all the free space of its file system.
func eat(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		return err
	}
	return unix.Fallocate(int(f.Fd()), 0, 0, int64(fs.Bavail)*fs.Bsize)
}

// An export whose trees are listed by their measuring passes writes the
// same envelope as one that walks each tree again (listMemory 0), and one
// whose budget runs out after the layer (the volumes walked again).
func TestExportListedOrWalked(t *testing.T) {
	s := newVSource(t, 1<<10)
	listed := s.export(t, envelope.None)
	defer func(n int) { listMemory = n }(listMemory)
	for _, budget := range []int{0, 2000} {
		listMemory = budget
		if walked := s.export(t, envelope.None); !bytes.Equal(walked, listed) {
			t.Fatalf("listMemory %d: the envelope differs from the listed export's", budget)
		}
	}
}
