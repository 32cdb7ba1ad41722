package transfer

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func statfs(dir string) (space, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return space{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return space{
		id:           uint64(uint32(fs.Fsid.Val[0]))<<32 | uint64(uint32(fs.Fsid.Val[1])),
		blockSize:    fs.Bsize,
		freeBytes:    int64(fs.Bavail) * fs.Bsize,
		freeInodes:   fs.Ffree,
		limitsInodes: fs.Files > 0,
	}, nil
}
