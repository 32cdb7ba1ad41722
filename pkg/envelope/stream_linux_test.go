package envelope

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// blockTree is an upper dir whose tar crosses the stream's blocks in every
// way: files larger than a block, headers and contents split across two,
// many small files in one.
func blockTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for i, size := range []int{3*blockSize + 5, 0, 1, blockSize, blockSize - 512, 511, 7000} {
		b := make([]byte, size)
		rng.Read(b)
		if err := os.WriteFile(filepath.Join(root, "big"+string(rune('a'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "small"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		b := make([]byte, rng.Intn(2000))
		rng.Read(b)
		if err := os.WriteFile(filepath.Join(root, "small", "f"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The split stage records, from the stream, the same tar-split metadata
// that tar-split's own disassembler makes of the finished layer tar; the
// member digests and the stream digest are those of the bytes written;
// and metadata too large to hold is replayed into the same bytes.
func TestStreamStages(t *testing.T) {
	root := blockTree(t)
	ctx := context.Background()
	plan, err := overlay.Measure(ctx, root, overlay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := newEnvFixture(t, "one").c
	base.Meta.Layer = Layer{Size: plan.Size, Entries: plan.Stats.Entries}
	base.WriteLayer = func(ctx context.Context, w io.Writer) error {
		_, err := overlay.Write(ctx, root, w, overlay.Options{})
		return err
	}
	parsed := writeEnvelope(t, base, None) // tar-split's disassembler
	want := gunzip(t, memberNamed(t, parseMembers(t, parsed), MemberTarSplit).data)

	src := base
	src.Layer = dirSource{dir: root}
	for _, comp := range []Compression{None, Zstd, Gzip} {
		var held, replayed bytes.Buffer
		d1, err := WriteDigest(ctx, &held, src, WriteOptions{Compression: comp})
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func(n int) { splitMemory = n }(splitMemory)
			splitMemory = 4096
			d2, err := WriteDigest(ctx, &replayed, src, WriteOptions{Compression: comp})
			if err != nil {
				t.Fatal(err)
			}
			if d2 != d1 {
				t.Errorf("%s: digest %s replayed, %s held", comp, d2, d1)
			}
		}()
		if !bytes.Equal(held.Bytes(), replayed.Bytes()) {
			t.Fatalf("%s: the envelope differs when its tar-split metadata is replayed", comp)
		}
		rep := mustVerify(t, held.Bytes())
		if d1 != rep.Root {
			t.Errorf("%s: digest %s, the envelope's root is %s", comp, d1, rep.Root)
		}
		if !rep.Valid {
			t.Fatalf("%s: invalid: %s", comp, describeReport(rep))
		}
		ms := parseMembers(t, decompressAll(t, held.Bytes(), comp))
		if got := gunzip(t, memberNamed(t, ms, MemberTarSplit).data); !bytes.Equal(got, want) {
			t.Fatalf("%s: tar-split metadata differs from tar-split's own (%d and %d bytes)", comp, len(got), len(want))
		}
	}
}

// failAfter fails every write once n bytes went through.
type failAfter struct{ n int }

var errOutput = errors.New("output closed")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errOutput
	}
	f.n -= len(p)
	return len(p), nil
}

// An output that fails, early or late, fails the export with its error,
// and every stage stops.
func TestStreamOutputFails(t *testing.T) {
	root := blockTree(t)
	ctx := context.Background()
	plan, err := overlay.Measure(ctx, root, overlay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := newEnvFixture(t, "one").c
	c.Meta.Layer = Layer{Size: plan.Size, Entries: plan.Stats.Entries}
	c.Layer = dirSource{dir: root}
	for _, n := range []int{0, 100, blockSize + 1, 5 * blockSize, int(plan.Size) / 2} {
		for _, comp := range []Compression{None, Gzip} {
			if _, err := WriteDigest(ctx, &failAfter{n: n}, c, WriteOptions{Compression: comp}); !errors.Is(err, errOutput) {
				t.Errorf("%s, failing after %d bytes: %v", comp, n, err)
			}
		}
	}
}
