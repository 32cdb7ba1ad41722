package envelope

import (
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdBenchData is like the bench fixtures' files: pieces of 0.1-16 KiB,
// half random bytes, half repeated source text.
func zstdBenchData(size int) []byte {
	rng := rand.New(rand.NewSource(1))
	text := []byte("function resolve(id, opts) { // module resolution, as bundlers do\n" +
		"  const paths = opts.paths || [process.cwd()];\n")
	out := make([]byte, 0, size)
	for len(out) < size {
		n := 100 + rng.Intn(16<<10)
		piece := make([]byte, n)
		rng.Read(piece[:n/2])
		for i := n / 2; i < n; {
			i += copy(piece[i:], text)
		}
		out = append(out, piece...)
	}
	return out[:size]
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkZstd compares the Go encoder export uses (klauspost/compress,
// level 3 = SpeedDefault, 4 MiB window, one and two goroutines) with C zstd
// -3 (the `tar | zstd -T0 -3` of scripts/bench.sh, which is skipped where no
// zstd is installed) on the same data: MB/s of input, and the output's
// size as a fraction of the input ("ratio").
func BenchmarkZstd(b *testing.B) {
	data := zstdBenchData(64 << 20)
	goEnc := func(conc int) func(w io.Writer) (io.WriteCloser, error) {
		return func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(3)),
				zstd.WithWindowSize(4<<20), zstd.WithEncoderConcurrency(conc))
		}
	}
	for _, tc := range []struct {
		name string
		enc  func(w io.Writer) (io.WriteCloser, error)
	}{
		{"go/export", func(w io.Writer) (io.WriteCloser, error) { return compressor(w, Zstd, 0) }},
		{"go/goroutines=1", goEnc(1)},
		{"go/goroutines=2", goEnc(2)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var out countingDiscard
			for b.Loop() {
				out.n = 0
				zw, err := tc.enc(&out)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := zw.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.n)/float64(len(data)), "ratio")
		})
	}
	b.Run("c/zstd -3 -T0", func(b *testing.B) {
		if _, err := exec.LookPath("zstd"); err != nil {
			b.Skip("no zstd")
		}
		// From a file to a file: no pipe through this process.
		dir := b.TempDir()
		in := filepath.Join(dir, "in")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, "out.zst")
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := exec.Command("zstd", "-q", "-f", "-3", "-T0", in, "-o", out).Run(); err != nil {
				b.Fatal(err)
			}
		}
		st, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/float64(len(data)), "ratio")
	})
}
