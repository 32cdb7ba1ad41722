package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// sampleLine makes one sample line, "wall cpu rss_kib bytes", from the output
// of GNU time -f '%e %U %S %M' (its last line: wall, user and system seconds,
// peak RSS in KiB) and from what `wc -c` wrote (its digits; none gives "-").
// CPU is user + system. Wall and RSS are copied as GNU time wrote them.
func sampleLine(timeOut, sizeOut string) (string, error) {
	last := strings.TrimSuffix(timeOut, "\n")
	last = last[strings.LastIndexByte(last, '\n')+1:]
	f := strings.Fields(last)
	if len(f) != 4 {
		return "", fmt.Errorf("parse GNU time output %q: want wall, user, sys and RSS", last)
	}
	user, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return "", fmt.Errorf("parse user time: %w", err)
	}
	sys, err := strconv.ParseFloat(f[2], 64)
	if err != nil {
		return "", fmt.Errorf("parse system time: %w", err)
	}
	size := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, sizeOut)
	if size == "" {
		size = "-"
	}
	return fmt.Sprintf("%s %.2f %s %s", f[0], user+sys, f[3], size), nil
}

// sampleFromFiles is sampleLine on the contents of GNU time's -o file and of
// the size file; a size file that is not given or does not exist counts
// nothing.
func sampleFromFiles(timeFile, sizeFile string) (string, error) {
	t, err := os.ReadFile(timeFile)
	if err != nil {
		return "", fmt.Errorf("read GNU time output: %w", err)
	}
	var size []byte
	if sizeFile != "" {
		size, err = os.ReadFile(sizeFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("read byte count: %w", err)
		}
	}
	return sampleLine(string(t), string(size))
}
