package deploytest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

const nginxTemplate = "../../deploy/nginx/templates/default.conf.template"

// A replica that stops must not close a connection nginx may be writing a
// request into: nginx does not retry a POST it has sent, so that request
// would be a 502 (seen in the e2e rolling restart). The app's drain
// (web.Server.Drain) closes busy connections after their response during
// BAZAAR_DRAIN_DELAY; the idle ones are safe only if nginx closes them
// first, so its upstream keepalive_timeout must end before the delay does.
// And the delay plus the shutdown timeout must fit in the stop grace
// period, or Docker kills the replica mid-drain.
func TestDrainOutlastsNginxKeepalive(t *testing.T) {
	b, err := os.ReadFile(nginxTemplate)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)upstream bazaar \{.*?\n\s*keepalive_timeout\s+([0-9]+s);`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no keepalive_timeout in the bazaar upstream (nginx's default is 60s)", nginxTemplate)
	}
	keepalive, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}

	stack := loadStack(t)
	for _, p := range []*types.Project{load(t, composeFile), stack} {
		app := p.Services["app"]
		env := func(k string) time.Duration {
			v := app.Environment[k]
			if v == nil {
				t.Fatalf("%s: app sets no %s", p.ComposeFiles, k)
			}
			d, err := time.ParseDuration(*v)
			if err != nil {
				t.Fatalf("%s: app %s: %v", p.ComposeFiles, k, err)
			}
			return d
		}
		drain, shutdown := env("BAZAAR_DRAIN_DELAY"), env("BAZAAR_SHUTDOWN_TIMEOUT")
		if drain < keepalive+time.Second {
			t.Errorf("%s: BAZAAR_DRAIN_DELAY %s; want at least a second more than nginx's upstream keepalive_timeout (%s)", p.ComposeFiles, drain, keepalive)
		}
		if app.StopGracePeriod == nil || time.Duration(*app.StopGracePeriod) <= drain+shutdown {
			t.Errorf("%s: app stop_grace_period %v; want more than BAZAAR_DRAIN_DELAY + BAZAAR_SHUTDOWN_TIMEOUT (%s)", p.ComposeFiles, app.StopGracePeriod, drain+shutdown)
		}
	}
}

// loadStack loads deploy/swarm/stack.yml as docker stack deploy would,
// with paths resolved from the file's directory.
func loadStack(t *testing.T) *types.Project {
	t.Helper()
	return loadIn(t, filepath.Dir(stackFile), nil, stackFile)
}
