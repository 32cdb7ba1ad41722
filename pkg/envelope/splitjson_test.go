package envelope

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vbatts/tar-split/tar/storage"
)

// The scan of plain lines decodes as encoding/json does, and leaves every
// other line to it.
func FuzzSplitEntry(f *testing.F) {
	for _, e := range []storage.Entry{
		{Type: storage.SegmentType, Payload: []byte("raw header bytes\x00\x01"), Position: 0},
		{Type: storage.FileType, Name: "etc/passwd", Size: 1234, Payload: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Position: 1},
		{Type: storage.FileType, Name: "a<b>&\"c\\", Size: 0, Position: 7},
		{Type: storage.FileType, NameRaw: []byte("z\xff"), Position: 2},
		{Type: storage.FileType, Name: "ünïcode/☺", Size: 1 << 40, Position: 1 << 30},
	} {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{}`, `{"type":1,"type":2}`, `{"type":01}`, `{"type":1,}`, `{ "type":1}`, `{"type":-1}`, `{"payload":"!!"}`, `{"name":"\u00e9"}`, `{"position":99999999999999999999}`, `{"size":-5}`, `{"name":"a\xffb"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast storage.Entry
		if !fastSplitEntry(line, &fast) {
			return
		}
		var slow storage.Entry
		if err := json.Unmarshal(line, &slow); err != nil {
			t.Fatalf("%q: the scan took it, encoding/json says %v", line, err)
		}
		if !reflect.DeepEqual(normEntry(fast), normEntry(slow)) {
			t.Fatalf("%q: scan %+v, encoding/json %+v", line, fast, slow)
		}
	})
}

// normEntry makes empty and nil byte slices alike.
func normEntry(e storage.Entry) storage.Entry {
	if len(e.Payload) == 0 {
		e.Payload = nil
	}
	if len(e.NameRaw) == 0 {
		e.NameRaw = nil
	}
	return e
}

// The lines layer-export's own writer makes take the fast path.
func TestSplitEntryFastPath(t *testing.T) {
	var buf bytes.Buffer
	w := newSplitWriter(&buf)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.segment(bytes.Repeat([]byte{7}, 1024)))
	must(w.add(storage.Entry{Type: storage.FileType, Name: "dir/file", Size: 3, Payload: []byte{0, 1, 2, 3, 4, 5, 6, 7}}))
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var e storage.Entry
		if !fastSplitEntry(line, &e) {
			t.Errorf("%q: not on the fast path", line)
		}
	}
}
