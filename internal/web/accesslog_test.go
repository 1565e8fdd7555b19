package web

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestAccessLogMatchesSlog: the hand-encoded request line is byte for byte
// the line slog's JSONHandler writes for the same request, including for
// paths full of what JSON must escape, invalid UTF-8 and the line
// separators some log viewers break on.
func TestAccessLogMatchesSlog(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 4, 5, 6_007_008, time.UTC)
	fixed := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Time(slog.TimeKey, now)
		}
		return a
	}
	for _, line := range []requestLine{
		{level: slog.LevelInfo, id: "0123456789abcdef", method: "GET", path: "/listings/7", route: "GET /listings/{id}", status: 200, bytes: 1843, duration: 1234567 * time.Nanosecond, client: "192.0.2.1"},
		{level: slog.LevelError, id: "x", method: "POST", path: "/a\"b\\c\n\r\t\x00\x1f\x7f<>&'", route: "unmatched", status: 500, bytes: 0, duration: 0, client: "2001:db8::1"},
		{level: slog.LevelInfo, id: "", method: "GET", path: "/\xff\xfe\u2028\u2029é漢字\U0001F600", route: "GET /{$}", status: 404, bytes: 12, duration: 7 * time.Hour, client: ""},
		{level: slog.LevelInfo, method: "GET", path: "/", route: "GET /{$}", status: 200, duration: 999 * time.Nanosecond},
		{level: slog.LevelInfo, method: "GET", path: "/", route: "GET /{$}", status: 200, duration: time.Microsecond},
	} {
		var want bytes.Buffer
		slog.New(slog.NewJSONHandler(&want, &slog.HandlerOptions{ReplaceAttr: fixed})).With("instance", "replica \"7\"").
			LogAttrs(context.Background(), line.level, "request", line.attrs()...)
		got := line.append(nil, now, `replica "7"`)
		if string(got) != want.String() {
			t.Errorf("line for path %q:\n got %s\nwant %s", line.path, got, want.String())
		}
	}
	if got := string(appendJSONString(nil, strings.Repeat("a", 100))); got != `"`+strings.Repeat("a", 100)+`"` {
		t.Errorf("plain string: %s", got)
	}
}
