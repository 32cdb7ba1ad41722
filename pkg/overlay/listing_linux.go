package overlay

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// heldDir is a directory on the path of the entry being replayed: its
// layer name ("" for the root, else ending in "/") and descriptor.
type heldDir struct {
	name string
	fd   int
}

// replay is the source of a pass over l: its entries, and with read the
// contents of each file with contents. The opening, proving and reading
// run ahead, in a goroutine of their own (the prefetcher), of the writing
// of headers and contents, which takes them in order: on a tree of small
// files the system calls, not the copying, were the critical path.
func (l *Listing) replay(ctx context.Context, read bool) source {
	return func(fn func(*entry) error) error {
		var pf *prefetcher
		if read {
			pf = l.prefetch(ctx)
			defer pf.stop()
		}
		for i := range l.n {
			// Every entry, as the walk does: an export interrupted while
			// blocked on its output stops at the next entry.
			if err := ctx.Err(); err != nil {
				return err
			}
			le := l.entry(i)
			e := &entry{hdr: le.header(), fd: -1}
			if pf == nil || !le.checked() {
				if err := fn(e); err != nil {
					return err
				}
				continue
			}
			r, err := pf.next()
			if err != nil {
				return err
			}
			if le.contents() {
				e.fd, e.data, e.sparse, e.path = r.fd, r.data, le.sparse, l.root+"/"+le.name
			}
			err = fn(e)
			if r.fd >= 0 {
				unix.Close(r.fd)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// checked: a replay proves the entry's node unchanged (a directory but the
// root, a file with contents), and the prefetcher sends a result for it.
func (e *listed) checked() bool {
	return (e.flag == tar.TypeDir && e.name != "./") || e.contents()
}

// The prefetcher hands its results over in batches: one handoff per
// result cost a wakeup of the writing goroutine each (55,000 futex calls
// for 27,000 entries). Files up to prefetchMax are read whole into the
// batch's arena; larger ones are only opened, and read by the writing
// pass as before.
const (
	prefetchMax = 64 << 10
	arenaSize   = 512 << 10
	arenas      = 4  // at most 2 MiB read ahead
	batchMax    = 64 // results in a batch
	batchFds    = 8  // open descriptors in a batch: 32 in flight at most
)

// fetched is the prefetcher's result for a checked entry: for a file with
// contents, its contents (data, in the arena) or its open descriptor.
type fetched struct {
	fd   int
	data []byte
}

// batch is the results for consecutive checked entries, and the error
// that ended the prefetch, if any, after them.
type batch struct {
	arena []byte
	items []fetched
	fds   int // large files opened, not yet read
	err   error
}

type prefetcher struct {
	out  chan *batch
	free chan *batch
	done chan struct{}
	wg   sync.WaitGroup
	cur  *batch // being taken by the writing pass
	pos  int
}

func (l *Listing) prefetch(ctx context.Context) *prefetcher {
	pf := &prefetcher{out: make(chan *batch, arenas), free: make(chan *batch, arenas), done: make(chan struct{})}
	for range arenas {
		pf.free <- &batch{arena: make([]byte, 0, arenaSize), items: make([]fetched, 0, batchMax)}
	}
	pf.wg.Add(1)
	go func() {
		defer pf.wg.Done()
		defer close(pf.out)
		l.fetchAll(ctx, pf)
	}()
	return pf
}

// next is the result for the next checked entry.
func (pf *prefetcher) next() (fetched, error) {
	for pf.cur == nil || pf.pos == len(pf.cur.items) {
		if b := pf.cur; b != nil {
			pf.cur = nil
			if b.err != nil {
				return fetched{}, b.err
			}
			b.arena, b.items, b.fds = b.arena[:0], b.items[:0], 0
			pf.free <- b
		}
		b, ok := <-pf.out
		if !ok {
			return fetched{}, errors.New("replay: the prefetcher ended early")
		}
		pf.cur, pf.pos = b, 0
	}
	r := pf.cur.items[pf.pos]
	pf.pos++
	return r, nil
}

// fetchAll sends the results for every checked entry of l, in order, in
// batches; the first failure ends the last batch.
func (l *Listing) fetchAll(ctx context.Context, pf *prefetcher) {
	b := pf.take()
	if b == nil {
		return
	}
	err := l.fetchInto(ctx, pf, &b)
	if b != nil { // nil: the writing pass stopped
		b.err = err
		pf.send(b)
	}
}

func (l *Listing) fetchInto(ctx context.Context, pf *prefetcher, bp **batch) error {
	fd, err := openDirAt(unix.AT_FDCWD, l.root)
	if err != nil {
		return fmt.Errorf("open upper dir %s: %w", l.root, err)
	}
	dirs := &dirStack{root: l.root, held: []heldDir{{fd: fd}}}
	defer dirs.close()
	if err := same(fd, l.rootID, "upper dir "+l.root); err != nil {
		return err
	}
	for i := range l.n {
		le := l.entry(i)
		if !le.checked() {
			continue
		}
		b := *bp
		if len(b.items) == batchMax || b.fds == batchFds ||
			(le.contents() && le.size <= prefetchMax && len(b.arena)+int(le.size)+1 > cap(b.arena)) {
			if !pf.send(b) {
				*bp = nil
				return nil
			}
			if b = pf.take(); b == nil {
				*bp = nil
				return nil
			}
			*bp = b
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r := fetched{fd: -1}
		if le.flag == tar.TypeDir {
			// Entered now, and proved unchanged: its names are those
			// listed after it.
			dfd, err := dirs.enter(le.name)
			if err != nil {
				return err
			}
			if err := same(dfd, le.id, "dir "+l.root+"/"+le.name); err != nil {
				return err
			}
		} else {
			dfd, err := dirs.enter(le.name[:strings.LastIndexByte(le.name, '/')+1])
			if err != nil {
				return err
			}
			if r, err = l.fetchFile(dfd, le, b); err != nil {
				return err
			}
		}
		if r.fd >= 0 {
			b.fds++
		}
		b.items = append(b.items, r)
	}
	return nil
}

// take waits for a free batch; nil once the writing pass stopped.
func (pf *prefetcher) take() *batch {
	select {
	case b := <-pf.free:
		return b
	case <-pf.done:
		return nil
	}
}

// send hands b to the writing pass; false once it stopped (b's
// descriptors are closed then).
func (pf *prefetcher) send(b *batch) bool {
	select {
	case pf.out <- b:
		return true
	case <-pf.done:
		closeAll(b)
		return false
	}
}

func closeAll(b *batch) {
	for _, r := range b.items {
		if r.fd >= 0 {
			unix.Close(r.fd)
		}
	}
}

// fetchFile opens a file with contents in the directory dfd and proves it
// unchanged; a small one it reads whole into b's arena and closes.
func (l *Listing) fetchFile(dfd int, le *listed, b *batch) (fetched, error) {
	path := l.root + "/" + le.name
	fd, err := openFile(dfd, le.name[strings.LastIndexByte(le.name, '/')+1:])
	if err != nil {
		return fetched{}, changed("open "+path, err)
	}
	if err := same(fd, le.id, path); err != nil {
		unix.Close(fd)
		return fetched{}, err
	}
	if le.size > prefetchMax {
		return fetched{fd: fd}, nil
	}
	defer unix.Close(fd)
	// One byte more than the size: growth shows without another call.
	start := len(b.arena)
	n, err := preadSize(fd, b.arena[start:start+int(le.size)+1], int(le.size))
	switch {
	case err != nil:
		return fetched{}, fmt.Errorf("read %s: %w", path, err)
	case int64(n) > le.size:
		return fetched{}, fmt.Errorf("read %s: grew past %d bytes: %w", path, le.size, ErrChanged)
	case int64(n) < le.size:
		return fetched{}, fmt.Errorf("read %s: %d of %d bytes: %w", path, n, le.size, ErrChanged)
	}
	b.arena = b.arena[:start+n]
	return fetched{fd: -1, data: b.arena[start : start+n : start+n]}, nil
}

// preadSize reads into p from offset 0 until it has size bytes, or all of
// p, or the file ends.
func preadSize(fd int, p []byte, size int) (int, error) {
	n := 0
	for n < size {
		k, err := unix.Pread(fd, p[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	return n, nil
}

// stop ends the prefetcher and closes what it had opened ahead.
func (pf *prefetcher) stop() {
	close(pf.done)
	if pf.cur != nil {
		closeAll(&batch{items: pf.cur.items[pf.pos:]})
	}
	for b := range pf.out {
		closeAll(b)
	}
	pf.wg.Wait()
}

// dirStack holds the directories on the path of the entry being
// replayed, from the root down.
type dirStack struct {
	root string
	held []heldDir
}

// enter makes dir the innermost held directory and returns its
// descriptor: it closes those that do not hold it and opens the rest of
// its components one at a time, with O_NOFOLLOW, as the walk did.
func (d *dirStack) enter(dir string) (int, error) {
	for len(d.held) > 1 && !strings.HasPrefix(dir, d.held[len(d.held)-1].name) {
		unix.Close(d.held[len(d.held)-1].fd)
		d.held = d.held[:len(d.held)-1]
	}
	for top := d.held[len(d.held)-1]; top.name != dir; top = d.held[len(d.held)-1] {
		rest := dir[len(top.name):]
		comp := rest[:strings.IndexByte(rest, '/')]
		fd, err := openDirAt(top.fd, comp)
		if err != nil {
			return -1, changed("open dir "+d.root+"/"+top.name+comp, err)
		}
		d.held = append(d.held, heldDir{name: top.name + comp + "/", fd: fd})
	}
	return d.held[len(d.held)-1].fd, nil
}

func (d *dirStack) close() {
	for _, h := range d.held {
		unix.Close(h.fd)
	}
	d.held = nil
}

// changed words an error of opening a name the measuring pass listed: a
// name that went away or is no longer what it was is a changed tree.
func changed(what string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%s: %v: %w", what, err, ErrChanged)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func rootNodeID(root string) (nodeID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return nodeID{}, fmt.Errorf("stat upper dir %s: %w", root, err)
	}
	return idOf(&st), nil
}

// same fails with ErrChanged unless fd is the node id describes, as it
// was.
func same(fd int, id nodeID, what string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", what, err)
	}
	if idOf(&st) != id {
		return fmt.Errorf("%s: %w", what, ErrChanged)
	}
	return nil
}
