package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFlashHeaders: the Set-Cookie values built once at start are the
// cookies the flash messages need, for either Secure setting.
func TestFlashHeaders(t *testing.T) {
	for _, secure := range []bool{false, true} {
		h := newFlashHeaders(secure)
		if len(h.set) != len(flashMessages) {
			t.Fatalf("secure=%v: %d cookies for %d messages", secure, len(h.set), len(flashMessages))
		}
		for key := range flashMessages {
			c, err := http.ParseSetCookie(h.set[key])
			if err != nil {
				t.Fatalf("secure=%v, %s: %v", secure, key, err)
			}
			if c.Name != flashCookie || c.Value != key || c.Path != "/" || c.MaxAge != 60 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure {
				t.Errorf("secure=%v, %s: cookie %+v", secure, key, c)
			}
		}
		c, err := http.ParseSetCookie(h.clear)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != flashCookie || c.Value != "" || c.MaxAge != -1 || c.Path != "/" || c.Secure != secure {
			t.Errorf("secure=%v: the clearing cookie is %+v", secure, c)
		}
	}
}

// TestSetFlashKeepsOtherCookies: a flash cookie joins the cookies a
// response already sets (the session's), in either order, and the value
// built at start is not changed by what is added after it.
func TestSetFlashKeepsOtherCookies(t *testing.T) {
	s := &Server{flash: newFlashHeaders(false)}
	w := httptest.NewRecorder()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: "x"})
	s.setFlash(w, "created")
	if got := w.Header().Values("Set-Cookie"); len(got) != 2 || got[1] != s.flash.set["created"] {
		t.Fatalf("Set-Cookie = %q, want the session's and the flash's", got)
	}

	w = httptest.NewRecorder()
	saved := s.flash.set["saved"]
	s.setFlash(w, "saved")
	http.SetCookie(w, &http.Cookie{Name: "session", Value: "y"})
	if got := w.Header().Values("Set-Cookie"); len(got) != 2 || got[0] != saved {
		t.Fatalf("Set-Cookie = %q, want the flash's and the session's", got)
	}
	if s.flash.set["saved"] != saved {
		t.Fatalf("the saved flash's value became %q", s.flash.set["saved"])
	}

	w = httptest.NewRecorder()
	s.setFlash(w, "no-such-message")
	if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("an unknown message set %q, want nothing", got)
	}
}

// TestIsMultipart: only multipart/form-data bodies are read as uploads,
// whatever the case and parameters; a plain form takes the quick path.
func TestIsMultipart(t *testing.T) {
	for ct, want := range map[string]bool{
		"multipart/form-data; boundary=x":          true,
		"Multipart/Form-Data; boundary=x":          true,
		"multipart/form-data":                      true,
		"multipart/mixed; boundary=x":              false,
		"multipart/":                               false,
		"multipart":                                false,
		"application/x-www-form-urlencoded":        false,
		"application/json":                         false,
		"":                                         false,
		"multipart/form-data; boundary=\"unclosed": false,
		"text/plain; charset=multipart/form-data":  false,
	} {
		r := httptest.NewRequest("POST", "/listings", nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if got := isMultipart(r); got != want {
			t.Errorf("Content-Type %q: isMultipart = %v, want %v", ct, got, want)
		}
	}
}

// TestHasCookie: the session cookie is found among others, and only by
// its whole name.
func TestHasCookie(t *testing.T) {
	for line, want := range map[string]bool{
		"bazaar_session=abc":           true,
		"a=1; bazaar_session=abc; b=2": true,
		"a=1;bazaar_session=":          true,
		"bazaar_session_old=abc":       false,
		"x_bazaar_session=abc":         false,
		"a=bazaar_session":             false,
		"bazaar_session":               false,
		"":                             false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", line)
		if got := hasCookie(r, "bazaar_session"); got != want {
			t.Errorf("Cookie: %q: hasCookie = %v, want %v", line, got, want)
		}
	}
}
