package web

import "net/http"

// Flash messages travel in a short-lived cookie holding a message key, not
// the text: the page shows only messages it knows, so a forged cookie can
// at worst show its owner one of them. A cookie costs no database write,
// where a server-side session would add one to every create (see
// README "Benchmarks"); sessions arrive with accounts.
const flashCookie = "bazaar_flash"

// #nosec G101 -- message keys and the words users see ("passwordchanged"), no credential.
var flashMessages = map[string]string{
	"created": "Your listing is live.",
	// A listing saved, its photos not (the photo store was down).
	"created-no-photos": "Your listing is live, but its photos could not be saved just now. Please add them again from the edit page.",
	"photos-added":      "Your photos are added.",
	"photo-deleted":     "The photo was deleted.",
	"photos-saved":      "The order of your photos is saved.",
	"saved":             "Your changes are saved.",
	"deleted":           "The listing was deleted.",
	"welcome":           "Welcome to Bazaar! Your account is ready and you are signed in.",
	"signedin":          "You are signed in.",
	"signedout":         "You are signed out.",
	// Buying.
	"added":           "Added to your cart.",
	"cart_updated":    "Your cart is updated.",
	"removed":         "Removed from your cart.",
	"ordered":         "Thank you: your order is placed.",
	"shipped":         "The order is marked as shipped.",
	"delivered":       "Thank you for confirming the delivery.",
	"cancelled":       "The order is cancelled.",
	"namesaved":       "Your display name is saved.",
	"passwordchanged": "Your password is changed. Every other session of your account is signed out.",
	"tokenrevoked":    "The token is revoked; it no longer works.",
	"resetsent":       "If an account uses that email, a link to reset its password is on its way. It works for an hour.",
	"passwordreset":   "Your password is changed and you are signed in. Every other session of your account is signed out.",
}

// flashHeaders are the Set-Cookie values that set each flash message's
// cookie, and the one that clears it, built once (newFlashHeaders) for the
// server's Secure setting: every create, save and sign-in sets one, and
// http.SetCookie would format and check the same cookie each time.
type flashHeaders struct {
	set   map[string]string
	clear string
}

// newFlashHeaders builds the cookies. Secure follows BAZAAR_SECURE_COOKIES:
// forcing it would lose the cookie on a plain-HTTP deployment, and it
// carries a message key, no secret.
func newFlashHeaders(secure bool) flashHeaders {
	h := flashHeaders{set: make(map[string]string, len(flashMessages))}
	for key := range flashMessages {
		// #nosec G124 -- Secure is configuration; see above.
		c := http.Cookie{Name: flashCookie, Value: key, Path: "/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}
		h.set[key] = c.String()
	}
	// #nosec G124 -- as above.
	c := http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}
	h.clear = c.String()
	return h
}

// setFlash arranges for the next page to show the message named key. A
// key that is not one of flashMessages' sets nothing: no page would show it.
func (s *Server) setFlash(w http.ResponseWriter, key string) {
	if v, ok := s.flash.set[key]; ok {
		w.Header().Add("Set-Cookie", v)
	}
}

// popFlash returns the pending flash message, if any, and clears it.
func (s *Server) popFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	w.Header().Add("Set-Cookie", s.flash.clear)
	w.Header().Set("Cache-Control", "no-store")
	return flashMessages[c.Value]
}
