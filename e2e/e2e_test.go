package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStack runs docker-compose.yml for real, as an operator would. The steps
// run in order, one subtest each (a method of suite); each brings the stack
// into the state it needs, so one failure does not hide the others and one
// step can run alone (-run 'TestStack/6_'). To add a step, write a method
// and add it to steps().
func TestStack(t *testing.T) {
	e := &suite{s: newStack(t), run: fmt.Sprintf("e2e%d", time.Now().Unix()%100000)}
	s := e.s

	// From nothing: no containers, no volumes of this project.
	s.must(t, "--profile", "monitoring", "down", "-v", "--remove-orphans", "--timeout", "5")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.run("ps")
			t.Logf("compose ps at failure:\n%s", out)
			out, _ = s.run("logs", "--no-color", "--tail", "60", "nginx", "app", "db")
			t.Logf("compose logs at failure (tail):\n%s", out)
			t.Logf("nginx log lines other than 2xx/3xx access lines:\n%s", s.nginxTrouble())
		}
		if os.Getenv("BAZAAR_E2E_KEEP") == "1" {
			t.Logf("BAZAAR_E2E_KEEP=1: leaving project %s running", s.project)
			return
		}
		if out, err := s.run("--profile", "monitoring", "down", "-v", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("compose down -v: %v\n%s", err, out)
		}
	})

	for _, st := range e.steps() {
		start := time.Now()
		t.Run(st.name, st.run)
		t.Logf("step %s took %s", st.name, time.Since(start).Round(time.Millisecond))
	}
}

// suite is TestStack's state shared by its steps.
type suite struct {
	s   *stack
	run string // unique per run, in the names of what the steps create
}

// replicas is how many app replicas the load steps run with.
const replicas = 3

type step struct {
	name string
	run  func(t *testing.T)
}

// steps is the suite, in order.
func (e *suite) steps() []step {
	return []step{
		{"1_cold_start", e.coldStart},
		{"2_topology", e.topology},
		{"3_persistence", e.persistence},
		{"4_scale_out", e.scaleOut},
		{"4b_scale_in", e.scaleIn},
		{"4c_new_address", e.newAddress},
		{"5_node_loss", e.nodeLoss},
		{"6_rolling_restart", e.rollingRestart},
		{"7_database_restart", e.databaseRestart},
		{"8_logs_and_health", e.logsAndHealth},
		{"8b_monitoring", e.monitoring},
		{"9_least_privilege", e.leastPrivilege},
		{"10_photos", e.photos},
		{"11_backups", e.backups},
		{"11b_point_in_time_recovery", e.pointInTimeRecovery},
		{"11c_fresh_host_restore", e.freshHostRestore},
	}
}

// coldStart: from nothing to a working site within a minute: the sell form
// posts through nginx, redirects to a relative /listings/{id}, and the
// listing shows.
func (e *suite) coldStart(t *testing.T) {
	s, run := e.s, e.run
	start := time.Now()
	s.up(t)
	s.waitReady(t, 60*time.Second-time.Since(start))
	t.Logf("site ready through nginx %s after `up -d` began", time.Since(start).Round(time.Millisecond))

	name := "Cold start lamp " + run
	resp, err := s.postForm("/listings", url.Values{
		"name":        {name},
		"description": {"A lamp listed through the HTML form."},
		"price":       {"12.50"},
		"quantity":    {"3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/listings/[0-9]+$`).MatchString(loc) {
		t.Fatalf("POST /listings = %s, Location %q; want 303 to a relative /listings/{id}\n%s", resp.Status, loc, resp.body)
	}
	home, err := s.get("/")
	if err != nil {
		t.Fatal(err)
	}
	if home.StatusCode != http.StatusOK || !strings.Contains(home.body, name) {
		t.Fatalf("GET / = %s and does not show %q", home.Status, name)
	}
	show, err := s.get(loc)
	if err != nil {
		t.Fatal(err)
	}
	if show.StatusCode != http.StatusOK || !strings.Contains(show.body, name) {
		t.Fatalf("GET %s = %s and does not show %q", loc, show.Status, name)
	}
}

// topology: only nginx publishes a port (80, on the host port compose
// reports), the database shares no network with nginx, and no app replica is
// reachable from the host.
func (e *suite) topology(t *testing.T) {
	s := e.s
	cs := s.containers(t)
	var nginx container
	var db container
	for _, c := range cs {
		bound := map[string][]string{}
		for port, bs := range c.NetworkSettings.Ports {
			for _, b := range bs {
				bound[port] = append(bound[port], b.HostIP+":"+b.HostPort)
			}
		}
		for port, bs := range c.HostConfig.PortBindings {
			for _, b := range bs {
				bound[port] = append(bound[port], b.HostIP+":"+b.HostPort)
			}
		}
		switch c.service() {
		case "nginx":
			nginx = c
			if len(bound) != 1 || len(bound["80/tcp"]) == 0 {
				t.Errorf("nginx port bindings = %v, want only 80/tcp", bound)
			}
			// The suite publishes on an ephemeral loopback port (see
			// stack.env), so it can run beside `make run` or another stack.
			want := s.hostPort(t)
			for _, b := range c.NetworkSettings.Ports["80/tcp"] {
				if got := b.HostIP + ":" + b.HostPort; got != want {
					t.Errorf("nginx publishes 80/tcp on %s, want %s (what compose reports)", got, want)
				}
			}
		default:
			if len(bound) > 0 {
				t.Errorf("%s (%s) publishes %v; only nginx may publish ports", c.Name, c.service(), bound)
			}
		}
		if c.service() == "db" {
			db = c
		}
	}
	if nginx.ID == "" || db.ID == "" {
		t.Fatalf("no nginx or db container among %d", len(cs))
	}
	for n := range db.NetworkSettings.Networks {
		if _, shared := nginx.NetworkSettings.Networks[n]; shared {
			t.Errorf("db and nginx share network %s", n)
		}
	}
	t.Logf("db networks %v, nginx networks %v", slices.Sorted(maps.Keys(db.NetworkSettings.Networks)), slices.Sorted(maps.Keys(nginx.NetworkSettings.Networks)))
	// Metrics are for Prometheus on the internal network, not the public:
	// nginx refuses them, a container on the app's network reaches them.
	if resp, err := s.get("/metrics"); err != nil {
		t.Errorf("GET /metrics through nginx: %v", err)
	} else if resp.StatusCode != http.StatusNotFound || strings.Contains(resp.body, "# HELP") {
		t.Errorf("GET /metrics through nginx: %s %.200q; want nginx's 404 without metrics", resp.Status, resp.body)
	}
	scrape := s.must(t, "exec", "-T", "nginx", "bash", "-c",
		`exec 3<>/dev/tcp/app/8080 && printf 'GET /metrics HTTP/1.0\r\nHost: app\r\n\r\n' >&3 && cat <&3`)
	if !strings.Contains(scrape, " 200 ") || !strings.Contains(scrape, "# HELP") {
		t.Errorf("GET http://app:8080/metrics from the front network did not return metrics:\n%.300s", scrape)
	}
	// The app listens on 8080 inside its container; nothing on the host
	// maps to it. (The bindings above cover every app replica.)
	for _, c := range s.running(t, "app") {
		if bs := c.NetworkSettings.Ports["8080/tcp"]; len(bs) > 0 {
			t.Errorf("app %s: 8080/tcp is bound to the host: %+v", c.Name, bs)
		}
	}
}

// persistence: data survives `down` and `up`; `migrate` on a current schema
// changes nothing; `down -v` removes everything.
func (e *suite) persistence(t *testing.T) {
	s, run := e.s, e.run
	s.waitReady(t, 30*time.Second)
	name := "Persistent chair " + run
	resp, l, err := s.createListing(name)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/listings: %v %v", err, resp)
	}

	s.must(t, "down", "--timeout", "20")
	s.up(t)
	s.waitReady(t, 60*time.Second)
	got, err := s.get(fmt.Sprintf("/api/v1/listings/%d", l.ID))
	if err != nil {
		t.Fatal(err)
	}
	if got.StatusCode != http.StatusOK || !strings.Contains(got.body, name) {
		t.Fatalf("after down and up, GET listing %d = %s %s; want it back", l.ID, got.Status, got.body)
	}

	schema := func() string {
		out, err := s.run("exec", "-T", "db", "sh", "-c", `pg_dump -s -U "$POSTGRES_USER" "$POSTGRES_DB"`)
		if err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, out)
		}
		// pg_dump (15.14 and later) brackets its output with a random
		// \restrict key; everything else is deterministic.
		var lines []string
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, `\restrict `) && !strings.HasPrefix(line, `\unrestrict `) {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "\n")
	}
	before, rowsBefore := schema(), s.psql(t, "SELECT count(*) FROM listings")
	out, err := s.run("run", "--rm", "--no-deps", "migrate")
	if err != nil {
		t.Fatalf("running migrate again: %v\n%s", err, out)
	}
	t.Logf("migrate again:\n%s", strings.TrimSpace(out))
	if after := schema(); after != before {
		t.Errorf("migrate on a current schema changed it:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if rowsAfter := s.psql(t, "SELECT count(*) FROM listings"); rowsAfter != rowsBefore {
		t.Errorf("migrate changed the listing count: %s -> %s", rowsBefore, rowsAfter)
	}

	s.must(t, "down", "-v", "--timeout", "20")
	s.up(t)
	s.waitReady(t, 60*time.Second)
	list, err := s.get("/api/v1/listings?limit=10")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Listings []listing }
	if err := json.Unmarshal([]byte(list.body), &page); err != nil || list.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/listings = %s %q (%v)", list.Status, list.body, err)
	}
	if len(page.Listings) != 0 {
		t.Errorf("after down -v and up, %d listings remain; want none", len(page.Listings))
	}
}

// scaleOut: 1 -> 3 replicas under load with one compose command. nginx
// finds the new replicas by itself (no reload, no nginx command) and sends
// them traffic within a few seconds of their being healthy; the spread is
// read where operators read it, each replica's own log of the request ids
// nginx hands the client (X-Bazaar-Instance never reaches the public); no
// request fails.
func (e *suite) scaleOut(t *testing.T) {
	s, run := e.s, e.run
	first := s.ensureReplicas(t, 1)
	prefix := "scaleout-" + run
	l := s.startLoad(prefix, 50, 200*time.Millisecond)
	time.Sleep(2 * time.Second) // load before scaling, not readiness
	scaled := time.Now()
	s.up(t, "--scale", fmt.Sprintf("app=%d", replicas))
	apps := s.waitHealthy(t, "app", replicas, 60*time.Second)
	t.Logf("%d replicas healthy %s after `up --scale` began", replicas, time.Since(scaled).Round(time.Millisecond))

	// The first load request each new replica served, from its own log.
	firstServed := map[string]time.Time{}
	ok := poll(6*time.Second, 250*time.Millisecond, func() bool {
		by := servedBy(t, apps)
		for _, r := range l.snapshot() {
			if name, ok := by[r.reqID]; ok && (firstServed[name].IsZero() || r.at.Before(firstServed[name])) {
				firstServed[name] = r.at
			}
		}
		return len(firstServed) == replicas
	})
	time.Sleep(2 * time.Second) // load after scaling
	rs := l.finish()
	t.Log(summary(rs))
	for _, c := range apps {
		name := strings.TrimPrefix(c.Name, "/")
		if c.ID == first[0].ID {
			continue
		}
		if at, ok := firstServed[name]; ok {
			t.Logf("new replica %s served its first request %s after `up --scale` began", name, at.Sub(scaled).Round(time.Millisecond))
		}
	}
	if !ok {
		t.Errorf("within 6s of all being healthy not every replica got traffic through nginx: first requests %v", firstServed)
	}
	for i, r := range failures(rs) {
		if i < 10 {
			t.Errorf("failed request while scaling out: %s", r)
		}
	}
	s.checkWrites(t, prefix, rs)
}

// scaleIn: 3 -> 1 replicas under load: the two stopped replicas drain,
// nginx retries refused connections on the one left and drops their
// addresses at its next DNS answer; zero failed requests, no lost write.
func (e *suite) scaleIn(t *testing.T) {
	s, run := e.s, e.run
	s.ensureReplicas(t, replicas)
	prefix := "scalein-" + run
	l := s.startLoad(prefix, 50, 200*time.Millisecond)
	time.Sleep(2 * time.Second) // load before scaling, not readiness
	start := time.Now()
	s.up(t, "--scale", "app=1")
	s.waitHealthy(t, "app", 1, 60*time.Second)
	t.Logf("scaled in to 1 replica in %s", time.Since(start).Round(time.Millisecond))
	time.Sleep(4 * time.Second) // load after: past nginx's 2s re-resolve
	rs := l.finish()
	t.Log(summary(rs))
	bad := failures(rs)
	for i, r := range bad {
		if i < 10 {
			t.Errorf("failed request while scaling in: %s", r)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d requests failed while scaling 3 -> 1", len(bad), len(rs))
	}
	s.checkWrites(t, prefix, rs)
}

// newAddress: the only replica replaced by one at another address (Docker
// hands a freed address straight back, so the new one starts first, then
// the old one is removed at once); nginx, which had only the old address,
// finds the new one with no reload and the site serves again.
func (e *suite) newAddress(t *testing.T) {
	s := e.s
	old := s.ensureReplicas(t, 1)[0]
	oldIP := s.frontIP(t, old)
	s.up(t, "--scale", "app=2")
	if out, err := exec.Command("docker", "rm", "-f", old.ID).CombinedOutput(); err != nil {
		t.Fatalf("docker rm -f %s: %v %s", old.Name, err, out)
	}
	removed := time.Now()
	s.up(t, "--scale", "app=1")
	apps := s.waitHealthy(t, "app", 1, 60*time.Second)
	newIP := s.frontIP(t, apps[0])
	if apps[0].ID == old.ID || newIP == oldIP {
		t.Fatalf("the replica left is %s at %s; want a new one at another address than %s", apps[0].Name, newIP, oldIP)
	}
	took := s.waitServing(t, apps, 15*time.Second)
	t.Logf("replica %s (%s) removed; %s (%s) serving through nginx %s later (%s after it was healthy)",
		old.Name, oldIP, apps[0].Name, newIP, time.Since(removed).Round(time.Millisecond), took.Round(time.Millisecond))
}

// nodeLoss: killing a replica under load fails no GET (nginx retries
// elsewhere) and loses no acknowledged write; checkouts in the load leave
// no half-written order and no lost stock, and every 201 a buyer saw is an
// order in the database exactly once (checkout_test.go).
func (e *suite) nodeLoss(t *testing.T) {
	s, run := e.s, e.run
	victim := s.ensureReplicas(t, replicas)[0]
	prefix := "nodeloss-" + run
	sh := s.newShopper(t, prefix, 100000)
	l := s.startLoad(prefix, 50, 200*time.Millisecond)
	l.checkouts(sh, 20*time.Millisecond)
	time.Sleep(15 * time.Second) // load before the failure, not readiness
	killedAt := time.Now()
	if out, err := exec.Command("docker", "kill", "-s", "KILL", victim.ID).CombinedOutput(); err != nil {
		l.finish()
		t.Fatalf("docker kill: %v %s", err, out)
	}
	t.Logf("killed %s (%s) at %s", victim.Name, victim.Config.Hostname, killedAt.Format("15:04:05.000"))
	time.Sleep(15 * time.Second) // load after the failure
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
		if r.method == "POST" && r.status != http.StatusCreated {
			t.Logf("POST not acknowledged (allowed, POST is not retried): %s", r)
		}
	}
	if failed > 0 {
		t.Errorf("%d GETs failed after losing a replica; nginx should retry idempotent requests on the next upstream", failed)
	}
	s.checkWrites(t, prefix, rs)
	s.checkOrders(t, sh, rs)
}

// rollingRestart: deploy/rollout.sh replaces every replica under load
// without a failed request or a lost write, and a signed-in user stays
// signed in (sessions are in PostgreSQL, not in a replica).
func (e *suite) rollingRestart(t *testing.T) {
	s, run := e.s, e.run
	// Back to full strength after the node loss: Docker does not restart
	// a container that `docker kill` stopped, whatever its restart policy.
	before := s.ensureReplicas(t, replicas)
	_, cookie, err := s.signIn()
	if err != nil {
		t.Fatal(err)
	}
	me := func() *response { // by the session cookie alone
		u, err := s.url("/api/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.AddCookie(cookie)
		resp, err := s.do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := me(); r.StatusCode != http.StatusOK {
		t.Fatalf("signed in before the rollout: GET /api/v1/me = %s %s", r.Status, r.body)
	}

	prefix := "rollout-" + run
	l := s.startLoad(prefix, 50, 200*time.Millisecond)
	time.Sleep(3 * time.Second) // load before the rollout starts
	root := filepath.Dir(s.files[0])
	cmd := exec.Command("bash", filepath.Join(root, "deploy", "rollout.sh"), "app")
	cmd.Env = s.env()
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	time.Sleep(3 * time.Second) // load after the rollout ends
	rs := l.finish()
	t.Logf("deploy/rollout.sh took %s:\n%s", took.Round(time.Millisecond), strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("deploy/rollout.sh: %v", err)
	}
	t.Log(summary(rs))
	failed := 0
	for _, r := range rs {
		if (r.method == "GET" && r.status != http.StatusOK) || (r.method == "POST" && r.status != http.StatusCreated) {
			failed++
			if failed <= 10 {
				t.Errorf("failed request during rollout: %s", r)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the rolling restart", failed, len(rs))
	}
	after := s.waitHealthy(t, "app", replicas, 10*time.Second)
	for _, a := range after {
		for _, b := range before {
			if a.ID == b.ID {
				t.Errorf("app container %s was not replaced", a.Name)
			}
		}
	}
	s.checkWrites(t, prefix, rs)
	// Every replica that saw the sign-in is gone; the session is not.
	for i := range replicas {
		if r := me(); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "E2E Seller") {
			t.Errorf("signed out by the rolling restart (request %d): GET /api/v1/me = %s %s", i+1, r.Status, r.body)
		}
	}
}

// databaseRestart: a database restart under load gives prompt 503s, not
// hangs; /readyz reports it and recovers within 10s; the apps stay up.
func (e *suite) databaseRestart(t *testing.T) {
	s, run := e.s, e.run
	appsBefore := s.ensureReplicas(t, replicas)
	prefix := "dbrestart-" + run
	l := s.startLoad(prefix, 20, 200*time.Millisecond)

	// Watch readiness through nginx throughout.
	type probe struct {
		at     time.Time
		status int
	}
	var probes []probe
	stopProbe := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for {
			select {
			case <-stopProbe:
				return
			default:
			}
			p := probe{at: time.Now()}
			if resp, err := s.get("/readyz"); err == nil {
				p.status = resp.StatusCode
			}
			probes = append(probes, p)
			time.Sleep(100 * time.Millisecond)
		}
	}()

	time.Sleep(3 * time.Second) // load before the restart
	restartAt := time.Now()
	s.must(t, "restart", "--timeout", "20", "db")
	s.waitHealthy(t, "db", 1, 60*time.Second)
	dbHealthy := time.Now()
	t.Logf("db restarted and healthy %s after `restart db` began", dbHealthy.Sub(restartAt).Round(time.Millisecond))
	var recovered time.Time
	ok := poll(10*time.Second, 100*time.Millisecond, func() bool {
		resp, err := s.get("/readyz")
		if err == nil && resp.StatusCode == http.StatusOK {
			recovered = time.Now()
			return true
		}
		return false
	})
	if !ok {
		t.Errorf("/readyz through nginx not 200 within 10s of the db being healthy")
	} else {
		t.Logf("/readyz 200 again %s after the db was healthy", recovered.Sub(dbHealthy).Round(time.Millisecond))
	}
	time.Sleep(3 * time.Second) // load after recovery
	close(stopProbe)
	<-probeDone
	rs := l.finish()
	t.Log(summary(rs))

	saw503 := false
	for _, p := range probes {
		if p.status == http.StatusServiceUnavailable && !p.at.Before(restartAt) {
			saw503 = true
		}
	}
	if !saw503 {
		t.Errorf("/readyz through nginx never answered 503 while the db restarted (%d probes)", len(probes))
	}
	for _, r := range rs {
		if r.took > 5*time.Second {
			t.Errorf("request took longer than 5s during the db outage: %s", r)
		}
		switch {
		case r.method == "GET" && (r.status == http.StatusOK || r.status == http.StatusServiceUnavailable):
		case r.method == "POST" && (r.status == http.StatusCreated || r.status == http.StatusServiceUnavailable):
		default:
			t.Errorf("want 200/201 or a prompt 503 during the db outage, got: %s", r)
		}
	}
	for _, c := range appsBefore {
		var now []container
		for _, a := range s.containers(t, "app") {
			if a.ID == c.ID {
				now = append(now, a)
			}
		}
		if len(now) != 1 || now[0].State.StartedAt != c.State.StartedAt || !now[0].State.Running {
			t.Errorf("app container %s was restarted or stopped during the db restart", c.Name)
		}
	}
	s.checkWrites(t, prefix, rs)
}

// logsAndHealth: nginx's request id reaches the app's JSON log lines, and
// every container ends running and healthy (migrate: exited 0).
func (e *suite) logsAndHealth(t *testing.T) {
	s, run := e.s, e.run
	var ids []string
	for i := 0; i < 5; i++ {
		resp, err := s.get("/?probe=" + run)
		if err != nil {
			t.Fatal(err)
		}
		id := resp.Header.Get("X-Request-ID")
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Fatalf("response carries X-Request-ID %q; want nginx's $request_id (32 hex digits)", id)
		}
		ids = append(ids, id)
	}
	var logged map[string]map[string]any
	var last string
	ok := poll(10*time.Second, 250*time.Millisecond, func() bool {
		out, err := s.run("logs", "--no-color", "app")
		if err != nil {
			last = err.Error()
			return false
		}
		logged = map[string]map[string]any{}
		for _, line := range strings.Split(out, "\n") {
			i := strings.IndexByte(line, '{')
			if i < 0 {
				continue
			}
			var rec map[string]any
			if json.Unmarshal([]byte(line[i:]), &rec) != nil {
				continue
			}
			if id, ok := rec["request_id"].(string); ok {
				logged[id] = rec
			}
		}
		for _, id := range ids {
			if logged[id] == nil {
				last = "request_id " + id + " not logged yet"
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("app logs: %s (%d JSON lines with request_id)", last, len(logged))
	}
	for _, id := range ids {
		rec := logged[id]
		if rec["method"] != "GET" || rec["path"] != "/" || fmt.Sprint(rec["status"]) != "200" {
			t.Errorf("log line for request %s = %v; want method GET, path /, status 200", id, rec)
		}
	}

	for _, c := range s.containers(t) {
		switch c.service() {
		case "migrate":
			if c.State.Running || c.State.ExitCode != 0 {
				t.Errorf("migrate %s: status %s exit %d; want exited 0", c.Name, c.State.Status, c.State.ExitCode)
			}
		default:
			if !c.State.Running || c.health() != "healthy" {
				t.Errorf("%s: status %s, health %s; want running and healthy", c.Name, c.State.Status, c.health())
			}
		}
	}
	t.Logf("compose ps:\n%s", s.must(t, "ps"))
}

// leastPrivilege: every running container, as Docker runs it (not only as
// the file says): no privilege escalation, every capability dropped but
// the few its service needs, a read-only root, a memory limit, a restart
// policy and bounded logs; nginx's workers are not root.
func (e *suite) leastPrivilege(t *testing.T) {
	s := e.s
	s.ensureReplicas(t, 1)
	allowed := map[string][]string{
		"db":      {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
		"migrate": nil,
		"app":     nil,
		"nginx":   {"CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"},
		// The monitoring profile (step 8b): one binary each, as the
		// image's user prometheus, needing no capability.
		"prometheus":        nil,
		"alertmanager":      nil,
		"postgres-exporter": nil,
		"nginx-exporter":    nil,
		"node-exporter":     nil,
		"backup":            nil,
	}
	seen := map[string]bool{}
	for _, c := range s.containers(t) {
		svc := c.service()
		want, ok := allowed[svc]
		if !ok {
			t.Errorf("%s: unexpected service %q", c.Name, svc)
			continue
		}
		seen[svc] = true
		h := c.HostConfig
		t.Logf("%s: read_only=%v cap_drop=%v cap_add=%v security_opt=%v memory=%dMiB restart=%s logs=%s %v",
			c.Name, h.ReadonlyRootfs, h.CapDrop, h.CapAdd, h.SecurityOpt, h.Memory>>20, h.RestartPolicy.Name, h.LogConfig.Type, h.LogConfig.Config)
		if !h.ReadonlyRootfs {
			t.Errorf("%s: root file system is writable", c.Name)
		}
		if !slices.Equal(h.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: cap_drop = %v, want ALL", c.Name, h.CapDrop)
		}
		got := slices.Sorted(slices.Values(h.CapAdd))
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: cap_add = %v, want exactly %v", c.Name, got, want)
		}
		if !slices.Contains(h.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt = %v, want no-new-privileges:true", c.Name, h.SecurityOpt)
		}
		if h.Memory <= 0 {
			t.Errorf("%s: no memory limit", c.Name)
		}
		if h.RestartPolicy.Name == "" {
			t.Errorf("%s: no restart policy", c.Name)
		}
		if h.LogConfig.Type != "json-file" || h.LogConfig.Config["max-size"] == "" || h.LogConfig.Config["max-file"] == "" {
			t.Errorf("%s: logs %s %v, want json-file with max-size and max-file", c.Name, h.LogConfig.Type, h.LogConfig.Config)
		}
	}
	for svc := range allowed {
		if !seen[svc] {
			t.Errorf("no %s container to inspect", svc)
		}
	}
	// nginx's master binds port 80 as root; its workers must not be root.
	out := s.must(t, "exec", "-T", "nginx", "sh", "-c", `for p in /proc/[0-9]*; do if [ "$(cat $p/comm 2>/dev/null)" = nginx ]; then awk '/^Uid:/ {print $2}' $p/status; fi; done`)
	uids := strings.Fields(out)
	workers := 0
	for _, u := range uids {
		if u != "0" {
			workers++
		}
	}
	if len(uids) < 2 || workers != len(uids)-1 {
		t.Errorf("nginx process uids %v: want one root master and unprivileged workers", uids)
	}
	// The backup service runs as the image's postgres user, never root.
	for _, c := range s.running(t, "backup") {
		out, err := exec.Command("docker", "exec", c.ID, "id", "-u").Output()
		if err != nil || strings.TrimSpace(string(out)) == "0" || strings.TrimSpace(string(out)) == "" {
			t.Errorf("%s: uid %q (%v), want the unprivileged postgres user", c.Name, strings.TrimSpace(string(out)), err)
		}
	}
	// The app and migration run as the unprivileged user of their image.
	for _, c := range s.running(t, "app") {
		out, err := exec.Command("docker", "inspect", "--format", "{{.Config.User}}", c.ID).Output()
		if err != nil || strings.TrimSpace(string(out)) != "65532:65532" {
			t.Errorf("%s: user %q (%v), want 65532:65532", c.Name, strings.TrimSpace(string(out)), err)
		}
	}
}
