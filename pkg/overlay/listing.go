package overlay

import (
	"archive/tar"
	"strings"
	"time"
	"unsafe"
)

// An export measures a tree (the size of its tar goes before it) and then
// writes it. Walking it again for the writing pass doubled the metadata
// system calls (getdents, fstatat, listxattr for every entry), a third of
// an export's CPU on a tree of small files. A Listing keeps what the
// measuring pass saw, compactly, within a memory bound: the writing pass
// then only opens and reads the files with contents.
type Listing struct {
	root   string
	rootID nodeID // the root's before the measuring pass
	// chunks of listChunk entries: a growing slice of them all was
	// copied over and over (4% of a measuring pass).
	chunks [][]listed
	n      int
	bytes  int
	limit  int
	over   bool
}

// listed is one entry of a Listing: its header, compactly.
type listed struct {
	name, link   string
	pax          map[string]string
	size, sec    int64
	nsec         int32
	mode         uint32
	uid, gid     uint32
	major, minor uint32
	flag         byte
	sparse       bool
	id           nodeID
}

// listedSize is the memory of a listed entry but its strings' bytes.
const listedSize = int(unsafe.Sizeof(listed{}))

// maxListedDepth: a tree deeper than this is not listed. The writing pass
// holds a directory descriptor for each level of the path it is in, as
// the walk does up to its maxHeld (256).
const maxListedDepth = 254

// Bytes is about the memory l holds.
func (l *Listing) Bytes() int { return l.bytes }

// Entries is the number of entries l holds.
func (l *Listing) Entries() int { return l.n }

const listChunk = 1024

// entry is the i-th entry.
func (l *Listing) entry(i int) *listed { return &l.chunks[i/listChunk][i%listChunk] }

func (l *Listing) keep(e *entry) {
	if l.over {
		return
	}
	h := e.hdr
	n := listedSize + len(h.Name) + len(h.Linkname)
	for k, v := range h.PAXRecords {
		n += len(k) + len(v) + 64
	}
	if l.bytes+n > l.limit || strings.Count(h.Name, "/") > maxListedDepth {
		l.over, l.chunks = true, nil
		return
	}
	l.bytes += n
	if l.n%listChunk == 0 {
		l.chunks = append(l.chunks, make([]listed, 0, listChunk))
	}
	l.n++
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, listed{
		name: h.Name, link: h.Linkname, pax: h.PAXRecords,
		size: h.Size, sec: h.ModTime.Unix(), nsec: int32(h.ModTime.Nanosecond()),
		mode: uint32(h.Mode), uid: uint32(h.Uid), gid: uint32(h.Gid),
		major: uint32(h.Devmajor), minor: uint32(h.Devminor),
		flag: h.Typeflag, sparse: e.sparse, id: e.id,
	})
}

// header is the entry's header as the walk made it.
func (e *listed) header() *tar.Header {
	return &tar.Header{
		Typeflag:   e.flag,
		Name:       e.name,
		Linkname:   e.link,
		Size:       e.size,
		Mode:       int64(e.mode),
		Uid:        int(e.uid),
		Gid:        int(e.gid),
		ModTime:    time.Unix(e.sec, int64(e.nsec)),
		Devmajor:   int64(e.major),
		Devminor:   int64(e.minor),
		PAXRecords: e.pax,
	}
}

// contents: the entry is a file whose contents are read.
func (e *listed) contents() bool { return e.flag == tar.TypeReg && e.size > 0 }
