package overlay

import (
	"archive/tar"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An import of many small files is bound by system calls: per file,
// create, write, chown, chmod, xattrs, mtime, the proof's fstat and
// flistxattr, and close; tar -x makes all but the proof's two, in one
// thread. Only the create has to happen in the tar's order: it is the one
// that changes the directory (and takes its lock), and later entries may
// name the file (a hard link, a replacement). So Apply creates each small
// file and reads its contents in the tar's order, and hands the
// descriptor and the contents to finishers, goroutines that write,
// set the metadata, prove and close it, on whichever core is free. None
// of what they do touches the directory: its mtime, set when it is left,
// stays what the tar says. A directory left is finished the same way
// (mode, default ACL, mtime, proof, all through its descriptor), after
// everything in it was made; one entered again waits for every job
// handed before (drain).
const (
	finishers  = 2
	finishMax  = 256 << 10 // larger files are written in the tar's order
	finishBufs = 16        // contents in flight: at most 4 MiB
)

// fileJob is a small file created and read, or a directory left, to be
// finished.
type fileJob struct {
	fd       int
	data     []byte
	hdr      *tar.Header
	inherits bool // its directory has a default ACL, which it inherited
	n        int  // the order it was handed in
	// A directory: its default ACL and the overlay's opaque attribute it
	// has (extra), and the entry whose writing left it ("" at the end),
	// whose error its own is.
	dir               bool
	defaultACL, extra string
	entry             string
}

// finisher runs the finishers. Its error is the first a finisher met;
// every job handed to it is done before close returns, so the error is
// that of the earliest failing entry among them, as it would be written
// in order, and it precedes any error Apply met on a later entry.
type finisher struct {
	jobs     chan *fileJob
	free     chan []byte
	wg       sync.WaitGroup
	mu       sync.Mutex
	idle     sync.Cond // signalled as jobs finish
	err      error
	n        int // jobs handed out, to order the errors (set by Apply only, read under mu)
	finished int
	errN     int
}

func newFinisher() *finisher {
	f := &finisher{jobs: make(chan *fileJob, finishBufs), free: make(chan []byte, finishBufs)}
	f.idle.L = &f.mu
	for range finishBufs {
		f.free <- make([]byte, finishMax)
	}
	for range finishers {
		f.wg.Add(1)
		go f.run()
	}
	return f
}

func (f *finisher) run() {
	defer f.wg.Done()
	for j := range f.jobs {
		if j.dir {
			err := finishDir(j.fd, j.hdr, j.defaultACL, j.extra)
			unix.Close(j.fd)
			if err != nil && j.entry != "" {
				err = fmt.Errorf("layer entry %q: %w", j.entry, err)
			}
			f.done(err, j.n)
			continue
		}
		err := finishFile(j.fd, j.data, j.hdr, j.inherits)
		unix.Close(j.fd)
		f.free <- j.data[:cap(j.data)]
		if err != nil {
			err = fmt.Errorf("layer entry %q: %w", j.hdr.Name, err)
		}
		f.done(err, j.n)
	}
}

// done records that job n is finished, with its error if any.
func (f *finisher) done(err error, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && (f.err == nil || n < f.errN) {
		f.err, f.errN = err, n
	}
	f.finished++
	f.idle.Broadcast()
}

// drain waits until every job handed so far is finished, and returns the
// first error.
func (f *finisher) drain() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.finished < f.n {
		f.idle.Wait()
	}
	return f.err
}

// failed is the error a finisher met so far, if any.
func (f *finisher) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// buffer waits for a free buffer for a file's contents.
func (f *finisher) buffer(size int64) []byte { return (<-f.free)[:size] }

// hand gives a created file, with its contents in a buffer from buffer,
// or a directory left, to the finishers, which close fd.
func (f *finisher) hand(j *fileJob) {
	f.mu.Lock()
	f.n++
	j.n = f.n
	f.mu.Unlock()
	f.jobs <- j
}

// close waits until every job is done and returns the first error.
func (f *finisher) close() error {
	close(f.jobs)
	f.wg.Wait()
	return f.err
}

// finishFile writes data, the whole contents, into the new file fd and
// sets its metadata, and proves them.
func finishFile(fd int, data []byte, hdr *tar.Header, inherits bool) error {
	holes, err := writeChunk(fd, data, 0)
	if err != nil {
		return err
	}
	if holes {
		// A hole at the end has no write to set the size.
		if err := unix.Ftruncate(fd, hdr.Size); err != nil {
			return fmt.Errorf("set size: %w", err)
		}
	}
	return fileMeta(fd, hdr, inherits)
}

// fileMeta sets a new regular file's metadata through its descriptor,
// and proves them.
func fileMeta(fd int, hdr *tar.Header, inherits bool) error {
	if inherits {
		if err := dropInherited(fd, "", false); err != nil {
			return err
		}
	}
	// chown before chmod: chown clears setuid and setgid. xattrs after
	// both: chown drops security.capability.
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&07777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := setXattrs(fd, "", hdr); err != nil {
		return err
	}
	if err := futimes(fd, hdr); err != nil {
		return err
	}
	return landed(fd, -1, "", hdr, KindFile, "")
}

// futimes sets the mtime (and atime) of fd itself: utimensat with a NULL
// path, as futimens(3) does; x/sys/unix has no call that passes NULL.
func futimes(fd int, hdr *tar.Header) error {
	ts := [2]unix.Timespec{{Sec: hdr.ModTime.Unix(), Nsec: int64(hdr.ModTime.Nanosecond())}}
	ts[1] = ts[0]
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("set mtime: %w", errno)
	}
	return nil
}
