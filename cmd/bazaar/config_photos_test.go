package main

import (
	"strings"
	"testing"
)

// The photo settings: defaults, S3 needing all of its parts, and every
// bad value named.
func TestPhotoConfig(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u:p@db/x", "BAZAAR_DATA_DIR": "/var/lib/bazaar"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cfg, err := loadConfig(func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PhotoDir != "/var/lib/bazaar/photos" || cfg.PhotoURL != "/media" || cfg.S3.Endpoint != "" || cfg.PhotoDecodes != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
	s3 := with("BAZAAR_S3_ENDPOINT", "https://s3.example.com", "BAZAAR_S3_BUCKET", "photos",
		"BAZAAR_S3_ACCESS_KEY", "ak", "BAZAAR_S3_SECRET_KEY", "sk", "BAZAAR_S3_PUBLIC_URL", "https://cdn.example.com")
	if cfg, err := loadConfig(func(k string) string { return s3[k] }); err != nil || cfg.S3.Bucket != "photos" {
		t.Fatalf("S3: %+v, %v", cfg.S3, err)
	}
	for name, tt := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"decodes not a number":      {with("BAZAAR_PHOTO_DECODES", "many"), []string{"BAZAAR_PHOTO_DECODES", "1 to 64"}},
		"decodes zero":              {with("BAZAAR_PHOTO_DECODES", "0"), []string{"BAZAAR_PHOTO_DECODES"}},
		"url not a path":            {with("BAZAAR_PHOTO_URL", "media"), []string{"BAZAAR_PHOTO_URL"}},
		"url protocol-relative":     {with("BAZAAR_PHOTO_URL", "//evil.example/x"), []string{"BAZAAR_PHOTO_URL"}},
		"S3 without bucket":         {with("BAZAAR_S3_ENDPOINT", "https://s3.example.com"), []string{"BAZAAR_S3_BUCKET", "BAZAAR_S3_ACCESS_KEY", "BAZAAR_S3_PUBLIC_URL"}},
		"S3 endpoint bad":           {with("BAZAAR_S3_ENDPOINT", "s3.example.com", "BAZAAR_S3_BUCKET", "b", "BAZAAR_S3_ACCESS_KEY", "a", "BAZAAR_S3_SECRET_KEY", "s", "BAZAAR_S3_PUBLIC_URL", "/m"), []string{"BAZAAR_S3_ENDPOINT", "http(s) URL"}},
		"S3 parts without endpoint": {with("BAZAAR_S3_BUCKET", "b"), []string{"BAZAAR_S3_BUCKET", "BAZAAR_S3_ENDPOINT is not"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "sk") && tt.env["BAZAAR_S3_SECRET_KEY"] == "sk" {
				t.Errorf("the error shows the secret key:\n%v", err)
			}
		})
	}
}
