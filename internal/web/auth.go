package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres"
)

// Session keys. A session holds who is signed in and when the session was
// last seen, for the idle timeout; nothing else about the user (the user's
// row is read on each request, so a changed name or a reset password takes
// effect at once).
const (
	sessionUserKey = "user_id"
	sessionSeenKey = "seen"
)

// Session lifetimes when Config leaves them zero.
const (
	DefaultSessionIdle     = 7 * 24 * time.Hour
	DefaultSessionLifetime = 30 * 24 * time.Hour
)

// sessionCookie names the session cookie: with the __Host- prefix when
// cookies are Secure, which browsers accept only from HTTPS, for path /
// and without a Domain, so no sibling subdomain can plant or overwrite it.
func sessionCookie(secure bool) string {
	if secure {
		return "__Host-bazaar_session"
	}
	return "bazaar_session"
}

// newSessions configures scs: sessions in PostgreSQL (any replica serves
// any user), the cookie HttpOnly and SameSite=Lax, Secure and __Host- with
// secure cookies. scs's own IdleTimeout is not used: it rewrites the
// session row on every request. The idle timeout is kept by the "seen"
// time in the session instead (checkIdle), refreshed at most once a
// minute, so a signed-in page view costs one read, not a read and a write.
func (s *Server) newSessions(cfg Config) *scs.SessionManager {
	// scs.New also starts the cleanup goroutine of the in-memory store it
	// sets, which is replaced here. It is left running (a tick a minute
	// over an empty map): memstore's StopCleanup races with the
	// goroutine's start.
	sm := scs.New()
	if cfg.DB != nil {
		sm.Store = cfg.DB.Sessions()
	}
	sm.Lifetime = cfg.SessionLifetime
	sm.Cookie.Name = sessionCookie(cfg.SecureCookies)
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.SecureCookies
	sm.Cookie.Path = "/"
	sm.Cookie.Persist = true
	sm.ErrorFunc = s.error
	sm.Codec = newMemoCodec(4096) // about 1 MiB at most
	return sm
}

// sessionLayer loads the session of requests that carry the session
// cookie, and of every unsafe request (a sign-in starts a session; a POST
// without the cookie costs no query, since scs reads the store only for a
// token). A GET without the cookie, which is every anonymous page view,
// skips scs entirely: no query, no allocation, no Vary header. Static
// files and the operations endpoints never need a session.
func (s *Server) sessionLayer(next http.Handler) http.Handler {
	loaded := s.sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.session = true
		}
		if err := s.checkIdle(r.Context()); err != nil {
			s.error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
	name := s.sessions.Cookie.Name
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if r.Header["Cookie"] == nil || !wantsSession(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			if !hasCookie(r, name) {
				next.ServeHTTP(w, r)
				return
			}
		}
		// The store reads the session's user with the session, in one
		// query (postgres.SessionUser); lookupUser takes it from here.
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			// Only a GET or HEAD shows a page whose header counts the
			// cart (see sessionCartCount).
			info.sessionUser = &postgres.SessionUser{WantCart: r.Method == http.MethodGet || r.Method == http.MethodHead}
			r = r.WithContext(postgres.WithSessionUser(r.Context(), info.sessionUser))
		}
		loaded.ServeHTTP(w, r)
	})
}

// hasCookie reports whether r carries a cookie named name. It looks for
// the name without building every cookie, as r.Cookie would on each page
// view that carries some other cookie; a malformed value is left for scs
// to refuse (it then starts no session, as without the cookie).
func hasCookie(r *http.Request, name string) bool {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			if k, _, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == name {
				return true
			}
		}
	}
	return false
}

// sessionLoaded reports whether r's session was loaded, so that s.sessions'
// Get, Put and Pop may be called: always for unsafe methods, for GET and
// HEAD only when the request carries the session cookie (a GET without it
// has no session, and its values are all zero).
func (s *Server) sessionLoaded(r *http.Request) bool {
	info, _ := r.Context().Value(infoKey).(*requestInfo)
	return info != nil && info.session
}

// wantsSession reports whether a GET of path may need to know who asks.
func wantsSession(path string) bool {
	switch {
	case strings.HasPrefix(path, "/static/"), path == "/healthz", path == "/readyz", path == "/metrics", path == "/api/v1/openapi.yaml":
		return false
	}
	return true
}

// checkIdle ends a signed-in session that has not been used for the idle
// timeout, and notes the time of use at most once a minute (each note is a
// write of the session row).
func (s *Server) checkIdle(ctx context.Context) error {
	if s.sessions.GetInt64(ctx, sessionUserKey) == 0 {
		return nil
	}
	now := time.Now()
	seen := time.Unix(s.sessions.GetInt64(ctx, sessionSeenKey), 0)
	switch idle := now.Sub(seen); {
	case idle >= s.idle:
		return s.sessions.Destroy(ctx)
	case idle >= min(time.Minute, s.idle/4):
		s.sessions.Put(ctx, sessionSeenKey, now.Unix())
	}
	return nil
}

// signIn makes r's session u's: a new token (so a token planted before
// sign-in is worth nothing after it), and a record of which user the
// token belongs to, so that a password change or reset can end it.
func (s *Server) signIn(r *http.Request, u *market.User) error {
	ctx := r.Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionUserKey, u.ID)
	s.sessions.Put(ctx, sessionSeenKey, time.Now().Unix())
	if info, ok := ctx.Value(infoKey).(*requestInfo); ok {
		info.user, info.authErr, info.authDone = u, nil, true
	}
	return s.db.RecordSession(ctx, s.sessions.Token(ctx), u.ID)
}

// signOut ends r's session on the server (its row is deleted, so the old
// cookie is worth nothing if replayed) and expires the cookie. The next
// session, if any, gets a new token.
func (s *Server) signOut(r *http.Request) error {
	if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
		info.user, info.authErr, info.authDone = nil, nil, true
	}
	return s.sessions.Destroy(r.Context())
}

// currentUser returns the user who sent r (by session cookie, or by
// Authorization: Bearer token), or nil for a guest. It is looked up once
// per request.
func (s *Server) currentUser(r *http.Request) *market.User {
	u, _ := s.authenticate(r)
	return u
}

// requireUser returns the signed-in user, or answers for a guest and
// returns ok=false: a page is redirected (303, relative) to
// /login?next=<this page>, and the API gets 401 problem+json with
// WWW-Authenticate. A failed lookup (database down) is answered as what
// it is, not as "please sign in".
func (s *Server) requireUser(w http.ResponseWriter, r *http.Request) (*market.User, bool) {
	u, err := s.authenticate(r)
	if u != nil {
		return u, true
	}
	if err != nil && market.ErrorCode(err) != market.EUNAUTHORIZED {
		s.error(w, r, err)
		return nil, false
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if err == nil {
			err = market.Errorf(market.EUNAUTHORIZED, "Sign in first: send Authorization: Bearer <token> (POST /api/v1/tokens makes one).")
		}
		s.error(w, r, err) // describe sets WWW-Authenticate on every 401
		return nil, false
	}
	next := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	return nil, false
}

// authenticate finds who sent r, once per request: the owner of a Bearer
// token, or the user of the session. A malformed, unknown or revoked token
// is an EUNAUTHORIZED error (the API says so rather than answer as to a
// guest); a database failure is returned as such.
func (s *Server) authenticate(r *http.Request) (*market.User, error) {
	info, _ := r.Context().Value(infoKey).(*requestInfo)
	if info != nil && info.authDone {
		return info.user, info.authErr
	}
	u, err := s.lookupUser(r, info)
	if info != nil {
		info.user, info.authErr, info.authDone = u, err, true
	}
	return u, err
}

func (s *Server) lookupUser(r *http.Request, info *requestInfo) (*market.User, error) {
	if s.db == nil {
		return nil, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return nil, market.Errorf(market.EUNAUTHORIZED, "The Authorization header must be \"Bearer <token>\".")
		}
		return s.db.UserByToken(r.Context(), token)
	}
	if info == nil || !info.session {
		return nil, nil
	}
	id := s.sessions.GetInt64(r.Context(), sessionUserKey)
	if id == 0 {
		return nil, nil
	}
	if su := info.sessionUser; su != nil && su.User != nil && su.User.ID == id {
		return su.User, nil // read with the session
	}
	u, err := s.db.User(r.Context(), id)
	if market.ErrorCode(err) == market.ENOTFOUND {
		return nil, nil // the account is gone
	}
	return u, err
}

// localPath returns next if it is a path on this site, else "/": the
// login page's ?next= must not send anyone elsewhere (an open redirect
// would lend our name to a phishing link). A local path starts with one
// "/" and no "\" (browsers read "/\evil.example" as "//evil.example"),
// and has no scheme, host or control characters.
func localPath(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}

// tooManyAttempts is a sign-in refused because of earlier failures: 429
// with Retry-After.
type tooManyAttempts struct{ wait time.Duration }

func (e *tooManyAttempts) Error() string {
	mins := int((e.wait + time.Minute - 1) / time.Minute)
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("Too many failed sign-ins. Please wait %d %s and try again, or reset your password.", mins, unit)
}

// retryAfter is the Retry-After value: whole seconds, rounded up.
func (e *tooManyAttempts) retryAfter() string {
	return strconv.FormatInt(int64((e.wait+time.Second-1)/time.Second), 10)
}

// errBadCredentials is the one answer to a wrong password and to an email
// nobody registered: the same words, status and (with the dummy hash)
// time, so that sign-in does not reveal who has an account.
var errBadCredentials = market.Errorf(market.EUNAUTHORIZED, "The email or password is not right.")

// checkPassword signs a person in by email and password, within the limit
// on failed attempts (per account and per client address, in PostgreSQL
// so that it holds across replicas, and counted before the password is
// checked so that concurrent attempts cannot slip past it). It returns the
// user, or errBadCredentials, or *tooManyAttempts.
func (s *Server) checkPassword(r *http.Request, email, pw string) (*market.User, error) {
	ctx := r.Context()
	email = strings.TrimSpace(email)
	client, _ := s.clientIP(r)
	wait, err := s.db.BeginLoginAttempt(ctx, email, client)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &tooManyAttempts{wait: wait}
	}
	u, err := s.db.UserByEmail(ctx, email)
	switch {
	case err == nil:
		ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
		if err != nil {
			return nil, err
		}
		if ok {
			if rehash {
				// Parameters were raised since this hash was made: store a
				// hash at today's cost, now that the password is known.
				if h, err := s.hasher.Hash(ctx, pw); err == nil {
					if err := s.db.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, h); err != nil {
						s.logger.Warn("upgrade password hash", "user", u.ID, "err", err)
					}
				}
			}
			if err := s.db.ClearLoginFailures(ctx, email, client); err != nil {
				return nil, err
			}
			return u, nil
		}
	case market.ErrorCode(err) == market.ENOTFOUND:
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return nil, errBadCredentials // BeginLoginAttempt counted it
}

// isTooMany reports whether err is a refused sign-in attempt.
func isTooMany(err error) bool {
	var t *tooManyAttempts
	return errors.As(err, &t)
}

// sessionCartCount returns u's cart count as the session store read it
// with the session (postgres.SessionUser). sessionLayer asks for it for a
// GET or HEAD only (WantCart): nothing in such a request changed the cart
// since. ok is false when the count was not read that way (a Bearer
// token, an unsafe method): ask the store.
func sessionCartCount(r *http.Request, u *market.User) (n int, ok bool) {
	info, _ := r.Context().Value(infoKey).(*requestInfo)
	if info == nil || info.sessionUser == nil || !info.sessionUser.WantCart || info.sessionUser.User != u {
		return 0, false
	}
	return info.sessionUser.CartCount, true
}
