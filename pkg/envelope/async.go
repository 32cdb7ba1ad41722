package envelope

import (
	"archive/tar"
	"hash"
	"sync"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// The streaming paths hash every byte two or three times (sha256 for the
// member and for the output, crc64 for tar-split), and a profile of export
// shows those hashes taking over half its time on one core. A worker runs
// them on the other core, in order, on copies of the data: a copy costs a
// tenth of a hash.
const (
	chunkSize = 256 << 10
	chunks    = 8 // in flight per worker: 2 MiB
)

// worker runs jobs in order in its own goroutine, on chunks of data copied
// from the caller's buffers.
type worker struct {
	jobs chan func()
	free chan []byte
	made int // chunks allocated so far, up to chunks
	done chan struct{}
	once sync.Once
}

func newWorker() *worker {
	w := &worker{jobs: make(chan func(), chunks), free: make(chan []byte, chunks), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for job := range w.jobs {
			job()
		}
	}()
	return w
}

// data runs fn on a copy of p, in chunks.
func (w *worker) data(p []byte, fn func([]byte)) {
	for len(p) > 0 {
		var buf []byte
		select {
		case buf = <-w.free:
		default:
			if w.made < chunks {
				w.made++
				buf = make([]byte, chunkSize)
			} else {
				buf = <-w.free
			}
		}
		n := copy(buf, p)
		p = p[n:]
		w.jobs <- func() {
			fn(buf[:n])
			w.free <- buf
		}
	}
}

// wait runs every queued job and stops the worker.
func (w *worker) wait() {
	w.once.Do(func() { close(w.jobs) })
	<-w.done
}

// asyncHash feeds a hash from a worker.
type asyncHash struct {
	w *worker
	h hash.Hash
}

func newAsyncHash(h hash.Hash) *asyncHash { return &asyncHash{w: newWorker(), h: h} }

func (a *asyncHash) Write(p []byte) (int, error) {
	a.w.data(p, func(b []byte) { a.h.Write(b) })
	return len(p), nil
}

// Sum waits for the queued data and returns the hash.
func (a *asyncHash) Sum() []byte {
	a.w.wait()
	return a.h.Sum(nil)
}

// asyncRecorder passes a Recorder's calls to a worker, in order.
type asyncRecorder struct {
	w   *worker
	rec overlay.Recorder
	mu  sync.Mutex
	err error
}

func newAsyncRecorder(rec overlay.Recorder) *asyncRecorder {
	return &asyncRecorder{w: newWorker(), rec: rec}
}

func (a *asyncRecorder) fail(err error) {
	if err != nil {
		a.mu.Lock()
		if a.err == nil {
			a.err = err
		}
		a.mu.Unlock()
	}
}

func (a *asyncRecorder) Entry(raw []byte, hdr *tar.Header) error {
	raw = append([]byte(nil), raw...)
	h := *hdr
	a.w.jobs <- func() { a.fail(a.rec.Entry(raw, &h)) }
	return nil
}

func (a *asyncRecorder) Contents(p []byte) { a.w.data(p, a.rec.Contents) }

func (a *asyncRecorder) End(raw []byte) error {
	raw = append([]byte(nil), raw...)
	a.w.jobs <- func() { a.fail(a.rec.End(raw)) }
	a.w.wait()
	return a.err
}

// close stops the worker after a failure, when End was never called.
func (a *asyncRecorder) close() { a.w.wait() }
