package transfer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// benchTree makes an upper dir: nfiles files of size bytes, half random,
// half repeated text, in directories of 100.
func benchTree(b *testing.B, nfiles, size int) string {
	b.Helper()
	root := b.TempDir()
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, size)
	for i := 0; i < nfiles; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		rng.Read(buf[:size/2])
		for j := size / 2; j < size; j++ {
			buf[j] = "layer-tool "[j%11]
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

// exportTo runs what layer-export does after talking to the daemon: the
// measuring pass, then the envelope with its output digest.
func exportTo(b *testing.B, root string, w io.Writer, c envelope.Compression) {
	ctx := context.Background()
	plan, err := overlay.Measure(ctx, root, overlay.Options{})
	if err != nil {
		b.Fatal(err)
	}
	d := envelope.NewDigestWriter(w)
	err = envelope.Write(ctx, d, envelope.Contents{
		Meta:      envelope.Meta{Format: envelope.Format, Created: time.Unix(0, 0), Layer: envelope.Layer{Size: plan.Size, Entries: plan.Stats.Entries}},
		Container: []byte("{}"), Info: []byte("{}"),
		Layer: &treeLayer{tree: Tree{Dir: root}, plan: plan},
	}, envelope.WriteOptions{Compression: c})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkExport(b *testing.B) {
	for _, tc := range []struct {
		name         string
		nfiles, size int
	}{
		{"large", 4, 64 << 20},
		{"small", 5000, 8 << 10},
	} {
		root := benchTree(b, tc.nfiles, tc.size)
		for _, c := range []envelope.Compression{envelope.None, envelope.Zstd, envelope.Gzip} {
			b.Run(tc.name+"/"+string(c), func(b *testing.B) {
				b.SetBytes(int64(tc.nfiles * tc.size))
				for i := 0; i < b.N; i++ {
					exportTo(b, root, io.Discard, c)
				}
			})
		}
	}
}

// BenchmarkImport runs what layer-import does after talking to the daemon
// (Import: extract, reassemble, verify, swap) into a new upper dir
// each time.
func BenchmarkImport(b *testing.B) {
	for _, tc := range []struct {
		name         string
		nfiles, size int
	}{
		{"large", 4, 64 << 20},
		{"small", 5000, 8 << 10},
	} {
		root := benchTree(b, tc.nfiles, tc.size)
		var env bytes.Buffer
		exportTo(b, root, &env, envelope.None)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(tc.nfiles * tc.size))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l := b.TempDir()
				if err := os.Mkdir(filepath.Join(l, "diff"), 0o755); err != nil {
					b.Fatal(err)
				}
				t, err := overlay.OpenTarget(filepath.Join(l, "diff"))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				gate := func(context.Context, *envelope.Meta) error { return nil }
				if _, err := Import(context.Background(), t, bytes.NewReader(env.Bytes()), ImportOptions{Gate: gate, Keep: false}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				t.Close()
				b.StartTimer()
			}
		})
	}
}
