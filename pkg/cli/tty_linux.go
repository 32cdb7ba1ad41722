package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termWidth is the number of columns of the terminal w, or 0.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// pipeSize is what growPipe asks for: /proc/sys/fs/pipe-max-size's
// default, and the size of the blocks an export writes.
const pipeSize = 1 << 20

// growPipe gives the pipe v is an end of (stdout of an export, stdin of
// an import or check) a buffer of pipeSize, where it is smaller and the
// kernel allows it (an unprivileged user's pipes are
// capped in total). With Linux's default of 64 KiB, each 1 MiB block an
// export writes is handed over in 16 pieces, each a wakeup of the reader
// and a sleep of the writer: on a 2-core machine that was a fifth of an
// uncompressed export's CPU time. Anything but a pipe is left alone, and
// a failure costs only speed.
func growPipe(v any) {
	f, ok := v.(*os.File)
	if !ok {
		return
	}
	// Through the raw descriptor: f.Fd() would make f blocking.
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { //nolint:errcheck // only speed is lost
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return
		}
		if n, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && n < pipeSize {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) //nolint:errcheck
		}
	})
}
