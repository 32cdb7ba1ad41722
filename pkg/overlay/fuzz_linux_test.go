package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tarOf builds a layer tar from headers; regular files get size bytes of 'x'.
func tarOf(tb testing.TB, hdrs ...*tar.Header) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		h.Format = tar.FormatPAX
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 5)
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// FuzzApply extracts arbitrary tars, as layers and as plain trees, into a
// staging dir beside a victim file: whatever the input, nothing outside
// the staging dir may change.
func FuzzApply(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root: Apply makes devices and sets owners")
	}
	// Every seed in both modes.
	add := func(data []byte) { f.Add(data, false); f.Add(data, true) }
	dir := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755} }
	reg := func(n string, size int64) *tar.Header {
		return &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
	}
	add(tarOf(f, dir("a/"), reg("a/f", 3), &tar.Header{Name: "a/l", Typeflag: tar.TypeLink, Linkname: "a/f"}))
	add(tarOf(f, &tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: ".."}, reg("up/victim", 1)))
	add(tarOf(f, &tar.Header{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/"}, &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "abs/victim"}))
	add(tarOf(f, reg("../victim", 1)))
	add(tarOf(f, dir("d/"), reg("d/.wh..wh..opq", 0), reg("d/.wh.x", 0), &tar.Header{Name: "d/c", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}))
	add(tarOf(f, &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."}, dir("l/")))
	// And every case of the breakout table.
	for _, class := range breakoutClasses(f) {
		for _, c := range class.cases {
			if len(c.tar) <= 1<<20 {
				add(c.tar)
			}
		}
	}
	// And the root entries of plain trees.
	for _, c := range boPlainRootCases(f) {
		f.Add(c.tar, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, plain bool) {
		parent := t.TempDir()
		victim := filepath.Join(parent, "victim")
		if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
			t.Fatal(err)
		}
		staging := filepath.Join(parent, "staging")
		if err := os.Mkdir(staging, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Apply(context.Background(), staging, bytes.NewReader(data), Options{MaxEntries: 64, Plain: plain})
		// Check and import agree: what the Validator takes, Apply writes
		// and proves; what Apply refuses, the Validator refuses alike.
		// The target's file system may hold less than Linux allows (ext4
		// keeps an inode's xattrs in one block): a host limit, as free
		// space is, which no check of the envelope alone can know.
		hostLimit := errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.E2BIG)
		if verr := validateAll(data, plain, 64); !hostLimit && ((verr == nil) != (err == nil) || err != nil && verr.Error() != err.Error()) {
			t.Fatalf("Validator says %v, Apply says %v", verr, err)
		}
		got, err := os.ReadFile(victim)
		if err != nil || string(got) != "victim" {
			t.Fatalf("victim changed: %q, %v", got, err)
		}
		fi, err := os.Lstat(victim)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Fatalf("victim's metadata changed: %v %v", fi.Mode(), err)
		}
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 2 {
			t.Fatalf("something was made beside the staging dir: %v %v", entries, err)
		}
		if fi, err := os.Lstat(staging); err != nil || !fi.IsDir() {
			t.Fatalf("staging dir replaced: %v", err)
		}
	})
}

// validateAll runs a Validator over a tar, as layer-check does, with
// Apply's words and its limit on entries.
func validateAll(data []byte, plain bool, maxEntries int64) error {
	tr := tar.NewReader(bytes.NewReader(data))
	v := Validator{Plain: plain}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer entry %d: %w", v.Count()+1, err)
		}
		if v.Count() >= maxEntries {
			return fmt.Errorf("layer entry %d: more than the %d entries declared: %w", v.Count()+1, maxEntries, ErrLimit)
		}
		if _, err := v.Entry(hdr); err != nil {
			return fmt.Errorf("layer entry %d: %w", v.Count(), err)
		}
		if n, err := io.Copy(io.Discard, tr); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("layer entry %q: contents end at byte %d of %d: %w", hdr.Name, n, hdr.Size, err)
		}
	}
}
