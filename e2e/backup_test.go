package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// backups: the backup service took the first full backup by itself, the
// WAL archive works, and both show in its health check and in the
// Prometheus metrics it serves on the internal network (backup:9850).
func (e *suite) backups(t *testing.T) {
	s := e.s
	s.ensureReplicas(t, 1)
	s.waitHealthy(t, "backup", 1, 180*time.Second)
	m := s.backupMetrics(t)
	now := float64(time.Now().Unix())
	for _, name := range []string{
		`bazaar_backup_last_success_timestamp_seconds{repo="1"}`,
		`bazaar_backup_last_full_success_timestamp_seconds{repo="1"}`,
		"bazaar_wal_archive_last_success_timestamp_seconds",
		"bazaar_wal_archive_check_last_success_timestamp_seconds",
	} {
		v, ok := m[name]
		if !ok || v <= 0 || v > now+5 {
			t.Errorf("metric %s = %v (present %v); want a time in the past", name, v, ok)
			continue
		}
		t.Logf("%s: %.0fs ago", name, now-v)
	}
	for name, want := range map[string]float64{"bazaar_backup_healthy": 1, "bazaar_backup_db_up": 1, "bazaar_backup_stanza_ok": 1, `bazaar_backup_repo_status_code{repo="1"}`: 0} {
		if v, ok := m[name]; !ok || v != want {
			t.Errorf("metric %s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	t.Logf("pgbackrest info:\n%s", s.must(t, "exec", "-T", "backup", "pgbackrest", "info"))
}

// pointInTimeRecovery is issue 12's drill: listings written, the time
// noted, more written, then an accidental DELETE FROM listings; restoring
// to the noted time with deploy/restore.sh brings back exactly the rows
// that existed then (every one, none written after).
func (e *suite) pointInTimeRecovery(t *testing.T) {
	s, run := e.s, e.run
	s.ensureReplicas(t, 1)
	s.waitHealthy(t, "backup", 1, 180*time.Second)

	var before []listing
	for i := range 10 {
		resp, l, err := s.createListing(fmt.Sprintf("pitr-before-%s-%02d", run, i))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/v1/listings: %v %v", err, resp)
		}
		before = append(before, l)
	}
	// The state to get back: every listing, and the moment (the database's
	// clock, which recovery compares commit times with).
	snap := s.psql(t, "SELECT count(*) || '|' || md5(coalesce(string_agg(l::text, ',' ORDER BY id), '')) || '|' || clock_timestamp() FROM listings l")
	parts := strings.SplitN(snap, "|", 3)
	if len(parts) != 3 {
		t.Fatalf("snapshot %q", snap)
	}
	want, target := parts[0]+"|"+parts[1], parts[2]
	t.Logf("recovery target %s: %s listings", target, parts[0])
	for i := range 5 {
		if resp, _, err := s.createListing(fmt.Sprintf("pitr-after-%s-%02d", run, i)); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/v1/listings: %v %v", err, resp)
		}
	}
	deleted := s.psql(t, "WITH d AS (DELETE FROM listings RETURNING 1) SELECT count(*) FROM d")
	t.Logf("accident: DELETE FROM listings removed %s rows", deleted)

	took, ready := s.restore(t, "--time", target)
	t.Logf("RECOVERY TIME: deploy/restore.sh --time took %s; the site answered /readyz through nginx %s after the restore began", took.Round(time.Millisecond), ready.Round(time.Millisecond))

	if got := s.psql(t, "SELECT count(*) || '|' || md5(coalesce(string_agg(l::text, ',' ORDER BY id), '')) FROM listings l"); got != want {
		t.Errorf("after restoring to %s, listings (count|md5 of every row) = %s, want %s as they were then", target, got, want)
	}
	if n := s.psql(t, fmt.Sprintf("SELECT count(*) FROM listings WHERE name LIKE 'pitr-after-%s-%%'", run)); n != "0" {
		t.Errorf("%s listings written after the target are back; want none", n)
	}
	for _, l := range before {
		resp, err := s.get(fmt.Sprintf("/api/v1/listings/%d", l.ID))
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, l.Name) {
			t.Errorf("GET listing %d (%s) after the restore: %v %v", l.ID, l.Name, err, resp)
		}
	}
	t.Logf("RECOVERY POINT: the target %s exactly: all %s listings that existed then are back (the %d written by this step among them), the 5 written after it are not", target, parts[0], len(before))
	// Writes work again: the database was promoted.
	if resp, _, err := s.createListing("pitr-again-" + run); err != nil || resp.StatusCode != http.StatusCreated {
		t.Errorf("POST after the restore: %v %v", err, resp)
	}
	// The restored database is on a new timeline: the backup service
	// takes a full backup of it and is healthy again.
	s.waitHealthy(t, "backup", 1, 120*time.Second)
}

// freshHostRestore: the host's database disk is lost (db killed, every
// container and the pgdata volume removed); on the "new host" (the
// repository volume, as copied there or as an S3 bucket) deploy/restore.sh
// with no target restores the latest archived state. First the suite waits
// for archive_timeout alone (no manual WAL switch) to carry the last write
// into the repository, which measures the recovery point a lost host has.
func (e *suite) freshHostRestore(t *testing.T) {
	s, run := e.s, e.run
	s.ensureReplicas(t, 1)
	s.waitHealthy(t, "backup", 1, 180*time.Second)
	for i := range 5 {
		if resp, _, err := s.createListing(fmt.Sprintf("fresh-%s-%02d", run, i)); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/v1/listings: %v %v", err, resp)
		}
	}
	lastWrite := time.Now()
	lsn := s.psql(t, "SELECT pg_current_wal_lsn()")
	want := s.psql(t, "SELECT count(*) || '|' || md5(coalesce(string_agg(l::text, ',' ORDER BY id), '')) FROM listings l")
	var archived string
	ok := poll(90*time.Second, time.Second, func() bool {
		archived = s.psql(t, fmt.Sprintf("SELECT coalesce(last_archived_wal, '') >= pg_walfile_name('%s') FROM pg_stat_archiver", lsn))
		return archived == "t"
	})
	if !ok {
		t.Fatalf("the WAL segment holding LSN %s was not archived within 90s (archive_timeout is 60s)", lsn)
	}
	t.Logf("RPO: the last write reached the repository %s after it committed, by archive_timeout=60s alone (a lost host loses at most that)", time.Since(lastWrite).Round(time.Second))

	if out, err := exec.Command("docker", "kill", "-s", "KILL", s.running(t, "db")[0].ID).CombinedOutput(); err != nil {
		t.Fatalf("docker kill db: %v %s", err, out)
	}
	s.must(t, "down", "--timeout", "5")
	if out, err := exec.Command("docker", "volume", "rm", s.project+"_pgdata").CombinedOutput(); err != nil {
		t.Fatalf("docker volume rm %s_pgdata: %v %s", s.project, err, out)
	}
	took, ready := s.restore(t)
	t.Logf("RECOVERY TIME (fresh host): deploy/restore.sh took %s; the site answered /readyz through nginx %s after the restore began", took.Round(time.Millisecond), ready.Round(time.Millisecond))
	if got := s.psql(t, "SELECT count(*) || '|' || md5(coalesce(string_agg(l::text, ',' ORDER BY id), '')) FROM listings l"); got != want {
		t.Errorf("after restoring onto an empty volume, listings (count|md5) = %s, want %s", got, want)
	}
	s.waitHealthy(t, "backup", 1, 120*time.Second)
}

// restore runs deploy/restore.sh with args and returns how long it took and
// how long until the site answered /readyz through nginx.
func (s *stack) restore(t *testing.T, args ...string) (took, ready time.Duration) {
	t.Helper()
	root := filepath.Dir(s.files[0])
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "deploy", "restore.sh")}, args...)...)
	cmd.Env = s.env()
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took = time.Since(start)
	t.Logf("deploy/restore.sh %s (%s):\n%s", strings.Join(args, " "), took.Round(time.Millisecond), strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("deploy/restore.sh: %v", err)
	}
	s.mu.Lock()
	s.base = "" // nginx may be a new container on a new port
	s.mu.Unlock()
	s.waitReady(t, 60*time.Second)
	return took, time.Since(start)
}

// backupMetrics scrapes backup:9850/metrics from the db container (on the
// internal network, as Prometheus would) and returns the samples by name
// with labels.
func (s *stack) backupMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	out := s.must(t, "exec", "-T", "db", "bash", "-c",
		`exec 3<>/dev/tcp/backup/9850 && printf 'GET /metrics HTTP/1.0\r\nHost: backup\r\n\r\n' >&3 && cat <&3`)
	if !strings.HasPrefix(out, "HTTP/1.0 200") || !strings.Contains(out, "text/plain; version=0.0.4") {
		t.Fatalf("GET http://backup:9850/metrics:\n%.400s", out)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}
