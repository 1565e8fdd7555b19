package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 2s test @ http://127.0.0.1:35891/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.61ms   28.73ms 318.55ms   96.54%
    Req/Sec   717.88    154.31     1.01k    70.00%
  2861 requests in 2.01s, 14.32MB read
Requests/sec:   1425.76
Transfer/sec:      7.14MB
`

func TestParseWrk(t *testing.T) {
	rps, n, err := parseWrk(wrkOutput)
	if err != nil || rps != 1425.76 || n != 2861 {
		t.Errorf("parseWrk = %v, %v, %v; want 1425.76, 2861", rps, n, err)
	}
	if _, _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Error("parseWrk accepted output without figures")
	}
	bad := strings.Replace(wrkOutput, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1)
	if got := wrkTrouble.FindAllString(bad, -1); len(got) != 1 {
		t.Errorf("wrkTrouble found %q in output with non-2xx responses", got)
	}
	if got := wrkTrouble.FindAllString(wrkOutput, -1); len(got) != 0 {
		t.Errorf("wrkTrouble found %q in a clean run", got)
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	line := "4242 (we (i) rd) S 17 4242 4242 0 -1 4194560 100 0 0 0 11 7 3 2 20 0 1 0 100 1000 10 18446744073709551615"
	ppid, ticks, err := parseStat(line)
	if err != nil || ppid != 17 || ticks != 11+7+3+2 {
		t.Errorf("parseStat = %d, %d, %v; want 17, 23", ppid, ticks, err)
	}
	if _, _, err := parseStat("1 (init) S 0"); err == nil {
		t.Error("parseStat accepted a short line")
	}
}

// TestCPUTicksCountsThisProcess: this process is its own root, and burning
// CPU shows up in its ticks.
func TestCPUTicksCountsThisProcess(t *testing.T) {
	before, err := cpuTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x, deadline := 0.0, time.Now().Add(20*time.Second)
	for after := before; after[0] < before[0]+5; { // 50ms of CPU
		if time.Now().After(deadline) {
			t.Fatalf("ticks went from %d to %d in 20s of busy work", before[0], after[0])
		}
		for i := range 1_000_000 {
			x += math.Sqrt(float64(i))
		}
		if after, err = cpuTicks(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	_ = x
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestListenWatcherFindsTheAddress(t *testing.T) {
	var log bytes.Buffer
	found := make(chan string, 1)
	w := &listenWatcher{w: &log, found: found}
	// Split across writes, after another line, as a pipe may deliver it.
	for _, s := range []string{`{"msg":"starting"}` + "\n" + `{"level":"INFO","msg":"list`, `ening","addr":"127.0.0.1:4`, "1234\"}\nmore\n"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case a := <-found:
		if a != "127.0.0.1:41234" {
			t.Errorf("address %q", a)
		}
	default:
		t.Fatal("no address found")
	}
	if !strings.HasSuffix(log.String(), "more\n") {
		t.Errorf("log lost output: %q", log.String())
	}
}

func TestTailLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 500 {
		b.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	b.WriteString("last\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := tailLines(path, 200)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 200 || lines[199] != "last" {
		t.Errorf("tailLines gave %d lines ending %q", len(lines), lines[len(lines)-1])
	}
}

func TestLoadConfig(t *testing.T) {
	c, err := loadConfig(func(string) string { return "" })
	if err != nil || c.Duration.Seconds() != 6 || c.Rounds != 4 || c.Conns != 16 || c.Listings != 10000 || c.Strict {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	env := map[string]string{"BENCH_DURATION": "3", "BENCH_STRICT": "1", "BENCH_DURABLE": "1"}
	c, err = loadConfig(func(k string) string { return env[k] })
	if err != nil || c.Duration.Seconds() != 3 || !c.Strict || !c.Durable {
		t.Errorf("plain seconds and flags: %+v, %v", c, err)
	}
	env = map[string]string{"BENCH_DURATION": "1.5s", "BENCH_ROUNDS": "0", "BENCH_STRICT": "yes"}
	_, err = loadConfig(func(k string) string { return env[k] })
	for _, name := range []string{"BENCH_DURATION", "BENCH_ROUNDS", "BENCH_STRICT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
