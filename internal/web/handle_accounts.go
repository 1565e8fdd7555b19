package web

import (
	"net/http"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

func (s *Server) handleSignupForm(w http.ResponseWriter, r *http.Request) {
	f := templates.SignupForm{Next: localPath(r.URL.Query().Get("next"))}
	f.Layout = s.layout(w, r, "Sign up")
	s.render(w, r, http.StatusOK, templates.Signup(f))
}

// handleSignup opens an account and signs its owner in. A taken email is
// said to be taken (409, beside the field): see README "Accounts" for why
// sign-up cannot hide that, and what it does not reveal.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	su := market.Signup{Email: r.PostForm.Get("email"), DisplayName: r.PostForm.Get("display_name"), Password: r.PostForm.Get("password")}
	f := templates.SignupForm{Email: su.Email, DisplayName: su.DisplayName, Next: localPath(r.PostForm.Get("next"))}
	u, err := s.createUser(r, su)
	if err == nil {
		err = s.signIn(r, u)
	}
	if err != nil {
		if fields := market.ErrorFields(err); len(fields) > 0 {
			fail := s.describe(w, r, err)
			f.Errors = fields
			f.Layout = s.layout(w, r, "Sign up")
			s.render(w, r, fail.Status, templates.Signup(f))
			return
		}
		s.error(w, r, err)
		return
	}
	s.mergeGuestCart(w, r, u.ID)
	s.setFlash(w, "welcome")
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// createUser checks a sign-up, hashes its password and stores the user:
// the one path for the page and the API.
func (s *Server) createUser(r *http.Request, su market.Signup) (*market.User, error) {
	if err := su.Validate(); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(r.Context(), su.Password)
	if err != nil {
		return nil, err
	}
	u := &market.User{Email: su.Email, DisplayName: su.DisplayName, PasswordHash: hash}
	if err := s.db.CreateUser(r.Context(), u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	f := templates.LoginForm{Next: localPath(r.URL.Query().Get("next"))}
	f.Layout = s.layout(w, r, "Sign in")
	s.render(w, r, http.StatusOK, templates.Login(f))
}

// handleLogin signs a person in and sends them on to ?next= (a local path
// only). A wrong password and an unknown email get the same page, 422,
// after the same work; too many failures get 429 with Retry-After.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	f := templates.LoginForm{Email: strings.TrimSpace(r.PostForm.Get("email")), Next: localPath(r.PostForm.Get("next"))}
	u, err := s.checkPassword(r, f.Email, r.PostForm.Get("password"))
	if err == nil {
		err = s.signIn(r, u)
	}
	if err != nil {
		if err != errBadCredentials && !isTooMany(err) {
			s.error(w, r, err)
			return
		}
		fail := s.describe(w, r, err) // 429 with Retry-After, or 401
		status := fail.Status
		if err == errBadCredentials {
			status = http.StatusUnprocessableEntity // a form's wrong input; 401 needs a WWW-Authenticate a form has not
			w.Header().Del("WWW-Authenticate")
		}
		f.Message = fail.Message
		f.Layout = s.layout(w, r, "Sign in")
		s.render(w, r, status, templates.Login(f))
		return
	}
	s.mergeGuestCart(w, r, u.ID) // the visitor's cart becomes the user's
	s.setFlash(w, "signedin")
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// handleLogout ends the session on the server and clears the cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.signOut(r); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "signedout")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// parseForm reads a small form body; on failure it has answered.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, formParseError(err))
		return false
	}
	return true
}

// handleSeller shows a seller's listings, newest first, 24 a page.
func (s *Server) handleSeller(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	f := market.ListingFilter{Limit: HomePageSize, SellerID: id}
	if f.Before, ok = cursor(r, "before"); !ok {
		s.handleNotFound(w, r)
		return
	}
	if f.After, ok = cursor(r, "after"); !ok {
		s.handleNotFound(w, r)
		return
	}
	seller, err := s.db.User(r.Context(), id)
	if err != nil {
		s.error(w, r, sellerNotFound(err))
		return
	}
	page, err := s.db.Listings(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	cacheablePage(w)
	s.render(w, r, http.StatusOK, templates.Seller(templates.SellerPage{
		Layout: s.layout(w, r, "Listings by "+seller.DisplayName), SellerID: seller.ID, SellerName: seller.DisplayName,
		Page: page, Paged: f.Before > 0 || f.After > 0,
	}))
}

// sellerNotFound words a missing user as a missing seller.
func sellerNotFound(err error) error {
	if market.ErrorCode(err) == market.ENOTFOUND {
		return market.Errorf(market.ENOTFOUND, "No such seller.")
	}
	return err
}
