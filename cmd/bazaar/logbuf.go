package main

import (
	"io"
	"sync"
	"time"
)

// logBuffer batches log lines on their way to stdout. The JSON access log
// line of every request used to cost a write system call of its own, the
// largest single cost the app added to a small page (issue 13); batched,
// a busy second of requests takes about ten writes. Lines reach the
// writer within flushEvery, or at once when limit bytes are waiting; Close
// writes the rest. Like nginx's buffered access_log, it trades the last
// moment of lines on a hard crash (the process killed, not a panic, which
// the server recovers) for the cost of logging every request.
type logBuffer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	limit int
	stop  chan struct{}
	done  chan struct{}
}

// newLogBuffer starts the flusher; Close stops it.
func newLogBuffer(w io.Writer, flushEvery time.Duration, limit int) *logBuffer {
	b := &logBuffer{w: w, buf: make([]byte, 0, limit), limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.mu.Lock()
				_ = b.flush()
				b.mu.Unlock()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write keeps a copy of p (a whole line: slog writes one line per call).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.limit {
		if err := b.flush(); err != nil {
			return 0, err
		}
	}
	if len(p) >= b.limit {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// flush writes what is waiting; the caller holds mu.
func (b *logBuffer) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close stops the flusher and writes what is left. Nothing is written to
// the underlying writer after it returns.
func (b *logBuffer) Close() error {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flush()
}
