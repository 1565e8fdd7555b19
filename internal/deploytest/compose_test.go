package deploytest

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile  = "../../docker-compose.yml"
	overrideFile = "../../deploy/test/compose.override.yml"
)

// load loads the compose files the way `docker compose` would, but with an
// empty environment and no .env, so a developer's settings cannot change the
// outcome.
func load(t *testing.T, files ...string) *types.Project {
	t.Helper()
	return loadProfiles(t, nil, files...)
}

// loadProfiles is load with the given compose profiles enabled.
func loadProfiles(t *testing.T, profiles []string, files ...string) *types.Project {
	t.Helper()
	return loadIn(t, "../..", profiles, files...)
}

// loadIn loads the files with paths resolved from dir.
func loadIn(t *testing.T, dir string, profiles []string, files ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(files,
		cli.WithProfiles(profiles),
		cli.WithName("bazaar"),
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("loading %v: %v", files, err)
	}
	return p
}

func TestComposeHasNoVersionKey(t *testing.T) {
	for _, f := range []string{composeFile, overrideFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The compose spec made `version` obsolete; v2 warns about it.
		if regexp.MustCompile(`(?m)^version\s*:`).Match(b) {
			t.Errorf("%s has a top-level version key", f)
		}
	}
}

func TestComposeWiring(t *testing.T) {
	p := load(t, composeFile)

	if got, want := p.ServiceNames(), []string{"app", "backup", "db", "migrate", "nginx"}; !slices.Equal(sorted(got), want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	svc := func(name string) types.ServiceConfig { return p.Services[name] }

	t.Run("images", func(t *testing.T) {
		for name, want := range map[string]string{"db": "bazaar-postgres:17", "backup": "bazaar-postgres:17", "nginx": "nginx:1.30"} {
			if got := svc(name).Image; got != want {
				t.Errorf("%s image = %q, want %q", name, got, want)
			}
		}
		// The db image is postgres:17 plus pgBackRest, built here.
		for _, name := range []string{"db", "backup"} {
			if b := svc(name).Build; b == nil || !strings.HasSuffix(filepath.ToSlash(b.Context), "deploy/postgres") {
				t.Errorf("%s build = %+v, want deploy/postgres", name, b)
			}
		}
		dockerfile, err := os.ReadFile("../../deploy/postgres/Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^FROM postgres:17(-trixie)?$`).Match(dockerfile) ||
			!regexp.MustCompile(`(?m)^ARG PGBACKREST_VERSION=[0-9][^\s]*$`).Match(dockerfile) {
			t.Errorf("deploy/postgres/Dockerfile: want FROM postgres:17-trixie and ARG PGBACKREST_VERSION=<exact Debian version>")
		}
		for _, name := range []string{"migrate", "app"} {
			s := svc(name)
			if s.Build == nil {
				t.Errorf("%s has no build section", name)
			}
			if s.Image != svc("app").Image {
				t.Errorf("%s image = %q, want the app's %q", name, s.Image, svc("app").Image)
			}
		}
	})

	t.Run("commands", func(t *testing.T) {
		for name, want := range map[string]string{"migrate": "migrate", "app": "serve"} {
			if got := strings.Join(svc(name).Command, " "); got != want {
				t.Errorf("%s command = %q, want %q", name, got, want)
			}
		}
		if got := svc("migrate").Restart; got != "no" {
			t.Errorf("migrate restart = %q, want \"no\"", got)
		}
		if got := svc("app").ContainerName; got != "" {
			t.Errorf("app has container_name %q; it could not scale", got)
		}
	})

	t.Run("depends_on", func(t *testing.T) {
		for _, tc := range []struct{ service, on, condition string }{
			{"migrate", "db", types.ServiceConditionHealthy},
			{"app", "migrate", types.ServiceConditionCompletedSuccessfully},
			{"nginx", "app", types.ServiceConditionHealthy},
			{"backup", "db", types.ServiceConditionHealthy},
		} {
			dep, ok := svc(tc.service).DependsOn[tc.on]
			if !ok {
				t.Errorf("%s does not depend on %s", tc.service, tc.on)
				continue
			}
			if dep.Condition != tc.condition {
				t.Errorf("%s depends on %s with condition %q, want %q", tc.service, tc.on, dep.Condition, tc.condition)
			}
		}
	})

	t.Run("ports", func(t *testing.T) {
		for name, s := range p.Services {
			if name == "nginx" {
				continue
			}
			if len(s.Ports) > 0 {
				t.Errorf("%s publishes ports %+v; only nginx may", name, s.Ports)
			}
		}
		ports := svc("nginx").Ports
		if len(ports) != 1 || ports[0].Published != "8080" || ports[0].Target != 80 {
			t.Errorf("nginx ports = %+v, want exactly 8080->80", ports)
		}
	})

	t.Run("networks", func(t *testing.T) {
		for name, want := range map[string][]string{
			"db":      {"back"},
			"backup":  {"back"},
			"migrate": {"back"},
			"app":     {"back", "front"},
			"nginx":   {"front"},
		} {
			if got := sorted(keys(svc(name).Networks)); !slices.Equal(got, want) {
				t.Errorf("%s networks = %v, want %v", name, got, want)
			}
		}
		if !p.Networks["back"].Internal {
			t.Errorf("network back is not internal")
		}
	})

	t.Run("volumes", func(t *testing.T) {
		mounts := func(name string) map[string]string {
			m := map[string]string{}
			for _, v := range svc(name).Volumes {
				ro := ""
				if v.ReadOnly {
					ro = ":ro"
				}
				if v.Type == types.VolumeTypeVolume {
					m[v.Target] = v.Source + ro
				}
			}
			return m
		}
		for name, want := range map[string]map[string]string{
			// The repository beside the data, for archive_command and restore;
			// the socket shared with the backup service.
			"db": {"/var/lib/postgresql/data": "pgdata", "/var/lib/pgbackrest": "pgbackrest", "/var/run/postgresql": "pgsocket"},
			// A backup reads the data directory, never writes it.
			"backup": {"/var/lib/postgresql/data": "pgdata:ro", "/var/lib/pgbackrest": "pgbackrest", "/var/run/postgresql": "pgsocket"},
		} {
			if got := mounts(name); !maps.Equal(got, want) {
				t.Errorf("%s named volumes = %v, want %v", name, got, want)
			}
		}
		for _, v := range []string{"pgdata", "pgbackrest", "pgsocket"} {
			if _, ok := p.Volumes[v]; !ok {
				t.Errorf("volume %s is not declared", v)
			}
		}
		if o := p.Volumes["pgsocket"].DriverOpts; o["type"] != "tmpfs" {
			t.Errorf("volume pgsocket driver_opts = %v, want tmpfs (a socket directory in memory)", o)
		}
		var found bool
		for _, v := range svc("nginx").Volumes {
			if v.Target == "/etc/nginx/templates" {
				found = true
				if v.Type != types.VolumeTypeBind || filepath.Base(v.Source) != "templates" || !strings.HasSuffix(filepath.ToSlash(v.Source), "deploy/nginx/templates") {
					t.Errorf("templates mount = %+v, want a bind of ./deploy/nginx/templates", v)
				}
				if !v.ReadOnly {
					t.Errorf("templates mount is writable")
				}
			}
		}
		if !found {
			t.Errorf("nginx does not mount /etc/nginx/templates")
		}
	})

	t.Run("healthchecks", func(t *testing.T) {
		for _, name := range []string{"db", "app", "nginx", "backup"} {
			hc := svc(name).HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) == 0 {
				t.Errorf("%s has no healthcheck", name)
			}
		}
		if got := strings.Join(svc("app").HealthCheck.Test, " "); got != "CMD /bazaar healthcheck" {
			t.Errorf("app healthcheck = %q, want the binary's own healthcheck", got)
		}
		if got := strings.Join(svc("db").HealthCheck.Test, " "); !strings.Contains(got, "pg_isready") {
			t.Errorf("db healthcheck = %q, want pg_isready", got)
		}
	})

	t.Run("archiving", func(t *testing.T) {
		cmd := strings.Join(svc("db").Command, " ")
		for _, want := range []string{"archive_mode=on", "archive_command=pgbackrest --stanza=bazaar archive-push %p", "archive_timeout="} {
			if !strings.Contains(cmd, want) {
				t.Errorf("db command %q lacks %q", cmd, want)
			}
		}
		// db (archive-push, restore) and backup must name the same stanza,
		// repository and data directory, and the database's superuser.
		for _, k := range []string{"PGBACKREST_STANZA", "PGBACKREST_REPO1_PATH", "PGBACKREST_PG1_PATH", "PGBACKREST_PG1_USER", "PGBACKREST_REPO1_RETENTION_FULL"} {
			a, b := svc("db").Environment[k], svc("backup").Environment[k]
			if a == nil || b == nil || *a != *b {
				t.Errorf("%s: db %v, backup %v; want one value for both", k, deref(a), deref(b))
			}
		}
		if u := svc("backup").Environment["PGBACKREST_PG1_USER"]; u == nil || *u != *svc("db").Environment["POSTGRES_USER"] {
			t.Errorf("PGBACKREST_PG1_USER = %v, want the database's POSTGRES_USER", deref(u))
		}
	})

	t.Run("environment", func(t *testing.T) {
		want := map[string]map[string]string{
			"app": {
				"DATABASE_URL":           "postgres://bazaar:bazaar@db:5432/bazaar?sslmode=disable",
				"BAZAAR_TRUSTED_PROXIES": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
			},
			"migrate": {"DATABASE_URL": "postgres://bazaar:bazaar@db:5432/bazaar?sslmode=disable"},
			"db":      {"POSTGRES_USER": "bazaar", "POSTGRES_PASSWORD": "bazaar", "POSTGRES_DB": "bazaar"},
			"nginx":   {"NGINX_PORT": "80", "BAZAAR_UPSTREAM": "app:8080"},
		}
		for name, vars := range want {
			for k, v := range vars {
				got := svc(name).Environment[k]
				if got == nil || *got != v {
					t.Errorf("%s %s = %v, want %q", name, k, deref(got), v)
				}
			}
		}
	})
}

// The e2e suite runs the stack with locally built images; everything else it
// tests must be the production file, so the override may change images only.
func TestOverrideChangesOnlyImages(t *testing.T) {
	base := load(t, composeFile)
	over := load(t, composeFile, overrideFile)

	for _, name := range base.ServiceNames() {
		if base.Services[name].Image == over.Services[name].Image {
			t.Errorf("override leaves the %s image at %q", name, base.Services[name].Image)
		}
	}
	if got := over.Services["app"].Image; got != "bazaar:test" {
		t.Errorf("override app image = %q, want bazaar:test", got)
	}
	// The test images run the versions production pins: the tag of each
	// local image is the official image's tag.
	for _, name := range []string{"db", "nginx"} {
		_, prodTag, _ := strings.Cut(base.Services[name].Image, ":")
		_, testTag, _ := strings.Cut(over.Services[name].Image, ":")
		if prodTag == "" || testTag != prodTag {
			t.Errorf("%s: production image %q, test image %q: want the same version tag", name, base.Services[name].Image, over.Services[name].Image)
		}
	}

	a, b := blankImages(t, base), blankImages(t, over)
	if a != b {
		t.Errorf("the override changes more than images:\n--- docker-compose.yml\n%s\n--- with override\n%s", a, b)
	}
}

func blankImages(t *testing.T, p *types.Project) string {
	t.Helper()
	p.ComposeFiles = nil
	for name, s := range p.Services {
		s.Image = ""
		p.Services[name] = s
	}
	b, err := p.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// monitoring are the services of the monitoring profile.
var monitoring = []string{"alertmanager", "node-exporter", "nginx-exporter", "postgres-exporter", "prometheus"}

// TestMonitoringProfile: the profile's services start only when asked for,
// follow the same least-privilege rules as the rest, publish their UIs on
// loopback only, and the test override changes only their images and the
// two variables that shorten Prometheus's intervals.
func TestMonitoringProfile(t *testing.T) {
	base := load(t, composeFile)
	for _, name := range monitoring {
		if _, ok := base.Services[name]; ok {
			t.Errorf("%s runs without the monitoring profile", name)
		}
	}
	p := loadProfiles(t, []string{"monitoring"}, composeFile)
	over := loadProfiles(t, []string{"monitoring"}, composeFile, overrideFile)
	for _, name := range monitoring {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("no service %s in the monitoring profile", name)
			continue
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || len(s.CapAdd) > 0 ||
			!slices.Contains(s.SecurityOpt, "no-new-privileges:true") || s.MemLimit <= 0 ||
			s.Restart != "unless-stopped" || s.Logging == nil || s.Logging.Options["max-size"] == "" {
			t.Errorf("%s: read_only %v cap_drop %v cap_add %v security_opt %v mem_limit %d restart %q logging %+v: want the hardening every service has",
				name, s.ReadOnly, s.CapDrop, s.CapAdd, s.SecurityOpt, s.MemLimit, s.Restart, s.Logging)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %+v beyond the loopback", name, port)
			}
		}
		if name != "prometheus" && name != "alertmanager" && len(s.Ports) > 0 {
			t.Errorf("%s publishes %+v", name, s.Ports)
		}
		o := over.Services[name]
		if o.Image != "bazaar-test-monitoring:trixie" {
			t.Errorf("override %s image = %q", name, o.Image)
		}
		env := maps.Clone(o.Environment)
		if name == "prometheus" {
			delete(env, "PROMETHEUS_TEST_INTERVAL")
			delete(env, "PROMETHEUS_TEST_FOR")
		}
		o.Image, s.Image = "", ""
		o.Environment = env
		if len(o.Environment) == 0 {
			o.Environment = nil
		}
		if len(s.Environment) == 0 {
			s.Environment = nil
		}
		a, _ := json.MarshalIndent(s, "", " ")
		b, _ := json.MarshalIndent(o, "", " ")
		if string(a) != string(b) {
			t.Errorf("override changes more than %s's image and test intervals:\n--- docker-compose.yml\n%s\n--- with override\n%s", name, a, b)
		}
	}
	for _, tc := range []struct{ service, port string }{{"prometheus", "9090"}, {"alertmanager", "9093"}} {
		ports := p.Services[tc.service].Ports
		if len(ports) != 1 || ports[0].Published != tc.port || ports[0].HostIP != "127.0.0.1" {
			t.Errorf("%s ports = %+v, want 127.0.0.1:%s", tc.service, ports, tc.port)
		}
	}
}
