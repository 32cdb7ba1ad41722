package transfer

// Tests of Import, the engine-free core of layer-import, against a
// temp "layer dir" L that stands for Docker's overlay2/<id>/ and holds the
// upper dir L/diff. Whatever goes wrong, the upper dir must stay byte for
// byte as it was and nothing may be left beside it.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for devices, owners and trusted.* xattrs")
	}
}

// fillUpper gives dir a small upper dir: a file with an owner and an xattr,
// a subdir, a whiteout (char 0:0), an opaque dir, and a fixed root mtime.
func fillUpper(t *testing.T, dir, variant string) {
	t.Helper()
	p := func(name string) string { return filepath.Join(dir, name) }
	must(t, os.MkdirAll(p("etc/sub"), 0o755))
	must(t, os.WriteFile(p("etc/conf"), []byte("conf of "+variant+"\n"), 0o644))
	must(t, os.Chown(p("etc/conf"), 1000, 1001))
	must(t, unix.Setxattr(p("etc/conf"), "user.note", []byte(variant), 0))
	must(t, os.WriteFile(p("etc/sub/"+variant), []byte(variant), 0o600))
	must(t, unix.Mknod(p("gone"), unix.S_IFCHR, 0))
	must(t, os.Mkdir(p("opq"), 0o755))
	if err := unix.Setxattr(p("opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	stamp := time.Date(2023, 5, 6, 7, 8, 9, 123456789, time.UTC)
	must(t, os.Chtimes(dir, stamp, stamp))
}

// fillSource makes the tree an envelope is exported from: every kind of
// entry, and a 200 KiB file so that layer.tar is well past 64 KiB (the
// "extract" failpoint) and has a middle inside file data.
func fillSource(t *testing.T, dir string) {
	t.Helper()
	p := func(name string) string { return filepath.Join(dir, name) }
	must(t, os.WriteFile(p("a.txt"), []byte("first file\n"), 0o644))
	must(t, os.WriteFile(p("big"), bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16), 0o640))
	must(t, unix.Setxattr(p("big"), "user.big", []byte("x\x00y"), 0))
	must(t, os.MkdirAll(p("usr/local/bin"), 0o755))
	must(t, os.WriteFile(p("usr/local/bin/tool"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Chmod(p("usr/local/bin/tool"), 0o755|os.ModeSetuid))
	must(t, os.Link(p("usr/local/bin/tool"), p("usr/local/bin/tool2")))
	must(t, os.Symlink("/usr/local/bin/tool", p("usr/tool")))
	must(t, os.Chown(p("usr/local"), 33, 33))
	must(t, unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Mkfifo(p("fifo"), 0o600))
	must(t, unix.Mknod(p("deleted"), unix.S_IFCHR, 0))
	must(t, os.Mkdir(p("var"), 0o1777))
	if err := unix.Setxattr(p("var"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	must(t, os.WriteFile(p("var/log"), nil, 0o600))
}

// dirState is a byte-exact picture of a dir: the digest of its canonical
// layer tar and the root dir's own metadata, which the layer does not carry.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(dir, &st))
	return fmt.Sprintf("layer=%s mode=%o owner=%d:%d mtime=%d.%09d", layerDigest(t, dir), st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
}

// layerDigest is the digest of the canonical layer tar of dir.
func layerDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	if _, err := overlay.Write(context.Background(), dir, h, overlay.Options{}); err != nil {
		t.Fatalf("layer of %s: %v", dir, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func namesIn(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(dir)
	must(t, err)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	must(t, err)
	slices.Sort(names)
	return names
}

// layout is a layer dir L with its upper dir, locked.
type layout struct {
	l, upper string
	tg       *overlay.Target
	state    string   // dirState of the upper dir as made
	names    []string // names in L as made
}

// newLayout fills an upper dir in l (a fresh temp dir if l is "") and opens
// the target.
func newLayout(t *testing.T, l string) *layout {
	t.Helper()
	needRoot(t)
	if l == "" {
		l = t.TempDir()
	}
	lo := &layout{l: l, upper: filepath.Join(l, "diff")}
	must(t, os.Mkdir(lo.upper, 0o755))
	fillUpper(t, lo.upper, "old")
	lo.state = dirState(t, lo.upper)
	lo.names = namesIn(t, l)
	tg, err := overlay.OpenTarget(lo.upper)
	must(t, err)
	lo.tg = tg
	t.Cleanup(func() { lo.tg.Close() })
	return lo
}

// unchanged fails unless the upper dir is as made and nothing (staging dir,
// journal, backup) was left beside it.
func (lo *layout) unchanged(t *testing.T) {
	t.Helper()
	if got := dirState(t, lo.upper); got != lo.state {
		t.Errorf("upper dir changed:\n got %s\nwant %s", got, lo.state)
	}
	if got := namesIn(t, lo.l); !slices.Equal(got, lo.names) {
		t.Errorf("layer dir holds %q, want %q", got, lo.names)
	}
}

// reopen simulates the next run after a kill: the lock is dropped and the
// target opened again.
func (lo *layout) reopen(t *testing.T) {
	t.Helper()
	must(t, lo.tg.Close())
	tg, err := overlay.OpenTarget(lo.upper)
	must(t, err)
	lo.tg = tg
}

func okGate(context.Context, *envelope.Meta) error { return nil }

func testMeta(size, entries int64) envelope.Meta {
	return envelope.Meta{
		Format:  envelope.Format,
		Created: time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC),
		Container: envelope.Container{
			ID:            "x",
			ImageID:       "sha256:" + strings.Repeat("b", 64),
			ImageLayers:   []string{"sha256:aa"},
			StorageDriver: "overlay2",
		},
		Host:  envelope.Host{OS: "linux", Arch: "amd64"},
		Layer: envelope.Layer{Size: size, Entries: entries},
	}
}

// envelopeOf builds an envelope in memory around the layer write produces.
func envelopeOf(t *testing.T, size, entries int64, write func(context.Context, io.Writer) error, c envelope.Compression) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := envelope.Write(context.Background(), &buf, envelope.Contents{
		Meta:       testMeta(size, entries),
		Container:  []byte(`{"Id":"x"}`),
		Info:       []byte(`{"Driver":"overlay2"}`),
		WriteLayer: write,
	}, envelope.WriteOptions{Compression: c})
	must(t, err)
	return buf.Bytes()
}

// buildEnvelope builds an envelope of the canonical layer of src and
// returns it with that layer's digest.
func buildEnvelope(t *testing.T, src string, c envelope.Compression) (env []byte, digest string) {
	t.Helper()
	plan, err := overlay.Measure(context.Background(), src, overlay.Options{})
	must(t, err)
	env = envelopeOf(t, plan.Size, plan.Stats.Entries, func(ctx context.Context, w io.Writer) error {
		_, err := overlay.Write(ctx, src, w, overlay.Options{})
		return err
	}, c)
	return env, layerDigest(t, src)
}

// rawEnvelope builds an envelope around a layer tar given as bytes.
func rawEnvelope(t *testing.T, layer []byte, entries int64) []byte {
	t.Helper()
	return envelopeOf(t, int64(len(layer)), entries, func(_ context.Context, w io.Writer) error {
		_, err := w.Write(layer)
		return err
	}, envelope.None)
}

var sourceEnvelope = map[envelope.Compression]struct {
	env    []byte
	digest string
}{}

// sourceEnv returns the envelope of a fillSource tree, built once.
func sourceEnv(t *testing.T, c envelope.Compression) ([]byte, string) {
	t.Helper()
	needRoot(t)
	if e, ok := sourceEnvelope[c]; ok {
		return e.env, e.digest
	}
	src := t.TempDir()
	fillSource(t, src)
	env, digest := buildEnvelope(t, src, c)
	sourceEnvelope[c] = struct {
		env    []byte
		digest string
	}{env, digest}
	return env, digest
}

func replace(ctx context.Context, lo *layout, env io.Reader, keep bool) (Imported, error) {
	return Import(ctx, lo.tg, env, ImportOptions{Gate: okGate, Keep: keep})
}

func TestReplaceLayer(t *testing.T) {
	for _, c := range []envelope.Compression{envelope.None, envelope.Gzip, envelope.Zstd} {
		for _, keep := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/keep=%v", c, keep), func(t *testing.T) {
				env, digest := sourceEnv(t, c)
				lo := newLayout(t, "")
				var seen *envelope.Meta
				gate := func(_ context.Context, m *envelope.Meta) error {
					seen = m
					return nil
				}
				res, err := Import(context.Background(), lo.tg, bytes.NewReader(env), ImportOptions{Gate: gate, Keep: keep})
				must(t, err)
				if seen == nil || seen.Container.ID != "x" || seen.Container.StorageDriver != "overlay2" {
					t.Errorf("gate saw %+v", seen)
				}
				if res.Digest != digest {
					t.Errorf("imported digest %s, want %s", res.Digest, digest)
				}
				if got := layerDigest(t, lo.upper); got != digest {
					t.Errorf("new upper's layer is %s, want the source's %s", got, digest)
				}
				if res.Entries != seen.Layer.Entries || res.Entries == 0 {
					t.Errorf("imported %d entries, envelope says %d", res.Entries, seen.Layer.Entries)
				}
				// The new upper dir's root keeps the old one's owner, mode
				// and mtime.
				var oldRoot, newRoot unix.Stat_t
				must(t, unix.Lstat(lo.upper, &newRoot))
				names := namesIn(t, lo.l)
				if !keep {
					if res.Backup != "" {
						t.Errorf("backup %q without keep", res.Backup)
					}
					if !slices.Equal(names, []string{"diff"}) {
						t.Errorf("layer dir holds %q, want just diff", names)
					}
					return
				}
				if filepath.Dir(res.Backup) != lo.l || !strings.HasPrefix(filepath.Base(res.Backup), "diff.layer-tool-backup.") {
					t.Fatalf("backup %q is not a backup name in %s", res.Backup, lo.l)
				}
				if got := dirState(t, res.Backup); got != lo.state {
					t.Errorf("backup:\n got %s\nwant the old upper %s", got, lo.state)
				}
				if want := []string{"diff", filepath.Base(res.Backup)}; !slices.Equal(names, want) {
					t.Errorf("layer dir holds %q, want %q", names, want)
				}
				must(t, unix.Lstat(res.Backup, &oldRoot))
				if oldRoot.Mode != newRoot.Mode || oldRoot.Uid != newRoot.Uid || oldRoot.Gid != newRoot.Gid || oldRoot.Mtim != newRoot.Mtim {
					t.Errorf("new upper root %o %d:%d %v, old %o %d:%d %v", newRoot.Mode, newRoot.Uid, newRoot.Gid, newRoot.Mtim, oldRoot.Mode, oldRoot.Uid, oldRoot.Gid, oldRoot.Mtim)
				}
			})
		}
	}
}

func TestReplaceLayerGate(t *testing.T) {
	env, _ := sourceEnv(t, envelope.Zstd)
	lo := newLayout(t, "")
	var before unix.Stat_t
	must(t, unix.Stat(lo.l, &before))
	refused := errors.New("refused by the gate")
	gate := func(context.Context, *envelope.Meta) error { return refused }
	_, err := Import(context.Background(), lo.tg, bytes.NewReader(env), ImportOptions{Gate: gate, Keep: true})
	if !errors.Is(err, refused) {
		t.Fatalf("error %v, want the gate's", err)
	}
	lo.unchanged(t)
	// No staging dir was ever made: L itself was not written to.
	var after unix.Stat_t
	must(t, unix.Stat(lo.l, &after))
	if after.Mtim != before.Mtim || after.Ctim != before.Ctim {
		t.Errorf("layer dir was written to before the gate refused")
	}
}

// memberSpans locates the data of every member in an uncompressed envelope.
func memberSpans(t *testing.T, env []byte) map[string][2]int64 {
	t.Helper()
	cr := &countReader{r: bytes.NewReader(env)}
	tr := tar.NewReader(cr)
	spans := map[string][2]int64{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		spans[hdr.Name] = [2]int64{cr.n.Load(), hdr.Size}
	}
	if len(spans) != len(envelope.Members) {
		t.Fatalf("envelope has members %v", spans)
	}
	return spans
}

// countReader counts the bytes read through it. The count is atomic: a
// reader handed to Import may still be read after it returned (see
// TestReplaceLayerReleasesInput).
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestReplaceLayerCorruptMember(t *testing.T) {
	env, _ := sourceEnv(t, envelope.None)
	spans := memberSpans(t, env)
	for _, member := range envelope.Members {
		span := spans[member]
		for _, where := range []struct {
			name string
			off  int64
		}{{"first", span[0]}, {"middle", span[0] + span[1]/2}, {"last", span[0] + span[1] - 1}} {
			t.Run(member+"/"+where.name, func(t *testing.T) {
				bad := slices.Clone(env)
				bad[where.off] ^= 0x01
				lo := newLayout(t, "")
				_, err := replace(context.Background(), lo, bytes.NewReader(bad), true)
				if err == nil {
					t.Fatalf("a flipped byte at %d in %s was imported", where.off, member)
				}
				t.Logf("%v", err)
				lo.unchanged(t)
			})
		}
	}
}

func TestReplaceLayerTruncated(t *testing.T) {
	for _, c := range []envelope.Compression{envelope.None, envelope.Gzip, envelope.Zstd} {
		env, _ := sourceEnv(t, c)
		middle := int64(len(env) / 2)
		if c == envelope.None {
			span := memberSpans(t, env)[envelope.MemberLayer]
			middle = span[0] + span[1]/2
		}
		for _, n := range []int64{0, 10, 600, middle, int64(len(env)) - 100, int64(len(env)) - 1} {
			t.Run(fmt.Sprintf("%s/%d", c, n), func(t *testing.T) {
				lo := newLayout(t, "")
				_, err := replace(context.Background(), lo, bytes.NewReader(env[:n]), true)
				if err == nil {
					t.Fatalf("an envelope cut to %d of %d bytes was imported", n, len(env))
				}
				t.Logf("%v", err)
				lo.unchanged(t)
			})
		}
	}
}

// handLayer is a layer tar written by archive/tar directly: canonical when
// it is written as overlay.Write would, unless spoil changes the headers.
func handLayer(t *testing.T, spoil func(*tar.Header), trailer int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755, ModTime: mtime},
		{Typeflag: tar.TypeReg, Name: "etc/motd", Mode: 0o644, Size: 6, ModTime: mtime, Uid: 7, Gid: 8},
	} {
		h.Format = tar.FormatPAX
		if spoil != nil {
			spoil(h)
		}
		must(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte("hello\n"))
			must(t, err)
		}
	}
	must(t, tw.Close())
	buf.Write(make([]byte, trailer))
	return buf.Bytes()
}

// A valid layer in another form than layer-export's imports, and the
// import reports the digest of the layer it read; a re-export of the
// upper dir is canonical again, so its digest is another.
func TestReplaceLayerNotCanonical(t *testing.T) {
	t.Run("control", func(t *testing.T) {
		layer := handLayer(t, nil, 0)
		lo := newLayout(t, "")
		res, err := replace(context.Background(), lo, bytes.NewReader(rawEnvelope(t, layer, 2)), true)
		must(t, err)
		sum := sha256.Sum256(layer)
		if want := "sha256:" + hex.EncodeToString(sum[:]); res.Digest != want || layerDigest(t, lo.upper) != want {
			t.Errorf("hand-made canonical layer imported as %s (upper %s), want %s", res.Digest, layerDigest(t, lo.upper), want)
		}
	})
	control := layerDigest(t, func() string {
		lo := newLayout(t, "")
		_, err := replace(context.Background(), lo, bytes.NewReader(rawEnvelope(t, handLayer(t, nil, 0), 2)), true)
		must(t, err)
		return lo.upper
	}())
	for name, layer := range map[string]func(t *testing.T) []byte{
		"uname": func(t *testing.T) []byte {
			return handLayer(t, func(h *tar.Header) { h.Uname, h.Gname = "root", "root" }, 0)
		},
		"gnu format": func(t *testing.T) []byte {
			return handLayer(t, func(h *tar.Header) { h.Format = tar.FormatGNU }, 0)
		},
		"atime": func(t *testing.T) []byte {
			return handLayer(t, func(h *tar.Header) { h.AccessTime = time.Unix(1600000000, 5) }, 0)
		},
		"record padding": func(t *testing.T) []byte {
			// GNU tar pads to 10 KiB records.
			return handLayer(t, nil, 8<<10)
		},
	} {
		t.Run(name, func(t *testing.T) {
			lo := newLayout(t, "")
			data := layer(t)
			res, err := replace(context.Background(), lo, bytes.NewReader(rawEnvelope(t, data, 2)), true)
			must(t, err)
			sum := sha256.Sum256(data)
			if want := "sha256:" + hex.EncodeToString(sum[:]); res.Digest != want {
				t.Errorf("imported as %s, the layer read is %s", res.Digest, want)
			}
			if got := layerDigest(t, lo.upper); got != control {
				t.Errorf("re-export %s, want the canonical %s", got, control)
			}
		})
	}
	// envelope.json must count the layer's two entries right: fewer stop
	// Apply at the first entry too many, more fail the verification.
	for declared, want := range map[int64]error{0: overlay.ErrLimit, 1: overlay.ErrLimit, 3: envelope.ErrStructure} {
		t.Run(fmt.Sprintf("entries=%d", declared), func(t *testing.T) {
			lo := newLayout(t, "")
			_, err := replace(context.Background(), lo, bytes.NewReader(rawEnvelope(t, handLayer(t, nil, 0), declared)), true)
			if !errors.Is(err, want) {
				t.Fatalf("error %v, want %v", err, want)
			}
			t.Logf("%v", err)
			lo.unchanged(t)
		})
	}
}

// The staged dir is changed behind Apply's back (through the "extract"
// failpoint, once 64 KiB of layer.tar have been read): a name no entry
// made fails the count at the end. (What Apply wrote is proved through
// its own descriptors as it lands; the staging dir is root's, 0700.)
func TestReplaceLayerTamperedStaging(t *testing.T) {
	env, _ := sourceEnv(t, envelope.None)
	for name, tamper := range map[string]func(string) error{
		"stray file": func(staged string) error {
			return os.WriteFile(filepath.Join(staged, "stray"), nil, 0o600)
		},
		"stray directory": func(staged string) error {
			return os.Mkdir(filepath.Join(staged, "stray"), 0o700)
		},
	} {
		t.Run(name, func(t *testing.T) {
			lo := newLayout(t, "")
			var tamperErr error
			done := false
			defer failpoint.Set(func(point string) {
				if point != "extract" || done {
					return
				}
				done = true
				for _, n := range namesIn(t, lo.l) {
					if strings.HasPrefix(n, "diff.layer-tool-staging.") {
						tamperErr = tamper(filepath.Join(lo.l, n))
						return
					}
				}
				tamperErr = errors.New("no staging dir")
			})()
			_, err := replace(context.Background(), lo, bytes.NewReader(env), true)
			must(t, tamperErr)
			if !done {
				t.Fatal("the extract failpoint was never reached")
			}
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("error %v, want ErrVerify", err)
			}
			t.Logf("%v", err)
			lo.unchanged(t)
		})
	}
}

// A failure after verification (the upper dir gone when the root's
// attributes are copied, or when it is exchanged) removes the staging dir
// and the journal; the upper dir, once put back, is as it was.
func TestReplaceLayerSwapFails(t *testing.T) {
	env, _ := sourceEnv(t, envelope.None)
	for _, point := range []string{"extract", "exchange"} {
		t.Run(point, func(t *testing.T) {
			lo := newLayout(t, "")
			moved := lo.upper + ".moved"
			done := false
			defer failpoint.Set(func(p string) {
				if p == point && !done {
					done = true
					must(t, os.Rename(lo.upper, moved))
				}
			})()
			_, err := replace(context.Background(), lo, bytes.NewReader(env), true)
			if err == nil {
				t.Fatal("import without an upper dir succeeded")
			}
			t.Logf("%v", err)
			if got, want := namesIn(t, lo.l), []string{"diff.moved"}; !slices.Equal(got, want) {
				t.Errorf("layer dir holds %q, want %q", got, want)
			}
			must(t, os.Rename(moved, lo.upper))
			lo.unchanged(t)
		})
	}
}

// mountTmpfs mounts a tmpfs with the given options on a temp dir.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

func statfsFree(t *testing.T, dir string) (freeBytes int64, freeInodes uint64) {
	t.Helper()
	var fs unix.Statfs_t
	must(t, unix.Statfs(dir, &fs))
	return int64(fs.Bavail) * fs.Bsize, fs.Ffree
}

// The layer passes the free-space check (its size plus a block per entry
// fits, and an inode per entry), yet the file system fills up half way:
// tmpfs charges extended attributes to its inode space (Linux 6.6 on), so
// 40 files with a 3000-byte xattr each need the room of some 160 inodes
// (ext4, where the source is, holds xattrs of up to a block only). The
// import fails with ENOSPC and leaves nothing behind.
func TestImportFullFileSystem(t *testing.T) {
	lo := newLayout(t, mountTmpfs(t, "size=1m,nr_inodes=100"))
	src := t.TempDir()
	for i := range 40 {
		name := filepath.Join(src, fmt.Sprintf("f%02d", i))
		must(t, os.WriteFile(name, []byte("data"), 0o644))
		must(t, unix.Setxattr(name, "user.blob", bytes.Repeat([]byte{'a' + byte(i)}, 3000), 0))
	}
	env, _ := buildEnvelope(t, src, envelope.Gzip)
	plan, err := overlay.Measure(context.Background(), src, overlay.Options{})
	must(t, err)
	free, inodes := statfsFree(t, lo.l)
	if need := plan.Size + plan.Stats.Entries*4096; need >= free || uint64(plan.Stats.Entries) >= inodes {
		t.Fatalf("layer (%d bytes, %d entries) does not pass the free-space check (%d bytes, %d inodes free)", plan.Size, plan.Stats.Entries, free, inodes)
	}
	_, err = replace(context.Background(), lo, bytes.NewReader(env), true)
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "no space") {
		if strings.Contains(err.Error(), "user.blob") && errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("no user xattrs on tmpfs: %v", err)
		}
		t.Fatalf("error %v, want ENOSPC", err)
	}
	t.Logf("%v", err)
	lo.unchanged(t)
	if free2, inodes2 := statfsFree(t, lo.l); free2 != free || inodes2 != inodes {
		t.Errorf("after the failed import %d bytes and %d inodes are free, before %d and %d: the staged files were not all removed", free2, inodes2, free, inodes)
	}
}

// A layer that declares more than the free space holds is refused from
// envelope.json, before layer.tar is read: by its size, by its size plus a
// block per entry, or by its entries against the free inodes.
func TestImportNoSpace(t *testing.T) {
	for _, tc := range []struct {
		name, opts string
		fill       func(t *testing.T, src string)
	}{
		{"size", "size=1m", func(t *testing.T, src string) {
			must(t, os.WriteFile(filepath.Join(src, "huge"), make([]byte, 2<<20), 0o644))
		}},
		// 400 files of 100 bytes: a 400 KiB tar, but 1.6 MiB on tmpfs.
		{"blocks", "size=1m", func(t *testing.T, src string) {
			for i := range 400 {
				must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte{byte(i)}, 100), 0o644))
			}
		}},
		{"inodes", "size=1m,nr_inodes=50", func(t *testing.T, src string) {
			for i := range 60 {
				must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), nil, 0o644))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo := newLayout(t, mountTmpfs(t, tc.opts))
			src := t.TempDir()
			tc.fill(t, src)
			env, _ := buildEnvelope(t, src, envelope.None)
			cr := &countReader{r: bytes.NewReader(env)}
			_, err := replace(context.Background(), lo, cr, true)
			if !errors.Is(err, ErrNoSpace) {
				t.Fatalf("error %v, want ErrNoSpace", err)
			}
			t.Logf("%v", err)
			if n := cr.n.Load(); n > 128<<10 && n > int64(len(env))/2 {
				t.Errorf("read %d of %d bytes before refusing", n, len(env))
			}
			lo.unchanged(t)
		})
	}
}

// An entry count so large that a block per entry overflows int64 must not
// defeat the free-space check. Where the file system counts inodes the
// inode check catches it; tmpfs with nr_inodes=0 (like btrfs) reports none.
// Each entry takes at least a 512-byte header, so a layer of Size bytes
// cannot have more than Size/512 entries.
func TestImportNoSpaceOverflowingEntries(t *testing.T) {
	lo := newLayout(t, mountTmpfs(t, "size=1m,nr_inodes=0"))
	if _, inodes := statfsFree(t, lo.l); inodes != 0 {
		t.Skip("this tmpfs counts inodes")
	}
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "huge"), make([]byte, 2<<20), 0o644))
	plan, err := overlay.Measure(context.Background(), src, overlay.Options{})
	must(t, err)
	env := envelopeOf(t, plan.Size, 1<<51, func(ctx context.Context, w io.Writer) error {
		_, err := overlay.Write(ctx, src, w, overlay.Options{})
		return err
	}, envelope.None)
	cr := &countReader{r: bytes.NewReader(env)}
	_, err = replace(context.Background(), lo, cr, true)
	if err == nil {
		t.Fatal("imported")
	}
	t.Logf("%v", err)
	if !errors.Is(err, ErrNoSpace) && !errors.Is(err, envelope.ErrStructure) {
		t.Errorf("error %v, want ErrNoSpace or ErrStructure from envelope.json", err)
	}
	if n := cr.n.Load(); n > 128<<10 {
		t.Errorf("read %d of %d bytes before refusing: layer.tar was extracted", n, len(env))
	}
	lo.unchanged(t)
}

// cancelAfter cancels a context once n bytes have been read, and serves at
// most 512 bytes a read so that the cancel lands near n.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if len(p) > 512 {
		p = p[:512]
	}
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestReplaceLayerCanceled(t *testing.T) {
	env, _ := sourceEnv(t, envelope.None)
	span := memberSpans(t, env)[envelope.MemberLayer]
	for _, n := range []int64{1, 600, span[0] + 1024, span[0] + span[1]/2, span[0] + span[1], int64(len(env))} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			lo := newLayout(t, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := replace(ctx, lo, &cancelAfter{r: bytes.NewReader(env), n: n, cancel: cancel}, true)
			if err == nil {
				t.Fatalf("import canceled after %d of %d bytes succeeded", n, len(env))
			}
			t.Logf("%v", err)
			if n < int64(len(env)) && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v is not context.Canceled", err)
			}
			lo.unchanged(t)
		})
	}
}

// tarSplitGoroutines counts the goroutines tar-split runs to record a
// layer as it streams past.
func tarSplitGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "asm.runInputTarStreamGoroutine(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// When the import fails in the middle of layer.tar, nothing may go on
// reading the caller's input after Import returned: the goroutine
// tar-split started for the layer must end.
func TestReplaceLayerReleasesInput(t *testing.T) {
	env, _ := sourceEnv(t, envelope.None)
	span := memberSpans(t, env)[envelope.MemberLayer]
	lo := newLayout(t, "")
	before := tarSplitGoroutines()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := replace(ctx, lo, &cancelAfter{r: bytes.NewReader(env), n: span[0] + span[1]/2, cancel: cancel}, true)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	lo.unchanged(t)
	for deadline := time.Now().Add(time.Second); tarSplitGoroutines() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Import returned, but the tar-split goroutine of envelope.Extract still holds the input (%d such goroutines, %d before)", tarSplitGoroutines(), before)
		}
	}
}

// killed is what a simulated kill panics with.
type killed struct{ point string }

// A run killed at each failpoint (a panic stands for SIGKILL: the deferred
// cleanups see no error and do nothing) leaves a state the next OpenTarget
// mends: before the exchange the old upper dir, after it the new one.
func TestReplaceLayerKilled(t *testing.T) {
	env, digest := sourceEnv(t, envelope.Zstd)
	for _, point := range []string{"extract", "exchange", "exchanged"} {
		for _, keep := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/keep=%v", point, keep), func(t *testing.T) {
				lo := newLayout(t, "")
				defer failpoint.Set(func(p string) {
					if p == point {
						panic(killed{p})
					}
				})()
				func() {
					defer func() {
						if r := recover(); r != nil && r != (killed{point}) {
							panic(r)
						}
					}()
					_, err := replace(context.Background(), lo, bytes.NewReader(env), keep)
					t.Fatalf("not killed at %s; returned %v", point, err)
				}()
				lo.reopen(t)
				if len(lo.tg.Recovered) == 0 {
					t.Error("nothing recovered")
				}
				if point != "exchanged" {
					lo.unchanged(t)
					return
				}
				if got := layerDigest(t, lo.upper); got != digest {
					t.Errorf("upper after recovery is %s, want the new %s", got, digest)
				}
				bs, err := lo.tg.Backups()
				must(t, err)
				want := []string{"diff"}
				if keep {
					if len(bs) != 1 {
						t.Fatalf("backups %v, want one", bs)
					}
					if got := dirState(t, bs[0].Path); got != lo.state {
						t.Errorf("backup:\n got %s\nwant the old upper %s", got, lo.state)
					}
					want = append(want, filepath.Base(bs[0].Path))
				}
				if got := namesIn(t, lo.l); !slices.Equal(got, want) {
					t.Errorf("layer dir holds %q, want %q", got, want)
				}
			})
		}
	}
}

// --expect takes the envelope's root, which survives recompression, and
// the sha256 of the stream, which earlier versions printed; any other
// digest is refused before the swap.
func TestReplaceLayerExpect(t *testing.T) {
	plain, _ := sourceEnv(t, envelope.None)
	rep, err := envelope.Verify(context.Background(), bytes.NewReader(plain))
	must(t, err)
	root := rep.Root
	// The same envelope compressed afterwards, as `zstd` would.
	zst := hxZstd(t, plain)
	streamOf := func(b []byte) string { sum := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(sum[:]) }
	for _, tc := range []struct {
		name   string
		env    []byte
		expect string
		ok     bool
	}{
		{"root", plain, root, true},
		{"root of the plain envelope, zstd", zst, root, true},
		{"stream digest", zst, streamOf(zst), true},
		{"another stream's digest", zst, streamOf(plain), false},
		{"zeros", plain, "sha256:" + strings.Repeat("0", 64), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo := newLayout(t, "")
			_, err := Import(context.Background(), lo.tg, bytes.NewReader(tc.env), ImportOptions{Gate: okGate, Keep: true, Expect: tc.expect})
			if tc.ok {
				must(t, err)
				return
			}
			if !errors.Is(err, envelope.ErrExpect) {
				t.Fatalf("error %v, want ErrExpect", err)
			}
			lo.unchanged(t)
		})
	}
}
