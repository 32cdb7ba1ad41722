package overlay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/overlay"
	"golang.org/x/sys/unix"
)

// listed measures root with a listing, which it must get.
func listed(t *testing.T, root string, opts overlay.Options) (overlay.Plan, *overlay.Listing) {
	t.Helper()
	plan, l, err := overlay.MeasureList(context.Background(), root, opts, 1<<20)
	if err != nil {
		t.Fatalf("MeasureList: %v", err)
	}
	if l == nil {
		t.Fatal("MeasureList kept no listing within 1 MiB")
	}
	return plan, l
}

// A write from a listing is the tar a second walk writes, byte for byte,
// and its plan is the measured one; without a writer it reads nothing and
// still gives the plan.
func TestWriteListedMatchesWrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) string
		opts  overlay.Options
	}{
		{"plain", func(t *testing.T) string { return buildPlain(t).root }, overlay.Options{}},
		{"rich", func(t *testing.T) string { r, _ := buildRich(t); return r }, overlay.Options{}},
		{"rich as a plain tree", func(t *testing.T) string { r, _ := buildRich(t); return r }, overlay.Options{Plain: true}},
		{"empty", func(t *testing.T) string { return t.TempDir() }, overlay.Options{}},
		{"nested and sibling dirs", buildNested, overlay.Options{}},
		{"more entries than a chunk of the listing", buildMany, overlay.Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.build(t)
			plan, l := listed(t, root, tc.opts)
			want, _ := writeLayer(t, root, tc.opts)
			var got bytes.Buffer
			p, err := overlay.WriteListed(ctx, l, &got, tc.opts)
			if err != nil {
				t.Fatalf("WriteListed: %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("WriteListed wrote %d bytes, Write %d: they differ", got.Len(), len(want))
			}
			if !p.Same(plan) {
				t.Fatalf("WriteListed's plan differs from the measured one")
			}
			if p, err = overlay.WriteListed(ctx, l, nil, tc.opts); err != nil || !p.Same(plan) {
				t.Fatalf("WriteListed without a writer: %v, same plan %v", err, p.Same(plan))
			}
		})
	}
}

// buildNested makes files at every level of nested and sibling
// directories, each with its own contents, small and past what the
// prefetcher reads whole: a replay must leave and enter directories in
// the walk's order and read each file from its own.
func buildNested(t *testing.T) string {
	f := newFx(t)
	for _, d := range []string{"a", "a/b", "a/b/c", "a/d", "e", "e/f", "e/f/g", "h"} {
		f.dir(d, 0o755)
	}
	for i, p := range []string{"0", "a/1", "a/b/2", "a/b/c/3", "a/b/c/4", "a/b/5", "a/d/6", "a/7", "e/f/g/8", "e/9", "h/10", "z"} {
		data := bytes.Repeat([]byte(p+" "), 1+i*i*i*20)
		f.file(p, 0o644, data)
	}
	return f.root
}

// buildMany makes 2,600 entries: the listing keeps them in chunks of
// 1,024.
func buildMany(t *testing.T) string {
	f := newFx(t)
	for d := range 4 {
		dir := string(rune('a' + d))
		f.dir(dir, 0o755)
		for i := range 649 {
			p := fmt.Sprintf("%s/%04d", dir, i)
			f.file(p, 0o644, []byte(p))
		}
	}
	return f.root
}

func TestMeasureListLimit(t *testing.T) {
	f := buildPlain(t)
	plan, l, err := overlay.MeasureList(context.Background(), f.root, overlay.Options{}, 300)
	if err != nil {
		t.Fatal(err)
	}
	if l != nil {
		t.Fatalf("a listing of %d bytes kept within a limit of 300", l.Bytes())
	}
	measured, err := overlay.Measure(context.Background(), f.root, overlay.Options{})
	if err != nil || !plan.Same(measured) {
		t.Fatalf("MeasureList's plan is not Measure's (%v)", err)
	}
}

// What changes between the measuring pass and a write from its listing
// fails the write: every directory and every file with contents is the
// inode it was, with the change time it had.
func TestWriteListedDetectsChanges(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "hosts"), []byte("secret outside the tree\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(f *fx)
	}{
		{"file mtime", func(f *fx) { f.times("etc/hosts", atime, mt(1).Add(1)) }},
		{"file mode", func(f *fx) { f.chmod("big", 0o600) }},
		{"file owner", func(f *fx) { f.chown("etc/hosts", 1, 1) }},
		{"file xattr", func(f *fx) { f.xattr("big", "user.new", "1") }},
		{"file rewritten, same size and mtime", func(f *fx) {
			f.check("write", os.WriteFile(f.p("etc/hosts"), []byte("127.0.0.2 localhost\n"), 0o644))
			f.times("etc/hosts", atime, mt(1))
		}},
		{"file shrinks", func(f *fx) { f.check("truncate", os.Truncate(f.p("big"), 10)) }},
		{"file removed", func(f *fx) { f.check("rm", os.Remove(f.p("big"))) }},
		{"file replaced by a fifo", func(f *fx) {
			f.check("rm", os.Remove(f.p("etc/hosts")))
			f.fifo("etc/hosts", 0o644)
		}},
		{"new file, dir mtime put back", func(f *fx) {
			f.file("etc/new", 0o644, nil)
			f.times("etc", atime, mt(3))
		}},
		{"new file at the root", func(f *fx) { f.file("new", 0o644, nil) }},
		{"dir mode", func(f *fx) { f.chmod("etc", 0o700) }},
		{"dir replaced by a symlink out", func(f *fx) {
			f.check("rename", os.Rename(f.p("etc"), f.p("etc.old")))
			f.symlink("etc", outside)
		}},
		{"dir replaced by a dir", func(f *fx) {
			f.check("rename", os.Rename(f.p("etc"), f.p("etc.old")))
			f.dir("etc", 0o755)
			f.file("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n"))
			f.times("etc/hosts", atime, mt(1))
			f.times("etc", atime, mt(3))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := buildPlain(t)
			_, l := listed(t, f.root, overlay.Options{})
			tc.change(f)
			var out bytes.Buffer
			_, err := overlay.WriteListed(context.Background(), l, &out, overlay.Options{})
			if !errors.Is(err, overlay.ErrChanged) {
				t.Fatalf("WriteListed = %v, want ErrChanged", err)
			}
			if strings.Contains(out.String(), "secret outside") {
				t.Fatal("WriteListed read a file outside the tree")
			}
		})
	}
}

// Entries without contents are not looked at again: a change of their
// metadata alone, in place, is not seen (documented on WriteListed).
func TestWriteListedEntriesWithoutContents(t *testing.T) {
	f := buildPlain(t)
	f.file("empty", 0o644, nil)
	_, l := listed(t, f.root, overlay.Options{})
	if err := unix.Fchmodat(unix.AT_FDCWD, f.p("empty"), 0o600, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := overlay.WriteListed(context.Background(), l, &bytes.Buffer{}, overlay.Options{}); err != nil {
		t.Fatalf("WriteListed: %v", err)
	}
}

// failAfter fails every write once n bytes went through.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A write that fails or is canceled half way stops the prefetcher and
// leaves no descriptor open.
func TestWriteListedStopsCleanly(t *testing.T) {
	root := buildNested(t)
	_, l := listed(t, root, overlay.Options{})
	before := openFds(t)
	for _, n := range []int{0, 3000, 20000, 100000} {
		if _, err := overlay.WriteListed(context.Background(), l, &failAfter{n: n}, overlay.Options{}); err == nil {
			t.Fatalf("WriteListed into a writer failing after %d bytes succeeded", n)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := overlay.WriteListed(ctx, l, &bytes.Buffer{}, overlay.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteListed canceled: %v", err)
	}
	if after := openFds(t); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}

// cancelOnWrite cancels a context at its first write, as an interrupt
// while an export is blocked on its output does.
type cancelOnWrite struct {
	bytes.Buffer
	cancel func()
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return c.Buffer.Write(p)
}

// Canceled while it writes, a write from a listing stops at the next
// entry, however few the entries.
func TestWriteListedCanceledMidway(t *testing.T) {
	f := buildPlain(t)
	_, l := listed(t, f.root, overlay.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := overlay.WriteListed(ctx, l, &cancelOnWrite{cancel: cancel}, overlay.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteListed canceled while writing: %v, want context.Canceled", err)
	}
}
