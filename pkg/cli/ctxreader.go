package cli

import (
	"context"
	"io"
)

// ctxReader makes a read from r give up with ctx's error once ctx is done.
// A read blocked on stdin or a pipe whose writer stalls (a hung ssh) cannot
// be interrupted otherwise, and Ctrl-C or SIGTERM must end an import or a
// check at once. Each read runs in a goroutine; one left blocked when ctx
// ends is abandoned with the process.
func ctxReader(ctx context.Context, r io.Reader) io.Reader {
	return &cancelableReader{ctx: ctx, r: r, res: make(chan readResult, 1)}
}

type readResult struct {
	n   int
	err error
}

type cancelableReader struct {
	ctx context.Context
	r   io.Reader
	res chan readResult
	buf []byte
}

func (c *cancelableReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	buf := c.buf[:len(p)]
	go func() {
		n, err := c.r.Read(buf)
		c.res <- readResult{n, err}
	}()
	select {
	case <-c.ctx.Done():
		// The goroutine may still write into buf: never use it again.
		c.buf = nil
		return 0, c.ctx.Err()
	case r := <-c.res:
		return copy(p, buf[:r.n]), r.err
	}
}
