package overlay

import (
	"archive/tar"
	"path"
	"strings"
)

// Whiteout naming from the OCI image spec (layer.md, "Whiteouts").
const (
	// WhiteoutPrefix marks a deleted name: ".wh.NAME" deletes NAME.
	WhiteoutPrefix = ".wh."
	// WhiteoutOpaque, inside a directory, hides everything the lower
	// layers had in it.
	WhiteoutOpaque = WhiteoutPrefix + WhiteoutPrefix + ".opq"
)

// Stats counts the entries of a layer by kind.
type Stats struct {
	Entries   int64 `json:"entries"`
	Files     int64 `json:"files"`
	Dirs      int64 `json:"dirs"`
	Symlinks  int64 `json:"symlinks"`
	Hardlinks int64 `json:"hardlinks"`
	Whiteouts int64 `json:"whiteouts"`
	Opaques   int64 `json:"opaqueDirs"`
	Devices   int64 `json:"devices"`
	Fifos     int64 `json:"fifos"`
	Setuid    int64 `json:"setuidFiles"`
	Xattrs    int64 `json:"xattrs"`
	// Bytes is the sum of the regular files' sizes.
	Bytes int64 `json:"bytes"`
}

// Kind names what a layer entry stands for.
type Kind int

// The kinds of layer entry.
const (
	KindOther Kind = iota
	KindFile
	KindDir
	KindSymlink
	KindHardlink
	KindWhiteout
	KindOpaque
	KindDevice
	KindFifo
)

// Classify tells what a layer tar header stands for. Whiteouts and opaque
// markers are recognised by name, as every consumer of OCI layers does.
func Classify(hdr *tar.Header) Kind { return classify(hdr, false) }

// ClassifyPlain tells what an entry of a plain tree's tar (see [Options]
// Plain) stands for: by its type alone, so a file named ".wh.x" is a
// file, and there are neither whiteouts nor opaque markers.
func ClassifyPlain(hdr *tar.Header) Kind { return classify(hdr, true) }

func classify(hdr *tar.Header, plain bool) Kind {
	base := path.Base(strings.TrimSuffix(hdr.Name, "/"))
	switch hdr.Typeflag {
	case tar.TypeReg:
		switch {
		case plain:
		case base == WhiteoutOpaque:
			return KindOpaque
		case strings.HasPrefix(base, WhiteoutPrefix):
			return KindWhiteout
		}
		return KindFile
	case tar.TypeDir:
		return KindDir
	case tar.TypeSymlink:
		return KindSymlink
	case tar.TypeLink:
		return KindHardlink
	case tar.TypeChar, tar.TypeBlock:
		return KindDevice
	case tar.TypeFifo:
		return KindFifo
	}
	return KindOther
}

// Add counts one entry of a layer.
func (s *Stats) Add(hdr *tar.Header) { s.add(hdr, false) }

// AddPlain counts one entry of a plain tree's tar, as [ClassifyPlain]
// classifies it: it counts no whiteouts and no opaque directories.
func (s *Stats) AddPlain(hdr *tar.Header) { s.add(hdr, true) }

func (s *Stats) add(hdr *tar.Header, plain bool) {
	s.Entries++
	switch classify(hdr, plain) {
	case KindFile:
		s.Files++
		s.Bytes += hdr.Size
	case KindDir:
		s.Dirs++
	case KindSymlink:
		s.Symlinks++
	case KindHardlink:
		s.Hardlinks++
	case KindWhiteout:
		s.Whiteouts++
	case KindOpaque:
		s.Opaques++
	case KindDevice:
		s.Devices++
	case KindFifo:
		s.Fifos++
	}
	if hdr.Typeflag != tar.TypeDir && hdr.Mode&(04000|02000) != 0 {
		s.Setuid++
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, xattrRecord) {
			s.Xattrs++
		}
	}
}

// xattrRecord prefixes the PAX records that carry extended attributes.
const xattrRecord = "SCHILY.xattr."
