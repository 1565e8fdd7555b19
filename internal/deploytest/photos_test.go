package deploytest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// checkPhotoVolume: the app replicas share the volume photos read-write
// where BAZAAR_PHOTO_DIR points, and nginx mounts the same volume
// read-only (nocopy) where its template's BAZAAR_PHOTO_ROOT points.
func checkPhotoVolume(t *testing.T, p *types.Project) {
	t.Helper()
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, ok := p.Volumes["photos"]; !ok {
		t.Errorf("volume photos is not declared")
	}
	mount := func(name string) *types.ServiceVolumeConfig {
		for _, v := range svc(name).Volumes {
			if v.Source == "photos" {
				return &v
			}
		}
		return nil
	}
	env := func(name, k string) string {
		if v := svc(name).Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	app, ngx := mount("app"), mount("nginx")
	switch {
	case app == nil:
		t.Errorf("app does not mount the volume photos")
	case app.ReadOnly || app.Target != env("app", "BAZAAR_PHOTO_DIR"):
		t.Errorf("app mounts photos at %s (read-only %v); BAZAAR_PHOTO_DIR is %q", app.Target, app.ReadOnly, env("app", "BAZAAR_PHOTO_DIR"))
	}
	switch {
	case ngx == nil:
		t.Errorf("nginx does not mount the volume photos")
	case !ngx.ReadOnly || ngx.Volume == nil || !ngx.Volume.NoCopy:
		t.Errorf("nginx mounts photos writable or without nocopy: %+v", ngx)
	case ngx.Target != env("nginx", "BAZAAR_PHOTO_ROOT"):
		t.Errorf("nginx mounts photos at %s; BAZAAR_PHOTO_ROOT is %q", ngx.Target, env("nginx", "BAZAAR_PHOTO_ROOT"))
	}
	if env("app", "BAZAAR_PHOTO_URL") != "/media" {
		t.Errorf("BAZAAR_PHOTO_URL = %q, want /media (the template's location)", env("app", "BAZAAR_PHOTO_URL"))
	}
}

func TestPhotoVolume(t *testing.T) {
	t.Run("compose", func(t *testing.T) { checkPhotoVolume(t, load(t, composeFile)) })
	t.Run("swarm", func(t *testing.T) {
		opts, err := cli.NewProjectOptions([]string{stackFile}, cli.WithName("bazaar"),
			cli.WithWorkingDirectory(filepath.Dir(stackFile)), cli.WithEnv(nil), cli.WithInterpolation(true))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkPhotoVolume(t, p)
	})
}
