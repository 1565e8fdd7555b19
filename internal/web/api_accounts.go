package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
)

// apiUser is a user as the API shows them to themselves.
type apiUser struct {
	ID          int64     `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

func toAPIUser(u *market.User) apiUser {
	return apiUser{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt.UTC()}
}

// apiToken is an API token's public part; Token (the secret) only in the
// answer that created it.
type apiToken struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Token      string     `json:"token,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func toAPIToken(t *market.APIToken, secret string) apiToken {
	out := apiToken{ID: t.ID, Name: t.Name, Token: secret, CreatedAt: t.CreatedAt.UTC()}
	if t.LastUsedAt != nil {
		at := t.LastUsedAt.UTC()
		out.LastUsedAt = &at
	}
	return out
}

// apiSignup opens an account: {"email", "display_name", "password"}.
func (s *Server) apiSignup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string `json:"email"`
		DisplayName string `json:"display_name"`
		Password    string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.createUser(r, market.Signup{Email: in.Email, DisplayName: in.DisplayName, Password: in.Password})
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/me")
	s.writeJSON(w, http.StatusCreated, "application/json", toAPIUser(u))
}

// apiCreateToken makes an API token, either for the caller (already
// authenticated) with {"name"}, or by email and password with {"email",
// "password", "name"}, limited like a sign-in. The secret is in this answer
// only.
func (s *Server) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    *string `json:"email"`
		Password *string `json:"password"`
		Name     string  `json:"name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	var u *market.User
	if in.Email != nil || in.Password != nil {
		p := market.Problems{}
		if in.Email == nil {
			p.Add("email", "Email is required")
		}
		if in.Password == nil {
			p.Add("password", "Password is required")
		}
		if err := p.Err(); err != nil {
			s.error(w, r, err)
			return
		}
		var err error
		if u, err = s.checkPassword(r, *in.Email, *in.Password); err != nil {
			s.error(w, r, err)
			return
		}
	} else {
		var ok bool
		if u, ok = s.requireUser(w, r); !ok {
			return
		}
	}
	t, secret, err := s.db.CreateAPIToken(r.Context(), u.ID, in.Name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tokens/"+strconv.FormatInt(t.ID, 10))
	s.writeJSON(w, http.StatusCreated, "application/json", toAPIToken(t, secret))
}

func (s *Server) apiListTokens(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	ts, err := s.db.APITokens(r.Context(), u.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := struct {
		Tokens []apiToken `json:"tokens"`
	}{Tokens: make([]apiToken, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = toAPIToken(t, "")
	}
	s.writeJSON(w, http.StatusOK, "application/json", out)
}

// apiRevokeToken deletes one of the caller's tokens; another user's is a
// 404, as if it did not exist.
func (s *Server) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	id, ok := pathID(r)
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "Token not found."))
		return
	}
	if err := s.db.RevokeAPIToken(r.Context(), u.ID, id); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.writeJSON(w, http.StatusOK, "application/json", toAPIUser(u))
}

// apiSeller is a seller's public face: no email.
type apiSeller struct {
	ID          int64  `json:"id"`
	DisplayName string `json:"display_name"`
}

// apiGetSeller returns a seller and one page of their listings, newest
// first, with the cursors of GET /api/v1/listings.
func (s *Server) apiGetSeller(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.error(w, r, market.Errorf(market.ENOTFOUND, "No such seller."))
		return
	}
	f, err := listingFilter(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f.SellerID = id
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
	out := struct {
		Seller apiSeller `json:"seller"`
		apiListingPage
	}{Seller: apiSeller{ID: seller.ID, DisplayName: seller.DisplayName}, apiListingPage: toAPIListingPage(page)}
	s.writeJSON(w, http.StatusOK, "application/json", out)
}
