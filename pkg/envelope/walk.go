package envelope

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
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
// in their mode and in the handler that reads layer.tar.
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
	meta      *Meta
	digests   map[string]string // member name -> hex sha256
	sums      []byte
	layerSize int64
	// layerDone: layer.tar was read to its end without a fault, so
	// entries and the tar-split records below are whole.
	layerDone bool
	entries   int64
	// What tar-split recorded of layer.tar as it went past: with a
	// Stager, layer.tar reassembled from the staged files; otherwise a
	// digest to compare with the envelope's own tar-split metadata.
	reassembled string
	headers     [sha256.Size]byte
	localSplit  []byte
	// envSplit is the digest of layer.tar-split.json.gz's entries, and
	// splitEntries their number: read in collect mode only, since an
	// import records its own metadata from layer.tar and never uses the
	// envelope's.
	envSplit     []byte
	splitEntries int
}

func newWalk(m mode, h Handler) *walk {
	return &walk{mode: m, h: h, faults: map[string]error{}, digests: map[string]string{}}
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
			if errors.Is(err, errCut) && next < len(Members) {
				w.structural("member %s missing: the stream stops after %s", Members[next], orStart(er.last))
				return
			}
			w.fault(CheckStructure, err)
			return
		}
		switch {
		case next < len(Members) && m.Name == Members[next]:
			next++
		case slices.Contains(Members, m.Name):
			w.structural("member %s out of order: expected %s", m.Name, expected(next))
			return
		default:
			w.structural("unexpected member %q: expected %s", m.Name, expected(next))
			return
		}
		if w.member(ctx, m) {
			return
		}
		if _, err := io.Copy(io.Discard, m); err != nil {
			w.fault(CheckStructure, err)
			return
		}
		w.digests[m.Name] = m.Digest()
	}
	if next < len(Members) {
		w.structural("member %s missing", Members[next])
		return
	}
	if err := er.Close(); err != nil {
		w.fault(CheckStructure, err)
	}
}

// expected names what should have come after next members.
func expected(next int) string {
	if next < len(Members) {
		return Members[next]
	}
	return "the end after " + MemberSums
}

// member applies the rules of one member as it streams past.
func (w *walk) member(ctx context.Context, m *Member) (stop bool) {
	switch m.Name {
	case MemberEnvelope:
		data, err := readCapped(m, MaxJSONMember)
		if err != nil {
			return w.fault(CheckStructure, err)
		}
		var meta *Meta
		meta, err = decodeMeta(data)
		w.meta = meta
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
	case MemberContainer, MemberInfo:
		data, err := readCapped(m, MaxJSONMember)
		if err != nil {
			return w.fault(CheckStructure, err)
		}
		if err := checkJSON(data); err != nil {
			return w.fault(CheckMetadata, fmt.Errorf("%w: %s: %w", ErrStructure, m.Name, err))
		}
	case MemberLayer:
		w.layerSize = m.Size
		if w.meta != nil && w.meta.Layer.Size != m.Size {
			return w.structural("%s: %d bytes, but %s says %d", m.Name, m.Size, MemberEnvelope, w.meta.Layer.Size)
		}
		return w.layer(ctx, m)
	case MemberTarSplit:
		if max := maxSplitSize(w.layerSize); m.Size > max {
			return w.structural("%s: %d bytes, more than the metadata of a %d-byte layer can take (%d)", m.Name, m.Size, w.layerSize, max)
		}
		if w.mode == collect {
			sum, n, err := digestTarSplit(m, w.layerSize)
			if err != nil {
				return w.fault(CheckTarSplit, fmt.Errorf("%s: %w", m.Name, err))
			}
			w.envSplit, w.splitEntries = sum, n
		}
	case MemberSums:
		data, err := readCapped(m, maxSums)
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

// layer hands layer.tar to the handler while tar-split records the same
// bytes in its own goroutine: into a reassembly from the staged files for
// a Stager, into a digest otherwise. Memory stays constant either way.
func (w *walk) layer(ctx context.Context, m *Member) (stop bool) {
	var rec storage.Packer
	var re *reassembler
	var split *splitDigest
	if st, ok := w.h.(Stager); ok {
		re = &reassembler{h: sha256.New(), hdrs: sha256.New(), staged: st.Staged, buf: make([]byte, 1<<20)}
		rec = re
	} else {
		split = newSplitDigest()
		rec = split
	}
	count := &entryCounter{Packer: rec}
	// The crc64s of tar-split's records only matter where they are
	// compared with the envelope's metadata: a reassembly is checked by
	// its sha256 against layer.tar's.
	putter := newBoundedPutter(m.Size, re == nil)
	tee, done, err := asm.NewInputTarStreamWithDone(m, count, putter)
	if err != nil {
		return w.fault(CheckStructure, err)
	}
	// Closing the tee on an early return stops tar-split's goroutine,
	// which would otherwise wait on the pipe forever.
	defer func() {
		if done != nil {
			putter.stop.Store(true)
			tee.Close()
			<-done
		}
	}()
	if err := w.h.Layer(ctx, tee); err != nil {
		return w.layerFault(err)
	}
	// The handler stops at the tar's end; tar-split wants the padding too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return w.layerFault(fmt.Errorf("after the last entry: %w", err))
	}
	// tar-split's goroutine is done with its last entry only now.
	tee.Close()
	err = <-done
	done = nil
	if err != nil {
		return w.layerFault(err)
	}
	w.layerDone, w.entries = true, count.n
	if re != nil {
		w.reassembled = "sha256:" + hex.EncodeToString(re.h.Sum(nil))
		re.hdrs.Sum(w.headers[:0])
	} else {
		w.localSplit = split.sum()
	}
	return false
}

// layerFault notes a fault met while reading layer.tar, naming the member
// unless the error does already (the member's own read errors do):
// structural if the stream broke, a fault of the layer's content
// otherwise.
func (w *walk) layerFault(err error) bool {
	if !strings.HasPrefix(err.Error(), MemberLayer+": ") {
		err = fmt.Errorf("%s: %w", MemberLayer, err)
	}
	if errors.Is(err, ErrStructure) {
		return w.fault(CheckStructure, err)
	}
	return w.fault(CheckLayer, err)
}

// finish applies the rules that need the whole envelope: SHA256SUMS, the
// entry count, and what tar-split recorded. Only the sums are compared
// after a structural fault; the rest needs a stream read to its end.
func (w *walk) finish() {
	if w.sums != nil {
		if err := compareSums(w.sums, w.digests); err != nil && w.fault(CheckChecksums, err) {
			return
		}
	}
	if w.faults[CheckStructure] != nil || !w.layerDone {
		return
	}
	if w.meta != nil && w.faults[CheckMetadata] == nil && w.entries != w.meta.Layer.Entries {
		if w.fault(CheckLayer, fmt.Errorf("%w: %s: %d entries, but %s says %d", ErrStructure, MemberLayer, w.entries, MemberEnvelope, w.meta.Layer.Entries)) {
			return
		}
	}
	if layer := "sha256:" + w.digests[MemberLayer]; w.reassembled != "" && w.reassembled != layer {
		if w.fault(CheckLayer, fmt.Errorf("%s: reassembled %s, read %s: %w", MemberLayer, w.reassembled, layer, ErrReassembly)) {
			return
		}
	}
	if w.envSplit != nil && w.faults[CheckLayer] == nil && !slices.Equal(w.localSplit, w.envSplit) {
		w.fault(CheckTarSplit, fmt.Errorf("%s does not describe %s as read (%d entries)", MemberTarSplit, MemberLayer, w.splitEntries))
	}
}

// entryCounter counts the tar entries tar-split meets: one file record
// for each header archive/tar returns, whatever its type.
type entryCounter struct {
	storage.Packer
	n int64
}

func (c *entryCounter) AddEntry(e storage.Entry) (int, error) {
	if e.Type == storage.FileType {
		c.n++
	}
	return c.Packer.AddEntry(e)
}
