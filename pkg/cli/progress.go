package cli

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress prints bytes read, entries written and the rate on one
// terminal line, twice a second, from its own goroutine, so that the
// reading path only adds to counters.
type progress struct {
	w       io.Writer
	n       atomic.Int64
	entries atomic.Int64
	start   time.Time
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now(), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				p.print()
			case <-p.done:
				p.print()
				fmt.Fprintln(p.w)
				return
			}
		}
	}()
	return p
}

func (p *progress) print() {
	n := p.n.Load()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%8.1f MiB read, %8d entries, %6.1f MiB/s", float64(n)/(1<<20), p.entries.Load(), float64(n)/(1<<20)/secs)
}

// stop prints the last line and ends it; it may be called more than once,
// and on a nil progress.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

func (p *progress) reader(r io.Reader) io.Reader { return progressReader{r, p} }

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.n.Add(int64(n))
	return n, err
}
