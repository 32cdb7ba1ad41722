package envelope

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/vbatts/tar-split/tar/storage"
)

// splitEncCases are entries whose JSON takes every branch of
// appendSplitEntry: each omitempty field present and absent, nil and empty
// payloads, and names that need each kind of escape.
func splitEncCases() []storage.Entry {
	named := func(name string, size int64, payload []byte, pos int) storage.Entry {
		e := storage.Entry{Type: storage.FileType, Size: size, Payload: payload, Position: pos}
		e.SetName(name)
		return e
	}
	var ctl strings.Builder
	for b := range 0x20 {
		ctl.WriteByte(byte(b))
	}
	ctl.WriteString("\x7f")
	binary := make([]byte, 1537)
	for i := range binary {
		binary[i] = byte(i * 131)
	}
	long := strings.Repeat("d\u00e9j\u00e0/<&>\"x\\", 7000)
	crc := []byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff}
	return []storage.Entry{
		{Type: storage.SegmentType, Payload: binary},
		{Type: storage.SegmentType, Payload: binary[:1], Position: 1},
		{Type: storage.SegmentType, Payload: binary[:2], Position: 2},
		{Type: storage.SegmentType, Payload: []byte{}, Position: 3},
		{Type: storage.SegmentType, Position: 4},
		named("etc/passwd", 1234, crc, 5),
		named("etc/empty", 0, nil, 6),
		named("etc/empty-payload", 0, []byte{}, 7),
		named("a\"quoted\"/back\\slash\\", 1, crc, 8),
		named(ctl.String(), 2, crc, 9),
		named("<script>&amp;</script>", 3, crc, 10),
		named("line\u2028para\u2029end\u2027\u202a", 4, crc, 11),
		named("caf\xe9/\xff\xfe\x80", 5, crc, 12),
		named("\xed\xa0\x80 surrogate", 6, crc, 13),
		named(long, 7, crc, 14),
		named("\U0001F600 \u00fc\u00f1\u00ef", math.MaxInt64, crc, math.MaxInt),
		named("neg", -1, crc, -1),
		named("", 0, nil, 0),
		// Both name fields, and a Name that is not UTF-8, which SetName
		// never makes but a storage.Entry can hold.
		{Type: storage.FileType, Name: "bad\xffname\xc3", NameRaw: []byte("raw"), Size: math.MinInt64, Position: math.MinInt},
		{Type: 0},
		{Type: -7, Payload: []byte("x")},
		{Type: storage.Type(math.MaxInt), Position: math.MaxInt - 1},
	}
}

// The encoder writes what encoding/json's Encoder writes, line by line and
// as a stream, where its reused buffer must not carry over a longer line.
func TestSplitEncodeMatchesJSON(t *testing.T) {
	var got, want bytes.Buffer
	enc := splitEncoder{w: &got}
	jenc := json.NewEncoder(&want)
	for i, e := range splitEncCases() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g, w := len(got.Bytes()), len(want.Bytes())
			if err := enc.encode(&e); err != nil {
				t.Fatal(err)
			}
			if err := jenc.Encode(e); err != nil {
				t.Fatal(err)
			}
			if gl, wl := got.Bytes()[g:], want.Bytes()[w:]; !bytes.Equal(gl, wl) {
				t.Errorf("got  %.400q\nwant %.400q", gl, wl)
			}
		})
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Error("streams differ")
	}
}

// appendBase64's 6-byte steps hand over to encoding/base64 at every length
// and keep what dst held.
func TestAppendBase64(t *testing.T) {
	src := make([]byte, 100)
	for i := range src {
		src[i] = byte(i*151 + 7)
	}
	src[10], src[11], src[12] = 0xff, 0xff, 0xff
	for n := range len(src) + 1 {
		got := appendBase64([]byte("x"), src[:n])
		want := base64.StdEncoding.AppendEncode([]byte("x"), src[:n])
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes: got %s, want %s", n, got, want)
		}
	}
}

// After a failed write the encoder, like json.Encoder, writes nothing more
// and keeps returning the error.
func TestSplitEncodeStopsAtError(t *testing.T) {
	fail := errors.New("disk full")
	w := &failingWriter{err: fail}
	enc := splitEncoder{w: w}
	e := storage.Entry{Type: storage.SegmentType, Payload: []byte("x")}
	for range 2 {
		if err := enc.encode(&e); !errors.Is(err, fail) {
			t.Fatalf("got %v, want %v", err, fail)
		}
	}
	if w.calls != 1 {
		t.Fatalf("%d writes, want 1", w.calls)
	}
}

type failingWriter struct {
	err   error
	calls int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, w.err
}

// Any entry: its name as Name (any bytes, so every escape and invalid
// UTF-8) and as SetNameBytes puts it, an empty payload as nil and as empty.
func FuzzSplitEncode(f *testing.F) {
	for _, e := range splitEncCases() {
		f.Add(int(e.Type), append([]byte(e.Name), e.NameRaw...), e.Size, e.Payload, e.Position)
	}
	f.Fuzz(func(t *testing.T, typ int, name []byte, size int64, payload []byte, pos int) {
		payloads := [][]byte{payload}
		if len(payload) == 0 {
			payloads = [][]byte{nil, {}}
		}
		for _, p := range payloads {
			asName := storage.Entry{Type: storage.Type(typ), Name: string(name), Size: size, Payload: p, Position: pos}
			viaSet := storage.Entry{Type: storage.Type(typ), Size: size, Payload: p, Position: pos}
			viaSet.SetNameBytes(name)
			for _, e := range []storage.Entry{asName, viaSet} {
				var want bytes.Buffer
				if err := json.NewEncoder(&want).Encode(e); err != nil {
					t.Fatal(err)
				}
				if got := appendSplitEntry(nil, &e); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("got  %q\nwant %q", got, want.Bytes())
				}
			}
		}
	})
}

// BenchmarkSplitEncode compares encoding/json and appendSplitEntry on the
// entries of a layer of small files; an op is one entry.
func BenchmarkSplitEncode(b *testing.B) {
	raws, hdrs := benchFiles(27000)
	var entries []storage.Entry
	for i, h := range hdrs {
		entries = append(entries, storage.Entry{Type: storage.SegmentType, Payload: raws[i]})
		f := storage.Entry{Type: storage.FileType, Size: h.Size}
		f.SetName(h.Name)
		if h.Size > 0 {
			f.Payload = []byte{1, 2, 3, 4, 5, 6, 7, 8}
		}
		entries = append(entries, f)
	}
	var total int64
	for _, e := range entries {
		total += int64(len(appendSplitEntry(nil, &e)))
	}
	b.Run("json", func(b *testing.B) {
		enc := json.NewEncoder(io.Discard)
		b.SetBytes(total / int64(len(entries)))
		b.ReportAllocs()
		for i := range b.N {
			e := &entries[i%len(entries)]
			e.Position = i
			if err := enc.Encode(*e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		enc := splitEncoder{w: io.Discard}
		b.SetBytes(total / int64(len(entries)))
		b.ReportAllocs()
		for i := range b.N {
			e := &entries[i%len(entries)]
			e.Position = i
			if err := enc.encode(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchFiles is a layer of many small files as an export records it: for
// each, the padding that ended the file before it and a 512-byte header
// (every 16th with a PAX header in front), a name, a size.
func benchFiles(n int) (raws [][]byte, hdrs []*tar.Header) {
	prevPad := 0
	for i := range n {
		name := fmt.Sprintf("usr/lib/python3/dist-packages/pkg%03d/module_%05d.py", i%200, i)
		if i%500 == 0 {
			name = fmt.Sprintf("usr/share/doc/caf\xe9-%d/README", i)
		}
		blocks := 1
		if i%16 == 0 {
			blocks = 3
		}
		raw := make([]byte, prevPad+512*blocks)
		copy(raw[prevPad:], name)
		for j := prevPad + 100; j < len(raw); j += 7 {
			raw[j] = '0' + byte(j%8)
		}
		size := int64(200 + i*37%3000)
		if i%10 == 0 {
			size = 0
		}
		prevPad = int(-size & 511)
		raws = append(raws, raw)
		hdrs = append(hdrs, &tar.Header{Name: name, Size: size})
	}
	return raws, hdrs
}

// BenchmarkSplitWriter records, then replays, tar-split metadata for a
// layer of small files; an op is one file, recorded and replayed.
func BenchmarkSplitWriter(b *testing.B) {
	raws, hdrs := benchFiles(27000)
	contents := make([]byte, 3200)
	end := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(hdrs) {
		n := min(b.N-done, len(hdrs))
		rec := newSplitWriter(io.Discard)
		for j := range n {
			if err := rec.Entry(raws[j], hdrs[j]); err != nil {
				b.Fatal(err)
			}
			rec.Contents(contents[:hdrs[j].Size])
		}
		if err := rec.End(end); err != nil {
			b.Fatal(err)
		}
		rep := rec.replaying(io.Discard)
		for j := range n {
			if err := rep.Entry(raws[j], hdrs[j]); err != nil {
				b.Fatal(err)
			}
		}
		if err := rep.End(end); err != nil {
			b.Fatal(err)
		}
	}
}
