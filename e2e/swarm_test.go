package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSwarm runs deploy/swarm/stack.yml with `docker stack deploy` on a
// single-node swarm (initialised for the test when none is active, and left
// again only then), with the images deploy/test/e2e-swarm.sh built locally,
// and proves under load what an operator relies on: every replica serves,
// scaling needs no reload, a rolling update with a migration fails nothing,
// a broken release rolls back by itself, a killed replica is replaced, and a
// database restart costs prompt 503s but no write. `make e2e-swarm` runs it.
func TestSwarm(t *testing.T) {
	file := os.Getenv("BAZAAR_E2E_SWARM_STACK")
	if file == "" {
		t.Skip("e2e: BAZAAR_E2E_SWARM_STACK is not set; run the swarm suite with `make e2e-swarm` (bash deploy/test/e2e-swarm.sh)")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("docker is not available: %v: %s", err, bytes.TrimSpace(out))
		if os.Getenv("BAZAAR_REQUIRE_ALL") == "1" {
			t.Fatal("SWARM E2E CANNOT RUN and BAZAAR_REQUIRE_ALL=1: " + msg)
		}
		t.Skip("SWARM E2E SKIPPED: " + msg)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	w := &swarm{
		name:   or(os.Getenv("BAZAAR_E2E_SWARM_NAME"), "bazaar-swarm-e2e"),
		file:   abs,
		v1:     or(os.Getenv("BAZAAR_E2E_SWARM_V1"), "bazaar:test"),
		v2:     or(os.Getenv("BAZAAR_E2E_SWARM_V2"), "bazaar:test-v2"),
		broken: or(os.Getenv("BAZAAR_E2E_SWARM_BROKEN"), "bazaar:test-broken"),
		run:    fmt.Sprintf("sw%d", time.Now().Unix()%100000),
	}
	for _, img := range []string{w.v1, w.v2, w.broken, "bazaar-test-postgres:17", "bazaar-test-nginx:1.30"} {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Fatalf("image %s is missing; deploy/test/e2e-swarm.sh builds it", img)
		}
	}
	w.join(t)
	w.removeStack(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, svc := range []string{"db", "migrate", "app", "nginx"} {
				out, _ := w.docker("service", "ps", "--no-trunc", w.service(svc))
				t.Logf("service ps %s:\n%s", svc, out)
			}
			out, _ := w.docker("service", "logs", "--tail", "40", w.service("nginx"))
			t.Logf("nginx logs (tail):\n%s", out)
		}
		if os.Getenv("BAZAAR_E2E_KEEP") == "1" {
			t.Logf("BAZAAR_E2E_KEEP=1: leaving stack %s deployed", w.name)
			return
		}
		w.removeStack(t)
	})

	for _, st := range []step{
		{"1_deploy", w.deploy},
		{"2_spread", w.spread},
		{"3_scale", w.scale},
		{"4_rolling_update", w.rollingUpdate},
		{"5_rollback", w.rollback},
		{"6_kill_replica", w.killReplica},
		{"7_database_restart", w.databaseRestart},
	} {
		start := time.Now()
		if !t.Run(st.name, st.run) {
			// Each step builds on the stack the previous one left.
			t.Logf("step %s took %s; stopping here", st.name, time.Since(start).Round(time.Millisecond))
			return
		}
		t.Logf("step %s took %s", st.name, time.Since(start).Round(time.Millisecond))
	}
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// swarm is TestSwarm's state.
type swarm struct {
	name, file     string
	v1, v2, broken string // app images: the release, the next one (with a migration), a broken one
	run            string // unique per run, in the names of what the steps create
	web            *stack // the site through nginx: load, GETs, psql
	password       string
}

// docker runs a docker command (bounded) and returns its combined output.
func (w *swarm) docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(),
		"BAZAAR_IMAGE="+w.v1,
		"BAZAAR_POSTGRES_IMAGE=bazaar-test-postgres:17",
		"BAZAAR_NGINX_IMAGE=bazaar-test-nginx:1.30",
		// 0: Docker picks a free host port for nginx (mode: host); the
		// suite reads it from the container.
		"BAZAAR_HTTP_PORT=0",
		"BAZAAR_SECRET_PREFIX="+w.name,
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (w *swarm) must(t *testing.T, args ...string) string {
	t.Helper()
	start := time.Now()
	out, err := w.docker(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("docker %s (%s)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out
}

func (w *swarm) service(name string) string { return w.name + "_" + name }

// join makes this engine a swarm manager unless it is one, and leaves the
// swarm at the end only if it joined it here.
func (w *swarm) join(t *testing.T) {
	t.Helper()
	state, err := w.docker("info", "--format", "{{.Swarm.LocalNodeState}}")
	if err != nil {
		t.Fatalf("docker info: %v %s", err, state)
	}
	switch strings.TrimSpace(state) {
	case "active":
		t.Logf("using the active swarm")
		return
	case "inactive":
	default:
		t.Fatalf("swarm state %q: neither active nor inactive", strings.TrimSpace(state))
	}
	// The loopback address: a single node needs no other, and nothing of
	// the swarm is reachable from outside this machine.
	w.must(t, "swarm", "init", "--advertise-addr", "127.0.0.1")
	t.Cleanup(func() {
		if os.Getenv("BAZAAR_E2E_KEEP") == "1" {
			return
		}
		if out, err := w.docker("swarm", "leave", "--force"); err != nil {
			t.Errorf("docker swarm leave: %v %s", err, out)
		}
	})
}

// removeStack removes the stack, its volume and its secrets, waiting until
// its containers and networks are gone (stack rm returns at once).
func (w *swarm) removeStack(t *testing.T) {
	t.Helper()
	_, _ = w.docker("stack", "rm", w.name)
	ok := poll(60*time.Second, 500*time.Millisecond, func() bool {
		cs, _ := w.docker("ps", "-aq", "--filter", "label=com.docker.stack.namespace="+w.name)
		ns, _ := w.docker("network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+w.name)
		return strings.TrimSpace(cs) == "" && strings.TrimSpace(ns) == ""
	})
	if !ok {
		t.Fatalf("stack %s not gone within 60s", w.name)
	}
	_, _ = w.docker("volume", "rm", w.name+"_pgdata")
	_, _ = w.docker("secret", "rm", w.name+"_db_password", w.name+"_database_url")
}

// containers inspects the running containers of a service.
func (w *swarm) containers(t *testing.T, svc string) []container {
	t.Helper()
	out, err := w.docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+w.service(svc))
	if err != nil {
		t.Fatalf("docker ps: %v %s", err, out)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil
	}
	out, err = w.docker(append([]string{"inspect"}, ids...)...)
	if err != nil {
		return w.containers(t, svc) // one vanished meanwhile
	}
	var cs []container
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("decoding docker inspect: %v", err)
	}
	var running []container
	for _, c := range cs {
		if c.State.Running {
			running = append(running, c)
		}
	}
	return running
}

// waitHealthy polls until the service has exactly n running containers, all
// healthy, and (if image is not empty) all of that image.
func (w *swarm) waitHealthy(t *testing.T, svc string, n int, image string, timeout time.Duration) []container {
	t.Helper()
	var cs []container
	var last string
	ok := poll(timeout, 500*time.Millisecond, func() bool {
		cs = w.containers(t, svc)
		var states []string
		good := 0
		for _, c := range cs {
			states = append(states, fmt.Sprintf("%s=%s/%s", c.Name, c.health(), c.Config.Image))
			if (c.health() == "healthy" || c.health() == "none") && (image == "" || c.Config.Image == image) {
				good++
			}
		}
		last = strings.Join(states, " ")
		return len(cs) == n && good == n
	})
	if !ok {
		t.Fatalf("%s: want %d healthy containers of %q within %s, have: %s", svc, n, image, timeout, last)
	}
	return cs
}

// sql runs a query with psql in the database's container.
func (w *swarm) sql(query string) (string, error) {
	out, err := w.docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+w.service("db"))
	ids := strings.Fields(out)
	if err != nil || len(ids) != 1 {
		return out, fmt.Errorf("want one db container, have %q (%v)", out, err)
	}
	return w.docker("exec", ids[0], "psql", "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-U", "bazaar", "-d", "bazaar", "-c", query)
}

// deploy: secrets, then `docker stack deploy`; migrate runs to completion,
// the three app replicas become healthy once the schema is there, and the
// site answers through nginx.
func (w *swarm) deploy(t *testing.T) {
	start := time.Now()
	w.password = "pw-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	url := fmt.Sprintf("postgres://bazaar:%s@db:5432/bazaar?sslmode=disable", w.password)
	for name, value := range map[string]string{"db_password": w.password, "database_url": url} {
		cmd := exec.Command("docker", "secret", "create", w.name+"_"+name, "-")
		cmd.Stdin = strings.NewReader(value + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker secret create: %v %s", err, out)
		}
	}
	w.must(t, "stack", "deploy", "--resolve-image", "never", "--prune", "-c", w.file, w.name)

	w.waitHealthy(t, "app", 3, w.v1, 120*time.Second)
	nginx := w.waitHealthy(t, "nginx", 1, "bazaar-test-nginx:1.30", 60*time.Second)[0]
	bs := nginx.NetworkSettings.Ports["80/tcp"]
	if len(bs) == 0 || bs[0].HostPort == "" {
		t.Fatalf("nginx publishes no port: %+v", nginx.NetworkSettings.Ports)
	}
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.web = &stack{
		t:          t,
		base:       "http://127.0.0.1:" + bs[0].HostPort,
		client:     &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirects, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		postClient: &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirects, Transport: &http.Transport{DisableKeepAlives: true}},
		sql:        w.sql,
	}
	w.web.waitReady(t, 60*time.Second)
	t.Logf("stack serving through nginx on %s %s after deploy began", w.web.base, time.Since(start).Round(time.Millisecond))

	// The migration ran to completion, once, and is not started again.
	out := w.must(t, "service", "ps", "--format", "{{.CurrentState}}", w.service("migrate"))
	if !strings.Contains(out, "Complete") {
		t.Errorf("migrate tasks: %q; want one Complete", out)
	}
	// The password is a secret, not an environment value.
	for _, svc := range []string{"app", "db"} {
		spec := w.must(t, "service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", w.service(svc))
		if strings.Contains(spec, w.password) {
			t.Errorf("the password is in %s's environment: %s", svc, spec)
		}
	}
	resp, l, err := w.web.createListing("Swarm lamp " + w.run)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/listings: %v %v", err, resp)
	}
	t.Logf("created listing %d", l.ID)
}

// spread: requests through nginx reach every replica; each replica's own
// log shows which requests it served (X-Bazaar-Instance stays inside).
func (w *swarm) spread(t *testing.T) {
	apps := w.containers(t, "app")
	took := w.web.waitServing(t, apps, 30*time.Second)
	var ids []string
	for range 60 {
		resp, err := w.web.get("/")
		if err != nil {
			t.Fatal(err)
		}
		if v := resp.Header.Values("X-Bazaar-Instance"); len(v) > 0 {
			t.Errorf("X-Bazaar-Instance %q reached the public", v)
		}
		ids = append(ids, resp.Header.Get("X-Request-ID"))
	}
	// The app writes its log lines in batches (every 100 ms, see
	// cmd/bazaar/logbuf.go) and docker logs trails them: read until every
	// request is found, within a deadline, rather than once.
	var seen map[string]int
	poll(10*time.Second, 250*time.Millisecond, func() bool {
		by := servedBy(t, apps)
		seen = map[string]int{}
		for _, id := range ids {
			seen[by[id]]++
		}
		return seen[""] == 0
	})
	t.Logf("all %d replicas reached %s after deploy; 60 GETs served by %v", len(apps), took.Round(time.Millisecond), seen)
	for _, c := range apps {
		if seen[strings.TrimPrefix(c.Name, "/")] == 0 {
			t.Errorf("replica %s served none of 60 GETs: %v", c.Name, seen)
		}
	}
}

// scale: `docker service scale` to 5, then to 2, under load: the new
// replicas get traffic, and no request fails. No reload: nginx follows the
// name.
func (w *swarm) scale(t *testing.T) {
	prefix := "swscale-" + w.run
	l := w.web.startLoad(prefix, 50, 200*time.Millisecond)
	time.Sleep(2 * time.Second) // load before scaling, not readiness
	w.must(t, "service", "scale", "--detach=false", w.service("app")+"=5")
	apps := w.waitHealthy(t, "app", 5, "", 60*time.Second)
	took := w.web.waitServing(t, apps, 20*time.Second)
	t.Logf("all 5 replicas serving %s after scale-out converged", took.Round(time.Millisecond))
	w.must(t, "service", "scale", "--detach=false", w.service("app")+"=2")
	w.waitHealthy(t, "app", 2, "", 60*time.Second)
	time.Sleep(4 * time.Second) // load after: past nginx's 2s re-resolve
	rs := l.finish()
	t.Log(summary(rs))
	failOn(t, "while scaling 3 -> 5 -> 2", rs)
	w.web.checkWrites(t, prefix, rs)
	// Back to the stack's 3 for what follows.
	w.must(t, "service", "scale", "--detach=false", w.service("app")+"=3")
	w.web.waitServing(t, w.waitHealthy(t, "app", 3, "", 60*time.Second), 20*time.Second)
}

// failOn fails the test for every request that did not succeed.
func failOn(t *testing.T, what string, rs []result) {
	t.Helper()
	bad := failures(rs)
	for i, r := range bad {
		if i < 10 {
			t.Errorf("failed request %s: %s", what, r)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d requests failed %s", len(bad), len(rs), what)
	}
}

// rollingUpdate: the next release, whose migration adds a column (expand
// only), under load: migrate runs with the new image to completion, then
// the app is updated one replica at a time, the new one healthy before an
// old one stops. Zero failed requests; every replica on the new image.
func (w *swarm) rollingUpdate(t *testing.T) {
	prefix := "swupdate-" + w.run
	l := w.web.startLoad(prefix, 50, 200*time.Millisecond)
	time.Sleep(2 * time.Second) // load before the update, not readiness
	start := time.Now()

	// The old replicas keep serving on the newer schema (they accept a
	// schema newer than they need).
	w.must(t, "service", "update", "--detach", "--image", w.v2, w.service("migrate"))
	ok := poll(90*time.Second, time.Second, func() bool {
		out, _ := w.docker("service", "ps", "--format", "{{.Image}} {{.CurrentState}}", w.service("migrate"))
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, w.v2+" Complete") {
				return true
			}
		}
		return false
	})
	if !ok {
		l.finish()
		t.Fatalf("the new release's migrate task did not complete within 90s")
	}
	if v := w.web.psql(t, "SELECT max(version_id) FROM goose_db_version WHERE is_applied"); v != "90001" {
		t.Errorf("schema version after the new release's migrate = %s, want 90001", v)
	}
	t.Logf("migrated with %s in %s", w.v2, time.Since(start).Round(time.Millisecond))

	w.must(t, "service", "update", "--detach=false", "--image", w.v2, w.service("app"))
	apps := w.waitHealthy(t, "app", 3, w.v2, 60*time.Second)
	t.Logf("rolling update to %s done in %s", w.v2, time.Since(start).Round(time.Millisecond))
	w.web.waitServing(t, apps, 20*time.Second)
	time.Sleep(2 * time.Second) // load after the update
	rs := l.finish()
	t.Log(summary(rs))
	failOn(t, "during the rolling update", rs)
	w.web.checkWrites(t, prefix, rs)
	if state := w.must(t, "service", "inspect", "--format", "{{.UpdateStatus.State}}", w.service("app")); strings.TrimSpace(state) != "completed" {
		t.Errorf("app update state %q, want completed", strings.TrimSpace(state))
	}
}

// rollback: an update to a release that never becomes healthy (it listens
// where its health check does not look) is rolled back by Swarm itself;
// the site keeps serving and every replica is on the previous release.
func (w *swarm) rollback(t *testing.T) {
	prefix := "swrollback-" + w.run
	l := w.web.startLoad(prefix, 20, 500*time.Millisecond)
	time.Sleep(2 * time.Second) // load before the update, not readiness
	start := time.Now()
	w.must(t, "service", "update", "--detach", "--image", w.broken, w.service("app"))
	var state string
	ok := poll(180*time.Second, time.Second, func() bool {
		out, _ := w.docker("service", "inspect", "--format", "{{.UpdateStatus.State}}", w.service("app"))
		state = strings.TrimSpace(out)
		return state == "rollback_completed"
	})
	if !ok {
		l.finish()
		t.Fatalf("update to %s: state %q after 180s, want rollback_completed", w.broken, state)
	}
	t.Logf("Swarm rolled the update to %s back by itself in %s", w.broken, time.Since(start).Round(time.Millisecond))
	apps := w.waitHealthy(t, "app", 3, w.v2, 60*time.Second)
	w.web.waitServing(t, apps, 20*time.Second)
	rs := l.finish()
	t.Log(summary(rs))
	failOn(t, "during the failed update and its rollback", rs)
	w.web.checkWrites(t, prefix, rs)
	if img := w.must(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", w.service("app")); strings.TrimSpace(img) != w.v2 {
		t.Errorf("app image after rollback = %q, want %q", strings.TrimSpace(img), w.v2)
	}
}

// killReplica: kill -9 of one replica's process: Swarm starts a
// replacement, and no GET fails (nginx retries idempotent requests on the
// others; POSTs in flight on the killed one may be lost, never doubled).
func (w *swarm) killReplica(t *testing.T) {
	victim := w.containers(t, "app")[0]
	prefix := "swkill-" + w.run
	l := w.web.startLoad(prefix, 50, 200*time.Millisecond)
	time.Sleep(3 * time.Second) // load before the failure, not readiness
	if err := syscall.Kill(victim.State.Pid, syscall.SIGKILL); err != nil {
		l.finish()
		t.Fatalf("kill -9 %d (%s): %v", victim.State.Pid, victim.Name, err)
	}
	killed := time.Now()
	t.Logf("kill -9 %d, the process of %s", victim.State.Pid, victim.Name)
	var apps []container
	ok := poll(60*time.Second, 500*time.Millisecond, func() bool {
		apps = w.containers(t, "app")
		healthy := 0
		for _, c := range apps {
			if c.ID == victim.ID {
				return false
			}
			if c.health() == "healthy" {
				healthy++
			}
		}
		return healthy == 3 && len(apps) == 3
	})
	if !ok {
		l.finish()
		t.Fatalf("no healthy replacement for %s within 60s", victim.Name)
	}
	t.Logf("Swarm replaced it: 3 healthy replicas %s after the kill", time.Since(killed).Round(time.Millisecond))
	w.web.waitServing(t, apps, 20*time.Second)
	time.Sleep(2 * time.Second) // load after recovery
	rs := l.finish()
	t.Log(summary(rs))
	failed := 0
	for _, r := range rs {
		if r.method == "GET" && r.status != http.StatusOK {
			failed++
			if failed <= 10 {
				t.Errorf("failed GET: %s", r)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d GETs failed after kill -9 of a replica", failed)
	}
	w.web.checkWrites(t, prefix, rs)
}

// databaseRestart: the database task restarted (a new task on the same
// volume): the site answers 503 promptly meanwhile, then recovers with no
// app restart, and every acknowledged write is there.
func (w *swarm) databaseRestart(t *testing.T) {
	appsBefore := w.containers(t, "app")
	prefix := "swdb-" + w.run
	l := w.web.startLoad(prefix, 20, 200*time.Millisecond)
	time.Sleep(3 * time.Second) // load before the restart, not readiness
	restart := time.Now()
	w.must(t, "service", "update", "--detach", "--force", w.service("db"))
	var saw503 bool
	ok := poll(120*time.Second, 100*time.Millisecond, func() bool {
		resp, err := w.web.get("/readyz")
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
			saw503 = true
		}
		return saw503 && err == nil && resp.StatusCode == http.StatusOK
	})
	if !ok {
		l.finish()
		t.Fatalf("/readyz through nginx: saw 503 %v, and no 200 after it within 120s", saw503)
	}
	t.Logf("/readyz 200 again %s after the db restart began", time.Since(restart).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // load after recovery
	rs := l.finish()
	t.Log(summary(rs))
	// Prompt, though less so than under compose (5s there): the restarted
	// task comes back at a new address, and until it is in Docker's DNS a
	// replica's connect waits out pgx's connect timeout (3s) before the
	// request gives up with 503 or gets a connection. Seen: 5.2s at most.
	for _, r := range rs {
		if r.took > 8*time.Second {
			t.Errorf("request took longer than 8s during the db restart: %s", r)
		}
		switch {
		case r.method == "GET" && (r.status == http.StatusOK || r.status == http.StatusServiceUnavailable):
		case r.method == "POST" && (r.status == http.StatusCreated || r.status == http.StatusServiceUnavailable):
		default:
			t.Errorf("want 200/201 or a prompt 503 during the db restart, got: %s", r)
		}
	}
	after := map[string]container{}
	for _, c := range w.containers(t, "app") {
		after[c.ID] = c
	}
	for _, c := range appsBefore {
		if a, ok := after[c.ID]; !ok || a.State.StartedAt != c.State.StartedAt {
			t.Errorf("app replica %s was restarted or replaced during the db restart", c.Name)
		}
	}
	w.web.checkWrites(t, prefix, rs)
	if n := w.web.psql(t, fmt.Sprintf("SELECT count(*) FROM listings WHERE name = 'Swarm lamp %s'", w.run)); n != "1" {
		t.Errorf("the listing created at deploy: %s rows, want 1", n)
	}
}
