package deploytest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

const stackFile = "../../deploy/swarm/stack.yml"

// deploy/swarm/stack.yml keeps the promises deploy/SWARM.md makes; the
// swarm e2e suite (make e2e-swarm) shows they hold on a real swarm, this
// test that nobody quietly drops one from the file.
func TestSwarmStack(t *testing.T) {
	p := loadStack(t)
	if got, want := sorted(p.ServiceNames()), []string{"app", "db", "migrate", "nginx"}; !slices.Equal(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	svc := func(name string) types.ServiceConfig { return p.Services[name] }
	deploy := func(name string) types.DeployConfig {
		if d := svc(name).Deploy; d != nil {
			return *d
		}
		t.Fatalf("%s has no deploy section", name)
		return types.DeployConfig{}
	}

	t.Run("images pinned like compose", func(t *testing.T) {
		compose := load(t, composeFile)
		for _, name := range []string{"db", "nginx"} {
			if got, want := svc(name).Image, compose.Services[name].Image; got != want {
				t.Errorf("%s image = %q, compose has %q", name, got, want)
			}
		}
	})

	t.Run("no IPVS needed", func(t *testing.T) {
		for _, name := range []string{"app", "nginx", "db", "migrate"} {
			if got := deploy(name).EndpointMode; got != "dnsrr" {
				t.Errorf("%s endpoint_mode = %q, want dnsrr (Swarm's VIPs need IPVS)", name, got)
			}
		}
		ports := svc("nginx").Ports
		if len(ports) != 1 || ports[0].Mode != "host" || ports[0].Target != 80 {
			t.Errorf("nginx ports = %+v, want one, target 80, mode host (the routing mesh needs IPVS)", ports)
		}
		for name, s := range p.Services {
			if name != "nginx" && len(s.Ports) > 0 {
				t.Errorf("%s publishes %+v; only nginx may", name, s.Ports)
			}
		}
	})

	t.Run("app", func(t *testing.T) {
		d := deploy("app")
		if d.Replicas == nil || *d.Replicas != 3 {
			t.Errorf("app replicas = %v, want 3", d.Replicas)
		}
		u := d.UpdateConfig
		if u == nil || u.Order != "start-first" || u.FailureAction != "rollback" || u.Parallelism == nil || *u.Parallelism != 1 {
			t.Errorf("app update_config = %+v, want parallelism 1, order start-first, failure_action rollback", u)
		}
		if hc := svc("app").HealthCheck; hc == nil || strings.Join(hc.Test, " ") != "CMD /bazaar healthcheck" {
			t.Errorf("app healthcheck = %+v, want CMD /bazaar healthcheck", hc)
		} else if hc.Retries == nil || hc.Interval == nil || time.Duration(*hc.Retries)*time.Duration(*hc.Interval) < 15*time.Second {
			t.Errorf("app healthcheck gives up after %v x %v; a database restart (every replica unready) must not get them all replaced", hc.Retries, hc.Interval)
		}
		if got := strings.Join(svc("app").Command, " "); got != "serve" {
			t.Errorf("app command = %q, want serve", got)
		}
	})

	t.Run("migrate runs to completion", func(t *testing.T) {
		rp := deploy("migrate").RestartPolicy
		if rp == nil || rp.Condition != "on-failure" {
			t.Errorf("migrate restart_policy = %+v, want condition on-failure", rp)
		}
		if got := strings.Join(svc("migrate").Command, " "); got != "migrate" {
			t.Errorf("migrate command = %q, want migrate", got)
		}
	})

	t.Run("secrets, not environment", func(t *testing.T) {
		for name, s := range p.Services {
			for k, v := range s.Environment {
				if k == "DATABASE_URL" || k == "POSTGRES_PASSWORD" || (v != nil && strings.Contains(*v, "@db:")) {
					t.Errorf("%s has %s in its environment; secrets go through _FILE variables", name, k)
				}
			}
		}
		for name, want := range map[string]string{
			"app": "/run/secrets/bazaar_database_url", "migrate": "/run/secrets/bazaar_database_url",
		} {
			if v := svc(name).Environment["DATABASE_URL_FILE"]; v == nil || *v != want {
				t.Errorf("%s DATABASE_URL_FILE = %v, want %s", name, v, want)
			}
		}
		if v := svc("db").Environment["POSTGRES_PASSWORD_FILE"]; v == nil || *v != "/run/secrets/bazaar_db_password" {
			t.Errorf("db POSTGRES_PASSWORD_FILE = %v", v)
		}
		for _, s := range []string{"bazaar_db_password", "bazaar_database_url"} {
			if sec, ok := p.Secrets[s]; !ok || !bool(sec.External) {
				t.Errorf("secret %s is not declared external: %+v", s, sec)
			}
		}
	})

	t.Run("networks and volume", func(t *testing.T) {
		for name, want := range map[string][]string{
			"db": {"back"}, "migrate": {"back"}, "app": {"back", "front"}, "nginx": {"front"},
		} {
			if got := sorted(keys(svc(name).Networks)); !slices.Equal(got, want) {
				t.Errorf("%s networks = %v, want %v", name, got, want)
			}
		}
		if !p.Networks["back"].Internal {
			t.Errorf("network back is not internal")
		}
		vols := svc("db").Volumes
		if len(vols) != 1 || vols[0].Source != "pgdata" || vols[0].Target != "/var/lib/postgresql/data" {
			t.Errorf("db volumes = %+v, want pgdata at /var/lib/postgresql/data", vols)
		}
	})

	t.Run("nginx runs the compose template", func(t *testing.T) {
		cs := svc("nginx").Configs
		if len(cs) != 1 || cs[0].Target != "/etc/nginx/templates/default.conf.template" {
			t.Fatalf("nginx configs = %+v", cs)
		}
		c := p.Configs[cs[0].Source]
		if !strings.HasSuffix(filepath.ToSlash(c.File), "deploy/nginx/templates/default.conf.template") {
			t.Errorf("config %s file = %q, want the compose template", cs[0].Source, c.File)
		} else if _, err := os.Stat(c.File); err != nil {
			t.Errorf("config %s: %v", cs[0].Source, err)
		}
		env := svc("nginx").Environment
		if v := env["BAZAAR_UPSTREAM"]; v == nil || *v != "app:8080" {
			t.Errorf("nginx BAZAAR_UPSTREAM = %v, want app:8080", v)
		}
	})
}
