package overlay_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// plainTree describes the tree buildVolume makes.
type plainTree struct {
	rootMode   uint32
	uid, gid   int
	whiteoutly bool // with a file named ".wh.x", which a layer refuses
	empty      bool // nothing but the root
}

// buildVolume makes a directory as a volume holds one: every kind of
// entry, a char 0:0 device that is no whiteout, a trusted.overlay.opaque
// that is no opaque marker, hard links (one of them to the device), a
// sparse file, and nanosecond mtimes, the root's own set last.
func buildVolume(t *testing.T, tree plainTree) *fx {
	t.Helper()
	f := newFx(t)
	requireXattr(t, f.root, "trusted.overlay.opaque")
	requireXattr(t, f.root, "user.volume")
	if !tree.empty {
		if tree.whiteoutly {
			f.file(".wh.x", 0o644, []byte("a file, not a whiteout\n"))
			f.times(".wh.x", atime, mt(1))
		}
		f.file("a", 0o644, []byte("hard\n"))
		f.chown("a", 1000, 1001)
		f.whiteout("c", 0o640)
		f.link("c", "c2")
		f.fifo("fifo", 0o600)
		f.symlink("lnk", "/etc/passwd")
		f.mknod("null", unix.S_IFCHR, 0o666, 1, 3)
		f.dir("opq", 0o755)
		f.xattr("opq", "trusted.overlay.opaque", "y")
		f.file("opq/f", 0o600, pattern(100))
		f.sparse("sparse", 8<<20, 0, 4<<20)
		f.dir("sub", 0o2775)
		f.link("a", "sub/b")
		for i, n := range []string{"a", "c", "fifo", "lnk", "null", "opq/f", "sparse", "sub", "opq"} {
			f.times(n, atime, mt(i+2))
		}
	}
	f.chown(".", tree.uid, tree.gid)
	f.chmod(".", tree.rootMode)
	f.xattr(".", "user.volume", "pgdata")
	f.times(".", atime, mt(0))
	return f
}

// sparse makes a file of size bytes with 64 KiB of data at each offset
// and holes elsewhere.
func (f *fx) sparse(rel string, size int64, offs ...int64) {
	f.t.Helper()
	file, err := os.Create(f.p(rel))
	f.check("create "+rel, err)
	defer file.Close()
	for _, off := range offs {
		_, err := file.WriteAt(pattern(64<<10), off)
		f.check("write "+rel, err)
	}
	f.check("truncate "+rel, file.Truncate(size))
}

// wantHdr is what one entry of a plain tree's tar must be.
type wantHdr struct {
	name string
	typ  byte
	link string
}

// The entries of buildVolume's tree, whiteoutly, in a plain tar and in a
// layer tar (where the tree must not be whiteoutly).
var (
	plainEntries = []wantHdr{
		{"./", tar.TypeDir, ""},
		{".wh.x", tar.TypeReg, ""},
		{"a", tar.TypeReg, ""},
		{"c", tar.TypeChar, ""},
		{"c2", tar.TypeLink, "c"},
		{"fifo", tar.TypeFifo, ""},
		{"lnk", tar.TypeSymlink, "/etc/passwd"},
		{"null", tar.TypeChar, ""},
		{"opq/", tar.TypeDir, ""},
		{"opq/f", tar.TypeReg, ""},
		{"sparse", tar.TypeReg, ""},
		{"sub/", tar.TypeDir, ""},
		{"sub/b", tar.TypeLink, "a"},
	}
	layerEntries = []wantHdr{
		{"a", tar.TypeReg, ""},
		{".wh.c", tar.TypeReg, ""},
		{".wh.c2", tar.TypeReg, ""},
		{"fifo", tar.TypeFifo, ""},
		{"lnk", tar.TypeSymlink, "/etc/passwd"},
		{"null", tar.TypeChar, ""},
		{"opq/", tar.TypeDir, ""},
		{"opq/.wh..wh..opq", tar.TypeReg, ""},
		{"opq/f", tar.TypeReg, ""},
		{"sparse", tar.TypeReg, ""},
		{"sub/", tar.TypeDir, ""},
		{"sub/b", tar.TypeLink, "a"},
	}
)

// TestPlainRoundTrip writes the same trees as plain trees and as layers:
// a plain tree goes through Measure, Write, Apply and Write again to the
// same bytes, with its root, devices, ".wh." names and overlay xattrs as
// they are; a layer converts them as it always has, or is refused.
func TestPlainRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for devices, owners and trusted.* xattrs")
	}
	for _, tc := range []struct {
		name  string
		tree  plainTree
		plain bool
		want  []wantHdr // nil: Write must fail with wantErr
		// wantErr is the error of Write and Measure.
		wantErr error
		stats   overlay.Stats
	}{
		{
			name: "plain, postgres root", plain: true,
			tree: plainTree{rootMode: 0o700, uid: 999, gid: 999, whiteoutly: true},
			want: plainEntries,
			stats: overlay.Stats{Entries: 13, Files: 4, Dirs: 3, Symlinks: 1, Hardlinks: 2, Devices: 2, Fifos: 1,
				Xattrs: 2, Bytes: 23 + 5 + 100 + 8<<20},
		},
		{
			name: "plain, setgid sticky root", plain: true,
			tree: plainTree{rootMode: 0o3775, uid: 0, gid: 50, whiteoutly: true},
			want: plainEntries,
			stats: overlay.Stats{Entries: 13, Files: 4, Dirs: 3, Symlinks: 1, Hardlinks: 2, Devices: 2, Fifos: 1,
				Xattrs: 2, Bytes: 23 + 5 + 100 + 8<<20},
		},
		{
			name: "plain, root alone", plain: true,
			tree:  plainTree{rootMode: 0o750, uid: 70, gid: 71, empty: true},
			want:  []wantHdr{{"./", tar.TypeDir, ""}},
			stats: overlay.Stats{Entries: 1, Dirs: 1, Xattrs: 1},
		},
		{
			name: "layer refuses the .wh. file",
			tree: plainTree{rootMode: 0o700, uid: 999, gid: 999, whiteoutly: true}, wantErr: overlay.ErrUnsupportedLayer,
		},
		{
			name: "layer converts devices and opaque dirs",
			tree: plainTree{rootMode: 0o700, uid: 999, gid: 999},
			want: layerEntries,
			stats: overlay.Stats{Entries: 12, Files: 3, Dirs: 2, Symlinks: 1, Hardlinks: 1, Whiteouts: 2, Opaques: 1,
				Devices: 1, Fifos: 1, Bytes: 5 + 100 + 8<<20},
		},
		{
			name: "layer of the root alone is empty",
			tree: plainTree{rootMode: 0o750, uid: 70, gid: 71, empty: true},
			want: []wantHdr{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := buildVolume(t, tc.tree)
			opts := overlay.Options{Plain: tc.plain}
			measured, err := overlay.Measure(ctx, f.root, opts)
			if tc.want == nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Measure: %v, want %v", err, tc.wantErr)
				}
				if _, err := overlay.Write(ctx, f.root, &bytes.Buffer{}, opts); !errors.Is(err, tc.wantErr) {
					t.Errorf("Write: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			out, plan := writeLayer(t, f.root, opts)
			if !plan.Same(measured) || plan.Size != int64(len(out)) {
				t.Errorf("Measure and Write disagree: %+v vs %+v (%d bytes)", measured, plan, len(out))
			}
			if plan.Stats != tc.stats {
				t.Errorf("stats\n got %+v\nwant %+v", plan.Stats, tc.stats)
			}
			hdrs, data := readLayer(t, out)
			checkEntries(t, hdrs, tc.want)
			if tc.plain {
				checkPlainHeaders(t, tc.tree, hdrs, data)
			}

			dst := t.TempDir()
			applied, err := overlay.Apply(ctx, dst, bytes.NewReader(out), opts)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if applied != plan.Stats {
				t.Errorf("Apply counted %+v, Write %+v", applied, plan.Stats)
			}
			again, err := overlay.Measure(ctx, dst, opts)
			if err != nil || !again.Same(plan) {
				t.Errorf("Measure of the applied tree: %+v, %v; want %+v", again, err, plan)
			}
			out2, _ := writeLayer(t, dst, opts)
			if sha256.Sum256(out2) != sha256.Sum256(out) {
				t.Errorf("Write of the applied tree differs: %d vs %d bytes", len(out2), len(out))
			}
			if tc.plain {
				checkPlainApplied(t, tc.tree, dst)
			}
		})
	}
}

func checkEntries(t *testing.T, hdrs []*tar.Header, want []wantHdr) {
	t.Helper()
	var got []wantHdr
	for _, h := range hdrs {
		got = append(got, wantHdr{h.Name, h.Typeflag, h.Linkname})
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries\n got %q\nwant %q", got, want)
	}
}

// checkPlainHeaders: the root entry carries the root, the device is a
// device, the ".wh." file a file with its contents, and the overlay
// attribute plain data; mtimes keep their nanoseconds.
func checkPlainHeaders(t *testing.T, tree plainTree, hdrs []*tar.Header, data map[string][]byte) {
	t.Helper()
	byName := map[string]*tar.Header{}
	for _, h := range hdrs {
		byName[h.Name] = h
	}
	root := byName["./"]
	if root.Mode != int64(tree.rootMode) || root.Uid != tree.uid || root.Gid != tree.gid || !root.ModTime.Equal(mt(0)) {
		t.Errorf("./: mode %o owner %d:%d mtime %v; want %o %d:%d %v", root.Mode, root.Uid, root.Gid, root.ModTime, tree.rootMode, tree.uid, tree.gid, mt(0))
	}
	if x := xattrsOf(root); x["user.volume"] != "pgdata" || len(x) != 1 {
		t.Errorf("./: xattrs %q", x)
	}
	if tree.empty {
		return
	}
	if c := byName["c"]; c.Devmajor != 0 || c.Devminor != 0 || c.Mode != 0o640 || !c.ModTime.Equal(mt(3)) {
		t.Errorf("c: %d:%d mode %o mtime %v", c.Devmajor, c.Devminor, c.Mode, c.ModTime)
	}
	if got := string(data[".wh.x"]); got != "a file, not a whiteout\n" || !byName[".wh.x"].ModTime.Equal(mt(1)) {
		t.Errorf(".wh.x: %q, mtime %v", got, byName[".wh.x"].ModTime)
	}
	if x := xattrsOf(byName["opq/"]); x["trusted.overlay.opaque"] != "y" || len(x) != 1 {
		t.Errorf("opq/: xattrs %q", x)
	}
	if l := byName["lnk"]; !l.ModTime.Equal(mt(5)) || l.ModTime.Nanosecond() == 0 {
		t.Errorf("lnk: mtime %v", l.ModTime)
	}
}

// checkPlainApplied looks at the applied tree on disk: the staging dir has
// the root's metadata, and nothing was turned into overlay metadata.
func checkPlainApplied(t *testing.T, tree plainTree, dst string) {
	t.Helper()
	st := lstat(t, dst)
	if st.Mode&07777 != tree.rootMode || int(st.Uid) != tree.uid || int(st.Gid) != tree.gid ||
		!time.Unix(st.Mtim.Unix()).Equal(mt(0)) {
		t.Errorf("staging root: mode %o owner %d:%d mtime %v", st.Mode&07777, st.Uid, st.Gid, time.Unix(st.Mtim.Unix()))
	}
	if v, err := getxattr(dst, "user.volume"); err != nil || v != "pgdata" {
		t.Errorf("staging root user.volume: %q, %v", v, err)
	}
	if tree.empty {
		return
	}
	if st := lstat(t, dst+"/c"); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || st.Nlink != 2 {
		t.Errorf("c: mode %o rdev %d nlink %d", st.Mode, st.Rdev, st.Nlink)
	}
	if st := lstat(t, dst+"/.wh.x"); st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf(".wh.x: mode %o", st.Mode)
	}
	if v, err := getxattr(dst+"/opq", "trusted.overlay.opaque"); err != nil || v != "y" {
		t.Errorf("opq trusted.overlay.opaque: %q, %v", v, err)
	}
	if _, err := os.Lstat(dst + "/opq/.wh..wh..opq"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opq/.wh..wh..opq: %v", err)
	}
	if st := lstat(t, dst+"/sparse"); st.Blocks*512 >= st.Size/2 {
		t.Errorf("sparse: %d bytes allocated of %d: its holes were written", st.Blocks*512, st.Size)
	}
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// A plain tree's tar is not a layer: applied as one, its root entry is
// skipped, with a warning, and gives the root nothing: a layer's root is
// the engine's.
func TestPlainTarIsNoLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for owners")
	}
	f := buildVolume(t, plainTree{rootMode: 0o700, uid: 999, gid: 999, empty: true})
	out, _ := writeLayer(t, f.root, overlay.Options{Plain: true})
	dir := t.TempDir()
	before := lstat(t, dir)
	var warned []string
	_, err := overlay.Apply(context.Background(), dir, bytes.NewReader(out), overlay.Options{Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatalf("layer Apply of a plain tar: %v", err)
	}
	if after := lstat(t, dir); after.Mode != before.Mode || after.Uid != before.Uid {
		t.Errorf("root became mode %o owner %d, was %o %d", after.Mode, after.Uid, before.Mode, before.Uid)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `"./" skipped: the root directory`) {
		t.Errorf("warnings %q, want one about the root entry", warned)
	}
}
