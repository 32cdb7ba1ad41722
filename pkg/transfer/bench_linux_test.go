package transfer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/tally"
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
		Meta: envelope.Meta{Format: envelope.Format, Created: time.Unix(0, 0), Layer: envelope.Layer{Size: plan.Size, Entries: plan.Stats.Entries},
			Container: envelope.Container{ID: "bench", ImageID: "sha256:bench", ImageLayers: []string{}}, Host: envelope.Host{OS: "linux", Arch: "amd64"}},
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

// atomicProgress is what the command's progress line does with what it is
// told: atomic adds, read by a ticker elsewhere.
type atomicProgress struct{ bytes, entries, totalBytes, totalEntries atomic.Int64 }

func (p *atomicProgress) Total(b, e int64) {
	p.totalBytes.Store(b)
	p.totalEntries.Store(e)
	p.bytes.Store(0)
	p.entries.Store(0)
}
func (p *atomicProgress) Add(b, e int64) { p.bytes.Add(b); p.entries.Add(e) }
func (p *atomicProgress) Phase(string)   {}

// BenchmarkExportProgress is what a progress line costs an export:
// uncompressed, where the hooks weigh most. On a loaded machine two
// benchmarks run one after the other see different machines, so each
// iteration exports the tree both ways, alternating which goes first, and
// the benchmark reports the time of each way, wall clock and CPU
// (getrusage, all threads), and the difference in percent.
func BenchmarkExportProgress(b *testing.B) {
	for _, tc := range []struct {
		name         string
		nfiles, size int
	}{
		{"large", 4, 64 << 20},
		{"small", 5000, 8 << 10},
	} {
		root := benchTree(b, tc.nfiles, tc.size)
		src := Source{Meta: testMeta(0, 0), Container: []byte("{}"), Info: []byte("{}"), Layer: Tree{Dir: root}}
		b.Run(tc.name, func(b *testing.B) {
			var p atomicProgress
			var wall, cpu [2]time.Duration
			for i := 0; i < b.N; i++ {
				for k := 0; k < 2; k++ {
					on := (i+k)%2 == 1
					opts := ExportOptions{}
					if on {
						opts.Progress = &p
					}
					w0, c0 := time.Now(), cpuTime(b)
					if _, err := Export(context.Background(), io.Discard, src, opts); err != nil {
						b.Fatal(err)
					}
					j := 0
					if on {
						j = 1
					}
					wall[j] += time.Since(w0)
					cpu[j] += cpuTime(b) - c0
				}
			}
			if p.bytes.Load() != p.totalBytes.Load() || p.entries.Load() != p.totalEntries.Load() {
				b.Fatalf("counted %d of %d bytes", p.bytes.Load(), p.totalBytes.Load())
			}
			n := float64(b.N)
			b.ReportMetric(float64(wall[0].Milliseconds())/n, "ms-off/op")
			b.ReportMetric(float64(wall[1].Milliseconds())/n, "ms-on/op")
			b.ReportMetric(float64(cpu[0].Milliseconds())/n, "cpu-ms-off/op")
			b.ReportMetric(float64(cpu[1].Milliseconds())/n, "cpu-ms-on/op")
			b.ReportMetric(100*(float64(wall[1])/float64(wall[0])-1), "wall-overhead-%")
			b.ReportMetric(100*(float64(cpu[1])/float64(cpu[0])-1), "cpu-overhead-%")
		})
	}
}

// cpuTime is the CPU time, user and system, of the whole process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// BenchmarkCountingRecorder is the progress hook's own cost on an
// export's hot path, apart from the noise of reading files: a small
// file's entry (its header blocks, 8 KiB of contents) through the counting
// recorder, per entry, against the same without it.
func BenchmarkCountingRecorder(b *testing.B) {
	raw := make([]byte, 1536)
	data := make([]byte, 8<<10)
	hdr := &tar.Header{Name: "f", Size: int64(len(data))}
	var p atomicProgress
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("progress=%v", on), func(b *testing.B) {
			var rec overlay.Recorder = nopRecorder{}
			count := tally.New(&p)
			if on {
				rec = &countingRecorder{next: rec, count: count}
			}
			for i := 0; i < b.N; i++ {
				if err := rec.Entry(raw, hdr); err != nil {
					b.Fatal(err)
				}
				rec.Contents(data)
			}
			count.Flush()
		})
	}
}

type nopRecorder struct{}

func (nopRecorder) Entry([]byte, *tar.Header) error { return nil }
func (nopRecorder) Contents([]byte)                 {}
func (nopRecorder) End([]byte) error                { return nil }
