package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingBuffer is a bytes.Buffer safe to read while the flusher writes,
// counting the writes it gets.
type countingBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *countingBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *countingBuffer) read() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func TestLogBuffer(t *testing.T) {
	t.Run("lines arrive by themselves, batched", func(t *testing.T) {
		out := &countingBuffer{}
		b := newLogBuffer(out, 10*time.Millisecond, 1<<10)
		t.Cleanup(func() { _ = b.Close() })
		for range 50 {
			if _, err := b.Write([]byte("line\n")); err != nil {
				t.Fatal(err)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			got, writes := out.read()
			if got == strings.Repeat("line\n", 50) {
				if writes > 10 {
					t.Errorf("%d writes for 50 lines, want them batched", writes)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 5s the writer holds %q", got)
			}
		}
	})
	t.Run("a full buffer is written at once, Close writes the rest", func(t *testing.T) {
		out := &countingBuffer{}
		b := newLogBuffer(out, time.Hour, 16)
		for _, line := range []string{"0123456789\n", "abcdefghij\n", "a line longer than the buffer\n", "tail\n"} {
			if _, err := b.Write([]byte(line)); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := out.read(); got != "0123456789\nabcdefghij\na line longer than the buffer\n" {
			t.Errorf("before Close the writer holds %q", got)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := out.read(); !strings.HasSuffix(got, "tail\n") {
			t.Errorf("after Close the writer holds %q, want the tail too", got)
		}
	})
}
