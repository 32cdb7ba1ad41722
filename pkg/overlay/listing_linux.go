package overlay

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// heldDir is a directory on the path of the entry being replayed: its
// layer name ("" for the root, else ending in "/") and descriptor.
type heldDir struct {
	name string
	fd   int
}

// replay is the source of a pass over l: its entries, and with read the
// descriptor of each file with contents.
func (l *Listing) replay(ctx context.Context, read bool) source {
	return func(fn func(*entry) error) error {
		if !read {
			for i := range l.entries {
				if i%1024 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				if err := fn(&entry{hdr: l.entries[i].header(), fd: -1}); err != nil {
					return err
				}
			}
			return nil
		}
		fd, err := openDirAt(unix.AT_FDCWD, l.root)
		if err != nil {
			return fmt.Errorf("open upper dir %s: %w", l.root, err)
		}
		held := []heldDir{{fd: fd}}
		defer func() {
			for _, d := range held {
				unix.Close(d.fd)
			}
		}()
		if err := same(fd, l.rootID, "upper dir "+l.root); err != nil {
			return err
		}
		for i := range l.entries {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			le := &l.entries[i]
			e := &entry{hdr: le.header(), fd: -1}
			switch {
			case le.flag == tar.TypeDir && le.name != "./":
				// Entered now, and proved unchanged: its names are
				// those listed after it.
				if held, err = l.enter(held, le.name); err != nil {
					return err
				}
				if err := same(held[len(held)-1].fd, le.id, "dir "+l.root+"/"+le.name); err != nil {
					return err
				}
			case le.contents():
				slash := strings.LastIndexByte(le.name, '/') + 1
				if held, err = l.enter(held, le.name[:slash]); err != nil {
					return err
				}
				e.path = l.root + "/" + le.name
				if e.fd, err = openFile(held[len(held)-1].fd, le.name[slash:]); err != nil {
					return changed("open "+e.path, err)
				}
				e.sparse = le.sparse
				err = same(e.fd, le.id, e.path)
				if err == nil {
					err = fn(e)
				}
				unix.Close(e.fd)
				if err != nil {
					return err
				}
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// enter makes dir the innermost held directory: it closes those that do
// not hold it and opens the rest of its components one at a time, with
// O_NOFOLLOW, as the walk did.
func (l *Listing) enter(held []heldDir, dir string) ([]heldDir, error) {
	for len(held) > 1 && !strings.HasPrefix(dir, held[len(held)-1].name) {
		unix.Close(held[len(held)-1].fd)
		held = held[:len(held)-1]
	}
	for top := held[len(held)-1]; top.name != dir; top = held[len(held)-1] {
		rest := dir[len(top.name):]
		comp := rest[:strings.IndexByte(rest, '/')]
		fd, err := openDirAt(top.fd, comp)
		if err != nil {
			return held, changed("open dir "+l.root+"/"+top.name+comp, err)
		}
		held = append(held, heldDir{name: top.name + comp + "/", fd: fd})
	}
	return held, nil
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
