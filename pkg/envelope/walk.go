package envelope

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// mode is what a walk does with a fault.
type mode int

const (
	// strict ends the walk at the first fault, which becomes its error:
	// Extract, for layer-import, which must not go on with an envelope
	// it is going to refuse.
	strict mode = iota
	// collect notes the first fault of each check and goes on for as
	// long as the stream can still be followed: Verify, for layer-check,
	// which reports every finding.
	collect
)

// walk is one reading of an envelope, member by member in stream order.
// Every rule of the format is here, once; Extract and Verify differ only
// in their mode and in the handler that reads the trees' tars.
type walk struct {
	mode mode
	h    Handler
	// faults holds the first fault of each check.
	faults map[string]error
	// first is the fault that ended a strict walk.
	first error

	compression Compression
	// meta is envelope.json as decoded, even when a rule then refused it
	// (a report still shows what it says).
	meta *Meta
	// plan is the members expected, in order: envelope.json alone until
	// it is read, then what its format and volumes call for.
	plan    []planned
	digests map[string]string // member name -> hex sha256
	sums    []byte
	// trees are the layer (0) and the volumes (1...), as read.
	trees []*treeRead
	// legacy is set when the stream is a file of the original
	// layer-tool (legacy.go), which readLegacy walks instead.
	legacy *legacyRead
}

// The kinds of member.
type memberKind int

const (
	kindEnvelope memberKind = iota
	kindJSON
	kindTar
	kindSplit
	kindSums
)

// planned is one expected member.
type planned struct {
	name string
	kind memberKind
	tree int // for kindTar and kindSplit
}

// treeRead is what the walk learnt of one tree: the layer or a volume.
type treeRead struct {
	ref TreeRef
	// declared is the size and entry count envelope.json gives.
	declared Layer
	size     int64 // of the tar member as read
	// done: the tar was read to its end without a fault, so entries and
	// the tar-split records below are whole.
	done    bool
	entries int64
	// localSplit is the digest of what tar-split recorded of the tar as
	// it went past (collect mode), to compare with the envelope's own
	// tar-split metadata; rawHeaders the sha256 of every byte of the tar
	// but file contents, which tells whether the tar is canonical.
	localSplit []byte
	rawHeaders [sha256.Size]byte
	// envSplit is the digest of the tree's tar-split member's entries,
	// and splitEntries their number: read in collect mode only, since an
	// import records its own metadata from the tar and never uses the
	// envelope's.
	envSplit     []byte
	splitEntries int
}

func newWalk(m mode, h Handler) *walk {
	return &walk{mode: m, h: h, faults: map[string]error{}, digests: map[string]string{},
		plan: []planned{{name: MemberEnvelope, kind: kindEnvelope}}}
}

// planFor sets the members expected after envelope.json: v1's, or for v2
// each volume's tar and tar-split metadata before SHA256SUMS. Without a
// readable envelope.json, v1's.
func (w *walk) planFor(m *Meta) {
	w.plan = w.plan[:1]
	w.trees = []*treeRead{{ref: TreeRef{Member: MemberLayer}}}
	if m != nil {
		w.trees[0].declared = m.Layer
	}
	w.plan = append(w.plan,
		planned{name: MemberContainer, kind: kindJSON},
		planned{name: MemberInfo, kind: kindJSON},
		planned{name: MemberLayer, kind: kindTar},
		planned{name: MemberTarSplit, kind: kindSplit})
	if m != nil && m.Format == FormatV2 {
		for i := range m.Volumes {
			v := &m.Volumes[i]
			w.trees = append(w.trees, &treeRead{ref: TreeRef{Index: i + 1, Member: VolumeTar(i), Volume: v}, declared: Layer{Size: v.Size, Entries: v.Entries}})
			w.plan = append(w.plan,
				planned{name: VolumeTar(i), kind: kindTar, tree: i + 1},
				planned{name: VolumeTarSplit(i), kind: kindSplit, tree: i + 1})
		}
	}
	w.plan = append(w.plan, planned{name: MemberSums, kind: kindSums})
}

// fault notes err under check and tells whether the walk must stop: in
// strict mode at any fault, in collect mode at a structural one, after
// which the stream can no longer be followed.
func (w *walk) fault(check string, err error) (stop bool) {
	if _, seen := w.faults[check]; !seen {
		w.faults[check] = err
	}
	if w.mode == strict {
		if w.first == nil {
			w.first = err
		}
		return true
	}
	return check == CheckStructure
}

// structural is fault for the structure check, with ErrStructure.
func (w *walk) structural(format string, args ...any) bool {
	return w.fault(CheckStructure, fmt.Errorf("%w: "+format, append([]any{ErrStructure}, args...)...))
}

// run reads r to its end, or to the fault that ends the walk, and then
// applies the rules that need every member. A collecting walk applies
// those to whatever it read, even after a structural fault: a report
// still says whether the sums that were read match.
func (w *walk) run(ctx context.Context, r io.Reader) {
	w.read(ctx, r)
	if w.mode == collect || w.first == nil {
		w.finish()
	}
}

// read walks the members in order.
func (w *walk) read(ctx context.Context, r io.Reader) {
	er, err := NewReader(r)
	if err != nil {
		w.fault(CheckStructure, err)
		return
	}
	defer er.release()
	w.compression = er.Compression
	next := 0
	for {
		if err := ctx.Err(); err != nil {
			w.fault(CheckStructure, fmt.Errorf("interrupted: %w", err))
			return
		}
		m, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, errCut) && next < len(w.plan) {
				w.structural("member %s missing: the stream stops after %s", w.plan[next].name, orStart(er.last))
				return
			}
			w.fault(CheckStructure, err)
			return
		}
		if next == 0 && m.Name == LegacyMetadata {
			w.readLegacy(ctx, er, m)
			return
		}
		var p planned
		switch {
		case next < len(w.plan) && m.Name == w.plan[next].name:
			p = w.plan[next]
			next++
		case w.planned(m.Name):
			w.structural("member %s out of order: expected %s", m.Name, w.expected(next))
			return
		default:
			w.structural("unexpected member %q: expected %s", m.Name, w.expected(next))
			return
		}
		if w.member(ctx, m, p) {
			return
		}
		if _, err := io.Copy(io.Discard, m); err != nil {
			w.fault(CheckStructure, err)
			return
		}
		w.digests[m.Name] = m.Digest()
	}
	if next < len(w.plan) {
		w.structural("member %s missing", w.plan[next].name)
		return
	}
	if err := er.Close(); err != nil {
		w.fault(CheckStructure, err)
	}
}

// planned tells whether name is one of the members expected (or, before
// envelope.json is read, one of v1's).
func (w *walk) planned(name string) bool {
	if len(w.plan) == 1 {
		return slices.Contains(Members, name)
	}
	return slices.ContainsFunc(w.plan, func(p planned) bool { return p.name == name })
}

// expected names what should have come after next members.
func (w *walk) expected(next int) string {
	if next < len(w.plan) {
		return w.plan[next].name
	}
	return "the end after " + MemberSums
}

// member applies the rules of one member as it streams past.
func (w *walk) member(ctx context.Context, m *Member, p planned) (stop bool) {
	switch p.kind {
	case kindEnvelope:
		data, err := readCapped(m, MaxJSONMember)
		if err != nil {
			return w.fault(CheckStructure, err)
		}
		var meta *Meta
		meta, err = decodeMeta(data)
		w.meta = meta
		w.planFor(meta)
		if err == nil {
			err = checkMeta(meta)
		}
		if err != nil {
			return w.fault(CheckMetadata, fmt.Errorf("%w: %s: %w", ErrStructure, m.Name, err))
		}
		// The handler's refusal (an import's host gates) ends a strict
		// walk; Verify's handler refuses nothing.
		if err := w.h.Meta(ctx, meta); err != nil {
			return w.fault(CheckPolicy, err)
		}
	case kindJSON:
		data, err := readCapped(m, MaxJSONMember)
		if err != nil {
			return w.fault(CheckStructure, err)
		}
		if err := checkJSON(data); err != nil {
			return w.fault(CheckMetadata, fmt.Errorf("%w: %s: %w", ErrStructure, m.Name, err))
		}
		if ch, ok := w.h.(ContainerHandler); ok && m.Name == MemberContainer && w.faults[CheckMetadata] == nil {
			if err := ch.Container(ctx, data); err != nil {
				return w.fault(CheckPolicy, err)
			}
		}
	case kindTar:
		t := w.trees[p.tree]
		t.size = m.Size
		if w.meta != nil && t.declared.Size != m.Size {
			return w.structural("%s: %d bytes, but %s says %d", m.Name, m.Size, MemberEnvelope, t.declared.Size)
		}
		return w.tree(ctx, m, t)
	case kindSplit:
		t := w.trees[p.tree]
		if max := maxSplitSize(t.size); m.Size > max {
			return w.structural("%s: %d bytes, more than the metadata of a %d-byte tar can take (%d)", m.Name, m.Size, t.size, max)
		}
		if w.mode == collect {
			sum, n, err := digestTarSplit(m, t.size)
			if err != nil {
				return w.fault(CheckTarSplit, fmt.Errorf("%s: %w", m.Name, err))
			}
			t.envSplit, t.splitEntries = sum, n
		}
	case kindSums:
		data, err := readCapped(m, maxSums(len(w.plan)))
		if err != nil {
			return w.fault(CheckStructure, err)
		}
		w.sums = data
	}
	return false
}

// readCapped reads a whole small member, refusing one larger than max.
func readCapped(m *Member, max int64) ([]byte, error) {
	if m.Size > max {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than the %d allowed", ErrStructure, m.Name, m.Size, max)
	}
	data, err := io.ReadAll(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStructure, err)
	}
	return data, nil
}

// tree hands a tree's tar to the handler. A strict walk (an import)
// hands it the member as it is; a collecting one (a check) through a
// splitReader, which sums what tar-split would record of the same bytes,
// to compare with the envelope's tar-split member. Memory stays constant
// either way.
func (w *walk) tree(ctx context.Context, m *Member, t *treeRead) (stop bool) {
	if w.mode == strict {
		n, err := w.h.Tree(ctx, t.ref, m)
		if err == nil {
			err = zerosToEnd(m)
		}
		if err != nil {
			return w.treeFault(t, err)
		}
		t.done, t.entries = true, n
		return false
	}
	// One reading of the tar, the handler's: the splitReader folds what
	// it reads into what tar-split would record, to compare with the
	// envelope's tar-split member. A megabyte at a time from below.
	sr := newSplitReader(bufio.NewReaderSize(m, 1<<20))
	n, err := w.h.Tree(ctx, t.ref, sr)
	if err == nil {
		// What follows the tar's end is a segment too.
		err = zerosToEnd(sr)
	}
	if err != nil {
		return w.treeFault(t, err)
	}
	t.done, t.entries = true, n
	t.localSplit, t.rawHeaders = sr.sum.sum(), sr.sum.headers()
	return false
}

// zerosToEnd reads what follows a tar's end in its member: padding, as
// GNU tar pads to its record size, and nothing else. Data there would be
// part of the digest but of no tree.
func zerosToEnd(r io.Reader) error {
	buf := make([]byte, 32<<10)
	var off int64
	for {
		n, err := r.Read(buf)
		for i, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("%w: data after the end of the tar (byte %d after its end blocks is %#x)", ErrStructure, off+int64(i), b)
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("after the last entry: %w", err)
		}
	}
}

// treeFault notes a fault met while reading a tree's tar, naming the
// member unless the error does already (the member's own read errors
// do): structural if the stream broke, a fault of the tree's content
// otherwise.
func (w *walk) treeFault(t *treeRead, err error) bool {
	if !strings.HasPrefix(err.Error(), t.ref.Member+": ") {
		err = fmt.Errorf("%s: %w", t.ref.Member, err)
	}
	if errors.Is(err, ErrStructure) {
		return w.fault(CheckStructure, err)
	}
	return w.fault(CheckLayer, err)
}

// finish applies the rules that need the whole envelope: SHA256SUMS, the
// entry counts, and what tar-split recorded. Only the sums are compared
// after a structural fault; the rest needs a stream read to its end.
func (w *walk) finish() {
	if w.sums != nil {
		if err := compareSums(w.sums, w.digests, w.memberNames()); err != nil && w.fault(CheckChecksums, err) {
			return
		}
	}
	if w.faults[CheckStructure] != nil {
		return
	}
	for _, t := range w.trees {
		if !t.done {
			continue
		}
		if w.meta != nil && w.faults[CheckMetadata] == nil && t.entries != t.declared.Entries {
			if w.fault(CheckLayer, fmt.Errorf("%w: %s: %d entries, but %s says %d", ErrStructure, t.ref.Member, t.entries, MemberEnvelope, t.declared.Entries)) {
				return
			}
		}
		if t.envSplit != nil && w.faults[CheckLayer] == nil && !slices.Equal(t.localSplit, t.envSplit) {
			w.fault(CheckTarSplit, fmt.Errorf("%s does not describe %s as read (%d entries)", splitOf(t.ref.Member), t.ref.Member, t.splitEntries))
		}
	}
}

// memberNames are the names of the members planned.
func (w *walk) memberNames() []string {
	out := make([]string, len(w.plan))
	for i, p := range w.plan {
		out[i] = p.name
	}
	return out
}

// splitOf names the tar-split member of a tree's tar member.
func splitOf(tarMember string) string { return tarMember + "-split.json.gz" }
