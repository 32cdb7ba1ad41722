// Package legacytest writes files in the format of the original
// layer-tool, the Rust tool this project re-implements, for the tests of
// the packages that read them (pkg/envelope, and the end-to-end scripts'
// mkrustlayer command in pkg/cli). Nothing but tests imports it.
//
// It knows the format from the outside, as pkg/envelope's doc.go
// describes it, and computes layer_checksum on its own, so that a test
// compares two implementations rather than one with itself.
package legacytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Entry is one entry of a layer: a directory when Name ends in "/",
// otherwise a regular file holding Data.
type Entry struct {
	Name string
	Data string
	// Mode is the permission bits; 0 means 0755 for a directory and 0644
	// for a file.
	Mode int64
}

// Dir tells whether e is a directory.
func (e Entry) Dir() bool { return strings.HasSuffix(e.Name, "/") }

func (e Entry) mode() int64 {
	switch {
	case e.Mode != 0:
		return e.Mode
	case e.Dir():
		return 0o755
	}
	return 0o644
}

// Mtime is every entry's mtime: whole seconds, all the tool kept.
var Mtime = time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)

// Created is metadata.json's "created".
var Created = time.Date(2023, 3, 4, 6, 0, 0, 0, time.UTC)

// GNULayer is a layer.tar as the Rust tar crate writes one: GNU headers,
// owner 0:0 with no names, seconds mtimes, the entries in the order
// given. With tarRS, directory names lose their "/" as the crate writes
// them ("etc", not "etc/").
func GNULayer(entries []Entry, tarRS bool) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: e.mode(), ModTime: Mtime, Format: tar.FormatGNU, Typeflag: tar.TypeReg, Size: int64(len(e.Data))}
		if e.Dir() {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
			if tarRS {
				hdr.Name = strings.TrimSuffix(e.Name, "/")
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err) // a bad table in a test
		}
		if !e.Dir() {
			tw.Write([]byte(e.Data))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// CanonicalLayer makes the entries in the empty directory dir, with
// Mtime, and returns layer-tool's canonical layer tar of it
// (overlay.Write): what layer-import can prove it applied exactly.
// Linux only, as overlay.Write.
func CanonicalLayer(ctx context.Context, dir string, entries []Entry) ([]byte, error) {
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(e.Name, "/")))
		var err error
		if e.Dir() {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte(e.Data), 0o600)
		}
		if err == nil {
			err = os.Chmod(p, os.FileMode(e.mode()))
		}
		if err != nil {
			return nil, err
		}
	}
	// Deepest first, so that making a child leaves no parent's mtime new.
	byDepth := slices.Clone(entries)
	slices.SortFunc(byDepth, func(a, b Entry) int { return strings.Count(b.Name, "/") - strings.Count(a.Name, "/") })
	for _, e := range byDepth {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(e.Name)), Mtime, Mtime); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := overlay.Write(ctx, dir, &buf, overlay.Options{}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Checksum is the layer_checksum of entries, as doc.go defines it: sha256
// over each file's and directory's path (no "/" at the end) followed by a
// file's contents, in the order of their paths compared component by
// component.
func Checksum(entries []Entry) string {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b Entry) int {
		return slices.Compare(strings.Split(strings.TrimSuffix(a.Name, "/"), "/"), strings.Split(strings.TrimSuffix(b.Name, "/"), "/"))
	})
	h := sha256.New()
	for _, e := range sorted {
		h.Write([]byte(strings.TrimSuffix(e.Name, "/")))
		if !e.Dir() {
			h.Write([]byte(e.Data))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Meta is what metadata.json says.
type Meta struct {
	Version  string
	Checksum string
	ID       string
	Name     string
	Image    string
	ImageID  string
	Mounts   []map[string]any
	// The host: Docker's /info fields.
	OSType, Architecture, Driver string
}

// DefaultMeta describes a container made on this machine's kind of host,
// whose layer has the entries given.
func DefaultMeta(entries []Entry) Meta {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return Meta{
		Version:  "0.3.0",
		Checksum: Checksum(entries),
		ID:       strings.Repeat("c0", 32),
		Name:     "/web",
		Image:    "layer-tool-base:latest",
		ImageID:  "sha256:" + strings.Repeat("1d", 32),
		OSType:   "linux", Architecture: arch, Driver: "overlay2",
	}
}

// JSON is metadata.json.
func (m Meta) JSON() []byte {
	doc := map[string]any{
		"version": m.Version,
		"created": Created.Format(time.RFC3339Nano),
		"container_metadata": map[string]any{
			"id": m.ID, "name": m.Name, "image": m.Image, "image_id": m.ImageID,
			"image_sha256": strings.TrimPrefix(m.ImageID, "sha256:"),
			"created":      Created.Add(-time.Hour).Format(time.RFC3339Nano),
			"state":        "exited", "status": "exited",
			"labels": map[string]string{"app": "web"},
			"mounts": m.Mounts,
		},
		"docker_info": map[string]any{
			"operating_system": "Debian GNU/Linux 12 (bookworm)", "os_type": m.OSType,
			"architecture": m.Architecture, "kernel_version": "6.1.0-18-amd64",
			"server_version": "24.0.7", "driver": m.Driver,
		},
		"layer_checksum": m.Checksum,
		"compressed":     false,
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return out
}

// Member is one member of the file's outer tar.
type Member struct {
	Name string
	Data []byte
}

// Write writes members as an outer tar with GNU headers, as the tool
// did, through gzip if gz.
func Write(w io.Writer, gz bool, members ...Member) error {
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(w)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, m := range members {
		hdr := &tar.Header{Name: m.Name, Mode: 0o644, Size: int64(len(m.Data)), ModTime: Created, Format: tar.FormatGNU, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
		if _, err := tw.Write(m.Data); err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

// File is a whole file: metadata.json, then layer.tar.
func File(m Meta, layer []byte, gz bool) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, gz, Member{"metadata.json", m.JSON()}, Member{"layer.tar", layer}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
