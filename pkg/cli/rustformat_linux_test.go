package cli_test

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/layer-tool/layer-tool/pkg/internal/legacytest"
)

// cmdMkrustlayer: mkrustlayer [-gzip] [-gnu [-dirslash]] [-image-id ID]
// [-checksum HEX] [-mount DEST] FILE ENTRY...
//
// writes FILE in the format of the original layer-tool: metadata.json for
// a container on this kind of host, then layer.tar of the ENTRYs, each
// "DIR/" or "PATH=TEXT". layer.tar is layer-tool's canonical layer tar of
// those entries (made on disk, mtime legacytest.Mtime), or with -gnu as
// the Rust tar crate writes one: GNU headers, seconds mtimes, directory
// names without "/" (with -dirslash, with it), in the order given. -image-id sets the image's id,
// -checksum layer_checksum (otherwise the entries'), each -mount a mount
// of the source container.
func cmdMkrustlayer(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: mkrustlayer [-gzip] [-gnu [-dirslash]] [-image-id ID] [-checksum HEX] [-mount DEST] FILE ENTRY..."
	fs := flag.NewFlagSet("mkrustlayer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	gz := fs.Bool("gzip", false, "")
	gnu := fs.Bool("gnu", false, "")
	slash := fs.Bool("dirslash", false, "")
	imageID := fs.String("image-id", "", "")
	checksum := fs.String("checksum", "", "")
	var mounts []map[string]any
	fs.Func("mount", "", func(dest string) error {
		mounts = append(mounts, map[string]any{"Type": "volume", "Name": "v" + dest, "Destination": dest})
		return nil
	})
	if err := fs.Parse(args); neg || err != nil || fs.NArg() < 1 {
		ts.Fatalf("%s", usage)
	}
	var entries []legacytest.Entry
	for _, arg := range fs.Args()[1:] {
		name, data, file := strings.Cut(arg, "=")
		if file == strings.HasSuffix(name, "/") {
			ts.Fatalf("mkrustlayer: entry %q: want DIR/ or PATH=TEXT", arg)
		}
		entries = append(entries, legacytest.Entry{Name: name, Data: data})
	}
	m := legacytest.DefaultMeta(entries)
	if *imageID != "" {
		m.ImageID = *imageID
	}
	if *checksum != "" {
		m.Checksum = *checksum
	}
	m.Mounts = mounts
	var layer []byte
	if *gnu {
		layer = legacytest.GNULayer(entries, !*slash)
	} else {
		dir, err := os.MkdirTemp(ts.Getenv("WORK"), "mkrustlayer")
		ts.Check(err)
		defer os.RemoveAll(dir)
		layer, err = legacytest.CanonicalLayer(context.Background(), dir, entries)
		ts.Check(err)
	}
	ts.Check(os.WriteFile(ts.MkAbs(fs.Arg(0)), legacytest.File(m, layer, *gz), 0o644))
}
