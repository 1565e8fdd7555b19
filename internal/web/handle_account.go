package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/web/templates"
)

// sessionNewTokenKey carries a token's secret from the POST that made it to
// the account page that shows it, once (Pop). It is in the session, on the
// server, never in a cookie or a URL.
const sessionNewTokenKey = "new_token"

// accountPage builds the account page for u: its forms, the user's tokens,
// and a token's secret if one was just made.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, u *market.User) (templates.AccountPage, error) {
	p := templates.AccountPage{DisplayName: u.DisplayName, Email: u.Email, Errors: map[string]string{}}
	tokens, err := s.db.APITokens(r.Context(), u.ID)
	if err != nil {
		return p, err
	}
	p.Tokens = tokens
	if s.sessionLoaded(r) { // not for a Bearer token's GET
		if v, ok := s.sessions.Pop(r.Context(), sessionNewTokenKey).(string); ok {
			p.NewToken = v
		}
	}
	p.Layout = s.layout(w, r, "Your account")
	return p, nil
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	p, err := s.accountPage(w, r, u)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, templates.Account(p))
}

// accountFormError shows the account page again with the message of err
// beside its field (422 and the like), or the error page.
func (s *Server) accountFormError(w http.ResponseWriter, r *http.Request, u *market.User, err error, typed func(*templates.AccountPage)) {
	fields := market.ErrorFields(err)
	if len(fields) == 0 {
		s.error(w, r, err)
		return
	}
	fail := s.describe(w, r, err)
	p, perr := s.accountPage(w, r, u)
	if perr != nil {
		s.error(w, r, perr)
		return
	}
	p.Errors = fields
	if typed != nil {
		typed(&p)
	}
	s.render(w, r, fail.Status, templates.Account(p))
}

func (s *Server) handleAccountName(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok || !s.parseForm(w, r) {
		return
	}
	name := r.PostForm.Get("display_name")
	if _, err := s.db.UpdateDisplayName(r.Context(), u.ID, name); err != nil {
		s.accountFormError(w, r, u, err, func(p *templates.AccountPage) { p.DisplayName = name })
		return
	}
	s.setFlash(w, "namesaved")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// handleAccountPassword changes the password, given the current one (whose
// failures count like sign-in failures: someone at an unattended browser
// may not try passwords either), and ends every other session of the user.
func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok || !s.parseForm(w, r) {
		return
	}
	if _, err := s.checkPassword(r, u.Email, r.PostForm.Get("current_password")); err != nil {
		if err == errBadCredentials {
			err = &market.Error{Code: market.EINVALID, Message: "Your current password is not right.",
				Fields: map[string]string{"current_password": "This is not your current password"}}
		}
		s.accountFormError(w, r, u, err, nil)
		return
	}
	pw := r.PostForm.Get("new_password")
	p := market.Problems{}
	market.ValidatePassword(p, "new_password", pw)
	if err := p.Err(); err != nil {
		s.accountFormError(w, r, u, err, nil)
		return
	}
	hash, err := s.hasher.Hash(r.Context(), pw)
	if err == nil {
		err = s.db.ChangePassword(r.Context(), u.ID, hash, s.sessions.Token(r.Context()))
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "passwordchanged")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *Server) handleAccountTokenCreate(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok || !s.parseForm(w, r) {
		return
	}
	name := r.PostForm.Get("name")
	_, secret, err := s.db.CreateAPIToken(r.Context(), u.ID, name)
	if err != nil {
		s.accountFormError(w, r, u, err, func(p *templates.AccountPage) { p.TokenName = name })
		return
	}
	s.sessions.Put(r.Context(), sessionNewTokenKey, secret)
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *Server) handleAccountTokenRevoke(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := pathID(r)
	if !ok {
		s.handleNotFound(w, r)
		return
	}
	if err := s.db.RevokeAPIToken(r.Context(), u.ID, id); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "tokenrevoked")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *Server) handleForgotForm(w http.ResponseWriter, r *http.Request) {
	f := templates.ForgotForm{}
	f.Layout = s.layout(w, r, "Forgotten password")
	s.render(w, r, http.StatusOK, templates.Forgot(f))
}

// handleForgot queues a reset link for the account with the email typed,
// if there is one, and answers alike either way: the page does not tell
// who has an account. The link and its mail are written in one
// transaction (the outbox), so a mail server that is down delays the mail
// but loses none.
func (s *Server) handleForgot(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	p := market.Problems{}
	email = market.ValidateEmail(p, email)
	if err := p.Err(); err != nil {
		f := templates.ForgotForm{Email: email, Errors: market.ErrorFields(err)}
		f.Layout = s.layout(w, r, "Forgotten password")
		s.render(w, r, http.StatusUnprocessableEntity, templates.Forgot(f))
		return
	}
	err := s.db.RequestPasswordReset(r.Context(), email, func(u *market.User, secret string) market.Mail {
		link := s.publicURL + "/password/reset?token=" + url.QueryEscape(secret)
		return market.Mail{To: u.Email, Subject: "Reset your Bazaar password", Body: "Hello " + u.DisplayName + ",\n\n" +
			"someone (we hope you) asked to reset the password of your Bazaar account. Follow this link within an hour to choose a new one:\n\n" +
			link + "\n\nThe link works once. If you did not ask for it, ignore this mail: your password stays as it is.\n"}
	})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "resetsent")
	http.Redirect(w, r, "/password/forgot", http.StatusSeeOther)
}

// handleResetForm shows the form for a new password, if the link is live.
// The token is in the query, not the path: the access logs record paths.
func (s *Server) handleResetForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if _, err := s.db.PasswordResetUser(r.Context(), token); err != nil {
		s.error(w, r, err)
		return
	}
	f := templates.ResetForm{Token: token}
	f.Layout = s.layout(w, r, "Choose a new password")
	w.Header().Set("Referrer-Policy", "no-referrer") // the page's URL holds the secret
	s.render(w, r, http.StatusOK, templates.Reset(f))
}

// handleReset spends the link: sets the new password, ends every session
// of the user (whoever had the old password is signed out everywhere),
// clears the failed sign-ins from this address, and signs this browser in.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	token, pw := r.PostForm.Get("token"), r.PostForm.Get("password")
	p := market.Problems{}
	market.ValidatePassword(p, "password", pw)
	if err := p.Err(); err != nil {
		if _, lerr := s.db.PasswordResetUser(r.Context(), token); lerr != nil {
			s.error(w, r, lerr)
			return
		}
		f := templates.ResetForm{Token: token, Errors: market.ErrorFields(err)}
		f.Layout = s.layout(w, r, "Choose a new password")
		s.render(w, r, http.StatusUnprocessableEntity, templates.Reset(f))
		return
	}
	hash, err := s.hasher.Hash(r.Context(), pw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.db.ResetPassword(r.Context(), token, hash)
	if err != nil {
		s.error(w, r, err)
		return
	}
	client, _ := s.clientIP(r)
	if err := s.db.ClearLoginFailures(r.Context(), u.Email, client); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.signIn(r, u); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, "passwordreset")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
