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
		blockSize:    fs.Bsize,
		freeBytes:    int64(fs.Bavail) * fs.Bsize,
		freeInodes:   fs.Ffree,
		limitsInodes: fs.Files > 0,
	}, nil
}
