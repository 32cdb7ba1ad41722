package overlay

import (
	"archive/tar"
	"crypto/sha256"
	"hash"
	"strings"
)

// blank stands for file contents in CanonicalHeaders.
var blank = make([]byte, 64<<10)

// CanonicalHeaders re-encodes the entries of a layer, as a [Validator]
// normalized them, the way [Write] writes them, and hashes every byte of
// that tar but the file contents: equal to the same hash of the tar as
// read, the tar is canonical, byte for byte. Only what Write sets is
// kept of each header (name, type, mode, numeric owner, mtime, size, link
// target, device numbers, xattrs).
type CanonicalHeaders struct {
	s   *headerHash
	tw  *tar.Writer
	err error
}

// headerHash hashes what is written to it, but not in data mode.
type headerHash struct {
	h    hash.Hash
	data bool
}

func (h *headerHash) Write(p []byte) (int, error) {
	if !h.data {
		h.h.Write(p)
	}
	return len(p), nil
}

// NewCanonicalHeaders starts an empty encoding.
func NewCanonicalHeaders() *CanonicalHeaders {
	s := &headerHash{h: sha256.New()}
	return &CanonicalHeaders{s: s, tw: tar.NewWriter(s)}
}

// Add encodes one entry.
func (c *CanonicalHeaders) Add(hdr *tar.Header) {
	if c.err != nil {
		return
	}
	h := &tar.Header{
		Name: hdr.Name, Typeflag: hdr.Typeflag, Mode: hdr.Mode & 0o7777,
		Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime, Format: tar.FormatPAX,
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		h.Size = hdr.Size
	case tar.TypeLink, tar.TypeSymlink:
		h.Linkname = hdr.Linkname
	case tar.TypeChar, tar.TypeBlock:
		h.Devmajor, h.Devminor = hdr.Devmajor, hdr.Devminor
	}
	for k, v := range hdr.PAXRecords {
		if strings.HasPrefix(k, xattrRecord) {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords[k] = v
		}
	}
	if c.err = c.tw.WriteHeader(h); c.err != nil || h.Size == 0 {
		return
	}
	// The contents are not hashed: any bytes of the right length do.
	c.s.data = true
	for n := h.Size; n > 0 && c.err == nil; n -= min(n, int64(len(blank))) {
		_, c.err = c.tw.Write(blank[:min(n, int64(len(blank)))])
	}
	c.s.data = false
}

// Sum ends the encoding and returns its hash, and false if an entry
// could not be encoded.
func (c *CanonicalHeaders) Sum() (sum [sha256.Size]byte, ok bool) {
	if c.err == nil {
		c.err = c.tw.Close()
	}
	c.s.h.Sum(sum[:0])
	return sum, c.err == nil
}
