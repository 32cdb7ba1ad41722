package cli_test

// Commands for the scripts of issue 13 (any valid OCI layer imports; check
// and import agree), registered in scriptParams:
//
//	wraplayer TEMPLATE LAYER OUT    write OUT, an envelope v1 whose layer.tar
//	                                is the tar LAYER (see wrapLayer)
//	tarlisting TAR OUTFILE          write one sorted line per entry of TAR
//	                                (see cmdTarlisting)
//	gocorpus TEMPLATE [ARCHIVE...]  import each archive of Go's archive/tar
//	                                tests and compare (gocorpus_linux_test.go)

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"

	"github.com/layer-tool/layer-tool/pkg/envelope"
)

// cmdWraplayer: wraplayer TEMPLATE LAYER OUT
func cmdWraplayer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: wraplayer TEMPLATE LAYER OUT")
	}
	layer, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	env, err := wrapLayer(ts.MkAbs(args[0]), layer)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), env, 0o644))
}

// wrapLayer returns an envelope v1 that carries layer as its layer.tar and
// is otherwise correct: envelope.json, container.json and docker-info.json
// are the template's (an envelope v1 layer-export wrote, in any
// compression), with envelope.json's layer size and entry count set to
// layer's; layer.tar-split.json.gz is what tar-split records of layer; and
// SHA256SUMS is made anew. The members are written as doc.go has them
// (PAX headers, mode 0644, owner 0:0, the created time), uncompressed.
//
// envelope.Write does not fit: it records tar-split with storage's JSON
// packer, which refuses a name twice, and fails where tar-split cannot
// parse the layer, while a layer from elsewhere may do both and the test
// wants its envelope anyway, for layer-check and layer-import to judge.
func wrapLayer(template string, layer []byte) ([]byte, error) {
	members, err := readMembers(template)
	if err != nil {
		return nil, err
	}
	var meta envelope.Meta
	if err := json.Unmarshal(members[envelope.MemberEnvelope], &meta); err != nil {
		return nil, fmt.Errorf("template %s: %s: %w", template, envelope.MemberEnvelope, err)
	}
	if meta.Format != envelope.Format {
		return nil, fmt.Errorf("template %s: format %q, want an envelope v1 (%q)", template, meta.Format, envelope.Format)
	}
	meta.Layer = envelope.Layer{Size: int64(len(layer)), Entries: tarEntries(layer)}
	metaJSON, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, err
	}
	split, err := tarSplit(layer)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	var sums strings.Builder
	write := func(name string, data []byte) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644,
			ModTime: meta.Created.Truncate(time.Second), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		sum := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
		return err
	}
	for _, m := range []struct {
		name string
		data []byte
	}{
		{envelope.MemberEnvelope, append(metaJSON, '\n')},
		{envelope.MemberContainer, members[envelope.MemberContainer]},
		{envelope.MemberInfo, members[envelope.MemberInfo]},
		{envelope.MemberLayer, layer},
		{envelope.MemberTarSplit, split},
	} {
		if err := write(m.name, m.data); err != nil {
			return nil, fmt.Errorf("write %s: %w", m.name, err)
		}
	}
	if err := write(envelope.MemberSums, []byte(sums.String())); err != nil {
		return nil, fmt.Errorf("write %s: %w", envelope.MemberSums, err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// readMembers reads the members of the envelope in file, by name.
func readMembers(file string) (map[string][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := envelope.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	members := map[string][]byte{}
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return members, nil
		}
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", file, err)
		}
		if members[m.Name], err = io.ReadAll(m); err != nil {
			return nil, fmt.Errorf("template %s: %w", file, err)
		}
	}
}

// tarEntries counts the headers archive/tar reads of layer before its end
// or its first error, as pkg/transfer's TestGoTarCorpus does, and as that
// test at most one per 512 bytes (a header takes a block).
func tarEntries(layer []byte) int64 {
	var n int64
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		if _, err := tr.Next(); err != nil {
			break
		}
		n++
	}
	return min(n, int64(len(layer))/512)
}

// tarSplit is the gzipped tar-split metadata of what tar-split can read of
// layer (all of it, for a tar it can parse).
func tarSplit(layer []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if tee, err := asm.NewInputTarStream(bytes.NewReader(layer), &splitPacker{enc: json.NewEncoder(zw)}, storage.NewDiscardFilePutter()); err == nil {
		io.Copy(io.Discard, tee)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// splitPacker writes tar-split entries as JSON lines, as storage's JSON
// packer does, without its refusal of a name seen twice (a layer may name
// a path twice; the later entry wins).
type splitPacker struct {
	enc *json.Encoder
	pos int
}

func (p *splitPacker) AddEntry(e storage.Entry) (int, error) {
	e.Position = p.pos
	p.pos++
	return e.Position, p.enc.Encode(e)
}

// cmdTarlisting: tarlisting TAR OUTFILE. One line per entry of TAR, sorted:
//
//	PATH TYPE MODE UID:GID SIZE SHA256 LINK DEV XATTRS MTIME LINKS
//
// tab-separated; PATH (without "./" in front or "/" behind) and LINK
// Go-quoted. TYPE is reg, dir, symlink, char, block or fifo; MODE octal
// with the setuid, setgid and sticky bits but not the file-type bits; SIZE
// and SHA256 only for regular files; LINK a symlink's target; DEV
// major:minor of devices; XATTRS "name=hex" sorted; MTIME in seconds. A
// hard link is listed as the file it links to, and each name of a
// hard-link group has the group's names in LINKS ("-" for the others).
//
// It is made for docker export, which keeps of a tree: names, types,
// modes, numeric owners, sizes, contents, link targets, device numbers,
// mtimes truncated to seconds, and of the xattrs security.capability alone
// (moby's pkg/archive reads no other); it writes a hard link as a link to
// the first of its names the walk meets, in directory order, which may
// differ between two trees of the same names (hence LINKS). MTIME is "-"
// for the entries of Docker's init layer (initLayerPaths), which each
// container gets anew when it is created.
func cmdTarlisting(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tarlisting TAR OUTFILE")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	t, err := readTarTree(f)
	ts.Check(err)
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(t)) {
		b.WriteString(t.line(name) + "\n")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o666))
}

// initLayerPaths are what Docker's init layer makes in every container
// when it is created (moby's daemon/initlayer: /dev/pts, /dev/shm,
// /.dockerenv, /etc/resolv.conf, /etc/hosts, /etc/hostname, /dev/console,
// /etc/mtab), with the directories that get them: their mtimes are that
// container's creation time, in any two containers different.
var initLayerPaths = map[string]bool{
	".dockerenv": true, "dev": true, "dev/console": true, "dev/pts": true, "dev/shm": true,
	"etc": true, "etc/hostname": true, "etc/hosts": true, "etc/mtab": true, "etc/resolv.conf": true,
}

// tarNode is an entry of a tar, a line of tarlisting.
type tarNode struct {
	name, typ   string
	mode        int64
	uid, gid    int
	size, sum   string
	link, dev   string
	xattrs      string
	mtime       string
	linkedNames string // the names of its hard-link group, else ""
}

func (n tarNode) String() string {
	link := "-"
	if n.link != "" {
		link = strconv.Quote(n.link)
	}
	links := n.linkedNames
	if links == "" {
		links = "-"
	}
	return fmt.Sprintf("%s\t%s\t%04o\t%d:%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
		strconv.Quote(n.name), n.typ, n.mode, n.uid, n.gid, n.size, n.sum, link, n.dev, n.xattrs, n.mtime, links)
}

// line is tarlisting's line of name, "(missing)" if the tree has none,
// without the init layer's mtimes.
func (t tarTree) line(name string) string {
	n, ok := t[name]
	if !ok {
		return "(missing)"
	}
	if initLayerPaths[name] {
		n.mtime = "-"
	}
	return n.String()
}

// readTarTree reads a tar as a tree, its hard links resolved.
func readTarTree(r io.Reader) (tarTree, error) {
	nodes, err := readTarNodes(r)
	if err != nil {
		return nil, err
	}
	t := tarTree{}
	for _, n := range nodes {
		t[n.name] = n
	}
	return t, t.resolveLinks()
}

// tarTree is the tree a tar makes, by path. Once its links are resolved,
// a hard link stands as its target does (type, mode, owner, contents,
// mtime), and every name of a hard-link group has the group's names in
// linkedNames, so that which name a tar writes as the file and which as
// links does not matter.
type tarTree map[string]tarNode

// resolveLinks replaces each hard link by the node it links to, following
// chains, and records the groups.
func (t tarTree) resolveLinks() error {
	groups := map[string][]string{}
	for name, n := range t {
		if n.typ != "hardlink" {
			continue
		}
		root := n
		for i := 0; root.typ == "hardlink"; i++ {
			next, ok := t[root.link]
			if !ok || i > len(t) {
				return fmt.Errorf("hard link %q: no file %q", name, root.link)
			}
			root = next
		}
		groups[root.name] = append(groups[root.name], name)
	}
	for root, names := range groups {
		names = append(names, root)
		sort.Strings(names)
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = strconv.Quote(n)
		}
		file := t[root]
		file.linkedNames = strings.Join(quoted, ",")
		for _, n := range names {
			node := file
			node.name = n
			t[n] = node
		}
	}
	return nil
}

// cleanTarName is a tar entry's name without "./" in front or "/"
// behind; "" for the root.
func cleanTarName(name string) string {
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimRight(name, "/")
	if name == "." {
		return ""
	}
	return name
}

// readTarNodes reads the entries of a tar, in the tar's order, without a
// root entry or PAX global headers; a hard link is of type "hardlink",
// with the name it links to as link.
func readTarNodes(r io.Reader) ([]tarNode, error) {
	tr := tar.NewReader(r)
	var nodes []tarNode
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nodes, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader || cleanTarName(hdr.Name) == "" {
			continue
		}
		n, err := newTarNode(hdr, tr)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
}

// newTarNode is the line of hdr, whose contents r reads.
func newTarNode(hdr *tar.Header, r io.Reader) (tarNode, error) {
	n := tarNode{name: cleanTarName(hdr.Name), mode: hdr.Mode & 0o7777, uid: hdr.Uid, gid: hdr.Gid,
		size: "-", sum: "-", dev: "-", xattrs: "-", mtime: strconv.FormatInt(hdr.ModTime.Unix(), 10)}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		h := sha256.New()
		size, err := io.Copy(h, r)
		if err != nil {
			return n, fmt.Errorf("%q: %w", hdr.Name, err)
		}
		n.typ, n.size, n.sum = "reg", strconv.FormatInt(size, 10), hex.EncodeToString(h.Sum(nil))
	case tar.TypeDir:
		n.typ = "dir"
	case tar.TypeSymlink:
		n.typ, n.link = "symlink", hdr.Linkname
	case tar.TypeLink:
		n.typ, n.link = "hardlink", cleanTarName(hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		n.typ = "char"
		if hdr.Typeflag == tar.TypeBlock {
			n.typ = "block"
		}
		n.dev = fmt.Sprintf("%d:%d", hdr.Devmajor, hdr.Devminor)
	case tar.TypeFifo:
		n.typ = "fifo"
	default:
		n.typ = fmt.Sprintf("type%q", hdr.Typeflag)
	}
	var xattrs []string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			xattrs = append(xattrs, name+"="+hex.EncodeToString([]byte(v)))
		}
	}
	if len(xattrs) > 0 {
		sort.Strings(xattrs)
		n.xattrs = strings.Join(xattrs, ",")
	}
	return n, nil
}
