package transfer

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// recorder is an envelope.Progress that keeps everything it is told.
type recorder struct {
	mu                    sync.Mutex
	totalBytes, totalEnts int64
	bytes, entries        int64
	adds                  int
	phases                []string
}

func (r *recorder) Total(b, e int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.totalBytes, r.totalEnts, r.bytes, r.entries = b, e, 0, 0
}

func (r *recorder) Add(b, e int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bytes += b
	r.entries += e
	r.adds++
}

func (r *recorder) Phase(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.phases); n == 0 || r.phases[n-1] != name {
		r.phases = append(r.phases, name)
	}
}

// whole fails unless the counts came out at the totals, which are want's,
// through the phases wantPhases, in batches rather than an entry at a
// time.
func (r *recorder) whole(t *testing.T, what string, want *envelope.Meta, wantPhases []string) {
	t.Helper()
	b, e := envelope.Total(want)
	if r.totalBytes != b || r.totalEnts != e {
		t.Errorf("%s: told totals %d bytes, %d entries; want %d, %d", what, r.totalBytes, r.totalEnts, b, e)
	}
	if r.bytes != b || r.entries != e {
		t.Errorf("%s: counted %d bytes, %d entries; want %d, %d", what, r.bytes, r.entries, b, e)
	}
	if r.adds == 0 || int64(r.adds) > e/4+8 {
		t.Errorf("%s: %d calls of Add for %d entries; want batches", what, r.adds, e)
	}
	if !slices.Equal(r.phases, wantPhases) {
		t.Errorf("%s: phases %q, want %q", what, r.phases, wantPhases)
	}
}

// Export, Verify and Import each tell their Progress the totals of the
// envelope's trees and count up to exactly them: bytes of the layer's and
// volumes' tars and their entries; a volume an import leaves out counts
// as done once it is read.
func TestProgress(t *testing.T) {
	s := newVSource(t, 1<<20)
	src := Source{
		Meta: testMeta(0, 0), Container: []byte(`{"Id":"x"}`), Info: []byte(`{"Driver":"overlay2"}`),
		Layer: Tree{Dir: s.layer},
		Volumes: []VolumeTree{
			{Meta: envelope.Volume{Type: "volume", Name: "db", Destination: vDests[0], Driver: "local", RW: true}, Dir: s.vols[0]},
			{Meta: envelope.Volume{Type: "volume", Name: "big", Destination: vDests[1], Driver: "local", RW: true}, Dir: s.vols[1]},
		},
	}
	var buf bytes.Buffer
	var exp recorder
	_, err := Export(context.Background(), &buf, src, ExportOptions{WriteOptions: envelope.WriteOptions{Compression: envelope.Zstd}, Progress: &exp})
	must(t, err)
	rep, err := envelope.Verify(context.Background(), bytes.NewReader(buf.Bytes()))
	must(t, err)
	if !rep.Valid {
		t.Fatalf("invalid envelope: %+v", rep.Checks)
	}
	// Small trees' tar-split metadata is kept from the reading pass: no
	// "indexing" pass.
	exp.whole(t, "export", rep.Meta, []string{"measuring", "reading"})

	var chk recorder
	rep, err = envelope.VerifyProgress(context.Background(), bytes.NewReader(buf.Bytes()), &chk)
	must(t, err)
	chk.whole(t, "check", rep.Meta, []string{"verifying"})

	var imp recorder
	c := newVContainer(t, "")
	must(t, c.vols[1].tg.Close())
	_, err = Import(context.Background(), c.lo.tg, bytes.NewReader(buf.Bytes()), ImportOptions{
		Gate: okGate,
		Volumes: func(context.Context, *envelope.Meta) ([]*overlay.Target, error) {
			return []*overlay.Target{c.vols[0].tg, nil}, nil
		},
		Progress: &imp,
	})
	must(t, err)
	imp.whole(t, "import", rep.Meta, []string{"reading", "syncing", "swapping"})
}
