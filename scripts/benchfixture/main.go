// Command benchfixture fills a directory (a benchmark container's overlay2
// upper directory, written from the host) with the deterministic content of
// one of scripts/bench.sh's fixtures. It is a helper of that script only;
// nothing in the product imports or builds it.
//
//	go run ./scripts/benchfixture small   DIR [-files 20000]
//	go run ./scripts/benchfixture large   DIR [-size-mib 512]
//	go run ./scripts/benchfixture mixed   DIR [-files 5000]
//	go run ./scripts/benchfixture million DIR [-entries 1000000]
//
// The content comes from a ChaCha8 generator with a fixed seed: the same
// command gives the same bytes (and names, sizes, links) on every run. Data is
// partly compressible: a share of each file is random bytes, the rest
// repeated text or zeros. Extended attributes are left to the script
// (setfattr), so the tool stays stdlib-only.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// mtime is the fixed modification time of everything written, so that the
// fixture's layer is the same from one build to the next.
var mtime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

const text = `function resolve(id, opts) { // module resolution, as bundlers do
  const paths = opts.paths || [process.cwd()];
  for (const p of paths) { if (exists(join(p, id))) return join(p, id); }
  throw new Error("Cannot find module '" + id + "'");
}
`

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: benchfixture small|large|mixed|million DIR [flags]")
		os.Exit(2)
	}
	kind, dir := os.Args[1], os.Args[2]
	fs := flag.NewFlagSet(kind, flag.ExitOnError)
	files := fs.Int("files", 0, "number of regular files (small, mixed)")
	sizeMiB := fs.Int64("size-mib", 512, "size of each large file in MiB")
	entries := fs.Int("entries", 1000000, "number of empty files (million)")
	seed := fs.Uint64("seed", 1, "seed of the content generator")
	_ = fs.Parse(os.Args[3:])

	g := &gen{r: rand.New(rand.NewPCG(*seed, 0x6c61796572)), c: rand.NewChaCha8(seedBytes(*seed))}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		fail(fmt.Errorf("%s: not a directory", dir))
	}
	switch kind {
	case "small":
		err = small(g, dir, orDefault(*files, 20000))
	case "large":
		err = large(g, dir, *sizeMiB<<20)
	case "mixed":
		err = mixed(g, dir, orDefault(*files, 5000))
	case "million":
		err = million(dir, *entries)
	default:
		err = fmt.Errorf("unknown fixture %q", kind)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchfixture:", err)
	os.Exit(1)
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func seedBytes(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	copy(b[8:], "layer-tool bench fixture")
	return b
}

// gen is the deterministic source of choices (r) and of random bytes (c).
type gen struct {
	r *rand.Rand
	c *rand.ChaCha8
}

// fill writes n bytes into buf[:n]: the first randomShare of it random, the
// rest repeated text.
func (g *gen) fill(buf []byte, randomShare float64) []byte {
	n := len(buf)
	k := int(float64(n) * randomShare)
	_, _ = g.c.Read(buf[:k])
	for i := k; i < n; {
		i += copy(buf[i:], text)
	}
	return buf
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil { // umask-independent
		return err
	}
	return os.Chtimes(path, mtime, mtime)
}

func mkdir(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	return os.Chmod(path, 0o755)
}

// fixTimes sets every directory's mtime (writing files into it changed it).
func fixTimes(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			return err
		}
	}
	return nil
}

// small: a node_modules-like tree under app/node_modules: packages with
// nested lib/, dist/, src/ directories; files of 0.1-16 KiB (skewed towards
// the top, ~10 KiB on average), half random half text.
func small(g *gen, dir string, files int) error {
	root := filepath.Join(dir, "app", "node_modules")
	subdirs := []string{"lib", "dist", "src", "lib/internal", "dist/esm", "dist/cjs", "test", "src/utils"}
	exts := []string{".js", ".d.ts", ".json", ".map", ".md", ".mjs"}
	buf := make([]byte, 16<<10)
	written := 0
	for pkg := 0; written < files; pkg++ {
		name := fmt.Sprintf("pkg-%04d", pkg)
		if pkg%7 == 0 {
			name = fmt.Sprintf("@scope-%02d/%s", pkg%50, name)
		}
		pdir := filepath.Join(root, name)
		if pkg%11 == 3 { // nested dependencies, as npm does on conflicts
			pdir = filepath.Join(root, fmt.Sprintf("pkg-%04d", pkg-1), "node_modules", name)
		}
		n := 5 + g.r.IntN(40)
		for i := 0; i < n && written < files; i++ {
			sub := ""
			if i > 0 {
				sub = subdirs[g.r.IntN(len(subdirs))]
			}
			d := filepath.Join(pdir, sub)
			if err := mkdir(d); err != nil {
				return err
			}
			size := 100 + int(float64(16384-100)*math.Sqrt(g.r.Float64()))
			fname := fmt.Sprintf("file%03d%s", i, exts[g.r.IntN(len(exts))])
			if i == 0 {
				fname = "package.json"
			}
			if err := writeFile(filepath.Join(d, fname), g.fill(buf[:size], 0.5), 0o644); err != nil {
				return err
			}
			written++
		}
	}
	return fixTimes(dir)
}

// large: big/dense-a.bin and big/dense-b.bin (sizeBytes each, dense: 1 MiB
// blocks that are random, zeros or text in turn), and big/sparse.img
// (sizeBytes apparent, eight 8 MiB data extents with holes between: 64 MiB
// allocated at the default size).
func large(g *gen, dir string, sizeBytes int64) error {
	d := filepath.Join(dir, "big")
	if err := mkdir(d); err != nil {
		return err
	}
	const block = 1 << 20
	buf := make([]byte, block)
	zeros := make([]byte, block)
	// Shares of random/zero/text blocks: a is half random (compresses ~2x),
	// b is a quarter random.
	for _, f := range []struct {
		name    string
		pattern string // one letter per block: r random, z zeros, t text
	}{{"dense-a.bin", "rrzt"}, {"dense-b.bin", "rztt"}} {
		path := filepath.Join(d, f.name)
		out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(out, 4<<20)
		for i := int64(0); i < sizeBytes/block; i++ {
			var b []byte
			switch f.pattern[i%int64(len(f.pattern))] {
			case 'r':
				b = g.fill(buf, 1)
			case 'z':
				b = zeros
			default:
				b = g.fill(buf, 0)
			}
			if _, err := w.Write(b); err != nil {
				out.Close()
				return err
			}
		}
		if err := w.Flush(); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			return err
		}
	}

	path := filepath.Join(d, "sparse.img")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	extent := sizeBytes / 64 // 8 MiB of data per extent at 512 MiB
	for e := range int64(8) {
		off := e * (sizeBytes / 8)
		for o := int64(0); o < extent; o += block {
			n := min(block, extent-o)
			if _, err := out.WriteAt(g.fill(buf[:n], 0.5), off+o); err != nil {
				out.Close()
				return err
			}
		}
	}
	if err := out.Truncate(sizeBytes); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return err
	}
	return fixTimes(dir)
}

// mixed: under data/: regular files of many sizes (a few large ones carry most
// of the ~1 GiB), hard links (within and across directories), relative,
// absolute and dangling symlinks, a fifo, empty files and directories, a
// setuid and executable files, other owners, names over 100 bytes, paths over
// 255 bytes, and unicode names. Deletions (whiteouts) and the opaque
// directory come from the container itself; xattrs from the script.
func mixed(g *gen, dir string, files int) error {
	root := filepath.Join(dir, "data")
	buf := make([]byte, 16<<20)
	var made []string
	nbig := max(files/50, 1) // 100 files of ~8.4 MiB at 5000 files
	for i := range files {
		d := filepath.Join(root, fmt.Sprintf("d%02d", i%40), fmt.Sprintf("s%d", i%7))
		if err := mkdir(d); err != nil {
			return err
		}
		var size int
		if i%(files/nbig) == 0 {
			size = 6<<20 + g.r.IntN(5<<20) // 6-11 MiB
		} else {
			size = 1 + g.r.IntN(64<<10)
		}
		if i%97 == 0 {
			size = 0
		}
		p := filepath.Join(d, fmt.Sprintf("f%05d.dat", i))
		mode := os.FileMode(0o644)
		if i%13 == 0 {
			mode = 0o755
		}
		if err := writeFile(p, g.fill(buf[:size], 0.5), mode); err != nil {
			return err
		}
		switch i % 29 {
		case 5:
			if err := os.Lchown(p, 1000, 1000); err != nil {
				return err
			}
		case 6:
			if err := os.Lchown(p, 65534, 65534); err != nil {
				return err
			}
		}
		made = append(made, p)
	}

	// Hard links: 150 extra names, some in the same directory, some across,
	// a few files with three names.
	ln := filepath.Join(root, "links")
	if err := mkdir(ln); err != nil {
		return err
	}
	for i := range 150 {
		src := made[(i*31)%len(made)]
		var dst string
		if i%3 == 0 {
			dst = src + fmt.Sprintf(".hl%d", i)
		} else {
			dst = filepath.Join(ln, fmt.Sprintf("hard-%03d", i))
		}
		if err := os.Link(src, dst); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}

	// Symlinks: relative, absolute, to directories, dangling.
	sl := filepath.Join(root, "symlinks")
	if err := mkdir(sl); err != nil {
		return err
	}
	for i := range 300 {
		var target string
		switch i % 4 {
		case 0:
			rel, _ := filepath.Rel(sl, made[(i*17)%len(made)])
			target = rel
		case 1:
			target = "/" + strings.TrimPrefix(made[(i*17)%len(made)], dir+"/")
		case 2:
			target = "../d" + fmt.Sprintf("%02d", i%40)
		default:
			target = fmt.Sprintf("/nonexistent/target-%d", i)
		}
		if err := os.Symlink(target, filepath.Join(sl, fmt.Sprintf("sym-%03d", i))); err != nil {
			return err
		}
	}

	// A fifo, empty directories, a setuid file.
	special := filepath.Join(root, "special")
	if err := mkdir(filepath.Join(special, "empty-dir", "nested-empty")); err != nil {
		return err
	}
	if err := mkfifo(filepath.Join(special, "pipe"), 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(special, "suid-tool"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(special, "suid-tool"), 0o755|os.ModeSetuid); err != nil {
		return err
	}

	// Long names: components of 120-250 bytes (past tar's 100-byte name
	// field), and a chain of them making paths of ~1000 bytes.
	long := filepath.Join(root, "long")
	if err := mkdir(long); err != nil {
		return err
	}
	for i := range 20 {
		name := fmt.Sprintf("%03d-", i) + strings.Repeat("long-name-", 12+i%12)
		if err := writeFile(filepath.Join(long, name[:min(len(name), 250)]), g.fill(buf[:1000+i], 0.5), 0o644); err != nil {
			return err
		}
	}
	deep := long
	for i := range 6 {
		deep = filepath.Join(deep, fmt.Sprintf("level%d-", i)+strings.Repeat("x", 150))
	}
	if err := mkdir(deep); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(deep, "leaf-"+strings.Repeat("y", 200)), []byte("deep\n"), 0o644); err != nil {
		return err
	}
	if err := os.Symlink(strings.Repeat("../", 6)+"long-target-"+strings.Repeat("z", 150), filepath.Join(deep, "long-symlink")); err != nil {
		return err
	}

	// Unicode names: accents (NFC and NFD), CJK, emoji, RTL, a space.
	uni := filepath.Join(root, "unicode")
	if err := mkdir(uni); err != nil {
		return err
	}
	for i, n := range []string{"café", "cafe\u0301", "日本語のファイル", "résumé final.txt", "emoji-😀🚀", "עברית", "Ωμέγα", "ß-straße", "한국어", "tab\tand space"} {
		if err := writeFile(filepath.Join(uni, n), g.fill(buf[:100+i], 0.5), 0o644); err != nil {
			return err
		}
	}
	if err := mkdir(filepath.Join(uni, "dossier-été")); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(uni, "dossier-été", "naïve.txt"), []byte("naïve\n"), 0o644); err != nil {
		return err
	}
	return fixTimes(dir)
}

// million: entries empty files spread over 1,000 directories (fewer when
// entries is small), written by a few goroutines, one directory each.
func million(dir string, entries int) error {
	root := filepath.Join(dir, "m")
	ndirs := min(1000, max(entries/100, 1))
	per := entries / ndirs
	extra := entries % ndirs
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range next {
				if err := millionDir(root, d, per+b2i(d < extra)); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	if err := mkdir(root); err != nil {
		return err
	}
	for d := range ndirs {
		next <- d
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return os.Chtimes(root, mtime, mtime)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func millionDir(root string, d, n int) error {
	p := filepath.Join(root, fmt.Sprintf("d%04d", d))
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	ts := []syscall.Timespec{syscall.NsecToTimespec(mtime.UnixNano()), syscall.NsecToTimespec(mtime.UnixNano())}
	for i := range n {
		f := filepath.Join(p, fmt.Sprintf("e%07d", i))
		fd, err := syscall.Open(f, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return &os.PathError{Op: "create", Path: f, Err: err}
		}
		syscall.Close(fd)
		if err := syscall.UtimesNano(f, ts); err != nil {
			return &os.PathError{Op: "utimes", Path: f, Err: err}
		}
	}
	return syscall.UtimesNano(p, ts)
}
