package envelope

import (
	"hash"
	"sync"
)

// The reading paths hash every byte two or three times (sha256 for the
// member and for the input, crc64 for tar-split), and a profile of export
// showed those hashes taking over half its time on one core. A worker runs
// them on the other core, in order, on copies of the data: a copy costs a
// tenth of a hash. (Export, which makes the bytes itself, hands its blocks
// to stages without copying them: stream.go.)
const (
	chunkSize = 256 << 10
	chunks    = 8 // in flight per worker: 2 MiB
)

// worker runs jobs and feeds data to its sink, in order, in its own
// goroutine, on copies of the caller's data. It hands them over in batches:
// a chunk of data with the jobs queued among it, when the chunk is full or
// maxOps jobs are waiting. A layer of small files would otherwise hand
// every header and every file to the goroutine on its own, and the
// handoffs cost more than the hashing.
type worker struct {
	sink  func([]byte)
	batch chan func()
	free  chan []byte
	made  int // chunks allocated so far, up to chunks
	done  chan struct{}
	once  sync.Once
	// The chunk being filled; cur[fed:] is data not yet in ops.
	cur []byte
	fed int
	ops []func()
}

const maxOps = 1024

func newWorker(sink func([]byte)) *worker {
	w := &worker{sink: sink, batch: make(chan func(), chunks), free: make(chan []byte, chunks), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for run := range w.batch {
			run()
		}
	}()
	return w
}

// data feeds a copy of p to the sink, after the jobs queued so far.
func (w *worker) data(p []byte) {
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = w.chunk()
		}
		if len(w.cur) == cap(w.cur) {
			w.flush()
			continue
		}
		n := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur = w.cur[:len(w.cur)+n]
		p = p[n:]
	}
}

// job queues fn after the data given so far.
func (w *worker) job(fn func()) {
	w.cut()
	w.ops = append(w.ops, fn)
	if len(w.ops) >= maxOps {
		w.flush()
	}
}

// cut turns the data not yet in ops into one op.
func (w *worker) cut() {
	if w.cur == nil || w.fed == len(w.cur) {
		return
	}
	b, sink := w.cur[w.fed:], w.sink
	w.ops = append(w.ops, func() { sink(b) })
	w.fed = len(w.cur)
}

// chunk returns an empty chunk, waiting for one when all are in flight.
func (w *worker) chunk() []byte {
	select {
	case buf := <-w.free:
		return buf[:0]
	default:
	}
	if w.made < chunks {
		w.made++
		return make([]byte, 0, chunkSize)
	}
	return (<-w.free)[:0]
}

// flush hands the queued jobs and data, with their chunk, to the goroutine.
func (w *worker) flush() {
	w.cut()
	if len(w.ops) == 0 {
		return
	}
	ops, buf := w.ops, w.cur
	w.ops, w.cur, w.fed = nil, nil, 0
	w.batch <- func() {
		for _, op := range ops {
			op()
		}
		if buf != nil {
			w.free <- buf
		}
	}
}

// wait runs everything queued and stops the worker.
func (w *worker) wait() {
	w.once.Do(func() {
		w.flush()
		close(w.batch)
	})
	<-w.done
}

// asyncHash feeds a hash from a worker.
type asyncHash struct {
	w *worker
	h hash.Hash
}

func newAsyncHash(h hash.Hash) *asyncHash {
	return &asyncHash{w: newWorker(func(b []byte) { h.Write(b) }), h: h}
}

func (a *asyncHash) Write(p []byte) (int, error) {
	a.w.data(p)
	return len(p), nil
}

// Sum waits for the queued data and returns the hash.
func (a *asyncHash) Sum() []byte {
	a.w.wait()
	return a.h.Sum(nil)
}
