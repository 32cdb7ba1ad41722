package overlay

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// copyFile writes exactly the size in e's header of the file open as e.fd
// (at e.path) to w, and fails if the file has more or fewer bytes: a file that changes
// size mid-export is a changed layer. buf holds copyBuffer+1 bytes: the
// last read asks for one byte more than is left, so that growth shows
// without another system call.
//
// A sparse file is read by its data extents (lseek SEEK_DATA/SEEK_HOLE)
// and its holes are written as zeros without reading them: the layer stays
// a plain OCI layer, and a 512 MiB file with 64 MiB allocated costs 64 MiB
// of reads.
//
// With a lender, each read goes into the space it lends (w's destination)
// where it has any, else into buf.
func copyFile(w io.Writer, e *entry, buf []byte, lender Lender) (err error) {
	size, fd := e.hdr.Size, e.fd
	sawEnd := false // a read asked for a byte past the size, and got none
	for off := int64(0); off < size; {
		end := size
		if e.sparse {
			data, err := unix.Seek(fd, off, unix.SEEK_DATA)
			switch {
			case errors.Is(err, unix.ENXIO): // only a hole is left
				data = size
			case err != nil:
				return fmt.Errorf("seek data in %s: %w", e.path, err)
			}
			if data > off {
				n := min(data, size) - off
				if err := writeZeros(w, n); err != nil {
					return err
				}
				off += n
				continue
			}
			hole, err := unix.Seek(fd, off, unix.SEEK_HOLE)
			if err != nil {
				return fmt.Errorf("seek hole in %s: %w", e.path, err)
			}
			end = min(hole, size)
		}
		for off < end {
			dst := buf
			if lender != nil {
				if lent := lender.Lend(copyBuffer + 1); len(lent) > 0 {
					dst = lent
				}
			}
			want := min(int64(len(dst)), int64(copyBuffer), end-off)
			ask := want
			if off+want == size && int64(len(dst)) > want {
				ask++ // see growth at no cost
			}
			sawEnd = ask > want // only the last read's counts
			n, err := unix.Pread(fd, dst[:ask], off)
			if err != nil {
				return fmt.Errorf("read %s: %w", e.path, err)
			}
			if int64(n) > want {
				return fmt.Errorf("read %s: grew past %d bytes: %w", e.path, size, ErrChanged)
			}
			if n == 0 {
				return fmt.Errorf("read %s: %d of %d bytes: %w", e.path, off, size, ErrChanged)
			}
			if _, err := w.Write(dst[:n]); err != nil {
				return err
			}
			off += int64(n)
		}
	}
	if !sawEnd {
		if n, _ := unix.Pread(fd, buf[:1], size); n != 0 {
			return fmt.Errorf("read %s: grew past %d bytes: %w", e.path, size, ErrChanged)
		}
	}
	return nil
}
