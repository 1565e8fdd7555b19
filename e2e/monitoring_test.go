package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// monitoringServices are the services of the compose profile "monitoring".
var monitoringServices = []string{"prometheus", "alertmanager", "postgres-exporter", "nginx-exporter", "node-exporter"}

// monitoring: the profile comes up beside the running stack; Prometheus
// scrapes every app replica (found by DNS), nginx's status, PostgreSQL and
// the volumes; stopping the database makes DatabaseUnreachable fire, as
// Alertmanager's API shows, and starting it again resolves it. Neither
// /metrics nor /stub_status is reachable through nginx's public port. The
// override shortens intervals and `for:` (compose.override.yml), so the
// delays measured here are the machinery's, not production's.
func (e *suite) monitoring(t *testing.T) {
	s := e.s
	apps := s.ensureReplicas(t, 2)
	start := time.Now()
	s.must(t, append([]string{"--profile", "monitoring", "up", "-d", "--no-build"}, monitoringServices...)...)
	for _, svc := range monitoringServices {
		s.waitHealthy(t, svc, 1, 60*time.Second)
	}
	t.Logf("monitoring profile healthy %s after `up -d` began", time.Since(start).Round(time.Millisecond))

	for _, path := range []string{"/metrics", "/stub_status"} {
		resp, err := s.get(path)
		if err != nil {
			t.Fatalf("GET %s through nginx: %v", path, err)
		}
		if resp.StatusCode != http.StatusNotFound || strings.Contains(resp.body, "# HELP") || strings.Contains(resp.body, "Active connections") {
			t.Errorf("GET %s through nginx: %s %.200q; want 404 without metrics", path, resp.Status, resp.body)
		}
	}

	prom := "http://" + s.published(t, "prometheus", "9090")
	am := "http://" + s.published(t, "alertmanager", "9093")

	// Every target answers: one per app replica (DNS service discovery),
	// and the exporters, whose key series say what they measure.
	want := map[string]string{
		`count(up{job="app"} == 1)`: fmt.Sprint(len(apps)),
		`count(bazaar_ready == 1)`:  fmt.Sprint(len(apps)),
		`up{job="nginx"}`:           "1",
		`nginx_up`:                  "1",
		`pg_up`:                     "1",
		`up{job="node"}`:            "1",
		`count(node_filesystem_size_bytes{mountpoint=~"/volumes/(pgdata|prometheus|alertmanager)"})`: "3",
		`up{job="alertmanager"}`: "1",
	}
	var last map[string]string
	ok := poll(60*time.Second, 500*time.Millisecond, func() bool {
		last = map[string]string{}
		good := true
		for q, v := range want {
			got, err := promQuery(prom, q)
			last[q] = got
			if err != nil {
				last[q] = err.Error()
			}
			if got != v {
				good = false
			}
		}
		return good
	})
	if !ok {
		t.Fatalf("Prometheus within 60s: want %v, have %v", want, last)
	}
	t.Logf("Prometheus scrapes %d app replicas, nginx, PostgreSQL and the volumes (%s after up)", len(apps), time.Since(start).Round(time.Millisecond))
	if a := dbAlerts(t, am); len(a) > 0 {
		t.Fatalf("DatabaseUnreachable before the database stopped: %v", a)
	}

	// Stop the database: the alert fires, then resolves once it is back.
	s.must(t, "stop", "--timeout", "10", "db")
	stopped := time.Now()
	var fired []amAlert
	if !poll(90*time.Second, 250*time.Millisecond, func() bool {
		fired = dbAlerts(t, am)
		return len(fired) > 0 && fired[0].Status.State == "active"
	}) {
		s.must(t, "start", "db")
		t.Fatalf("DatabaseUnreachable not active in Alertmanager within 90s of stopping db (have %v)", fired)
	}
	toFire := time.Since(stopped)
	t.Logf("DatabaseUnreachable active in Alertmanager %s after db stopped: %+v", toFire.Round(time.Millisecond), fired[0].Labels)

	s.must(t, "start", "db")
	started := time.Now()
	if !poll(90*time.Second, 250*time.Millisecond, func() bool { return len(dbAlerts(t, am)) == 0 }) {
		t.Fatalf("DatabaseUnreachable still in Alertmanager 90s after db started: %v", dbAlerts(t, am))
	}
	toResolve := time.Since(started)
	t.Logf("DatabaseUnreachable resolved %s after db started (fired after %s; test intervals 1s, for: 3s)",
		toResolve.Round(time.Millisecond), toFire.Round(time.Millisecond))
	s.waitHealthy(t, "db", 1, 60*time.Second)
	s.waitReady(t, 60*time.Second)
}

// published returns host:port of a service's published container port.
func (s *stack) published(t *testing.T, service, port string) string {
	t.Helper()
	out := s.must(t, "port", service, port)
	addr := strings.TrimSpace(out)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("%s publishes %s on %q; want the loopback only", service, port, addr)
	}
	return addr
}

// promQuery runs an instant query and returns the value of its single
// sample ("" when the result is empty; an error when it has more than one).
func promQuery(base, query string) (string, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" {
		return "", fmt.Errorf("query %s: %s %.200s", query, resp.Status, b)
	}
	switch len(r.Data.Result) {
	case 0:
		return "", nil
	case 1:
		return fmt.Sprint(r.Data.Result[0].Value[1]), nil
	}
	return "", fmt.Errorf("query %s: %d samples", query, len(r.Data.Result))
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels map[string]string
	Status struct{ State string }
}

// dbAlerts returns the DatabaseUnreachable alerts Alertmanager holds
// (resolved ones it no longer lists).
func dbAlerts(t *testing.T, am string) []amAlert {
	t.Helper()
	resp, err := http.Get(am + "/api/v2/alerts?filter=" + url.QueryEscape(`alertname="DatabaseUnreachable"`))
	if err != nil {
		t.Logf("Alertmanager: %v", err)
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var alerts []amAlert
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &alerts) != nil {
		t.Fatalf("GET /api/v2/alerts: %s %.300s", resp.Status, b)
	}
	return alerts
}
