package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

// A visitor's cart lives in a cookie, not in a server-side session: the
// accounts design promises that a visitor who never signed in creates no
// session row and costs no session query, and a cookie keeps that promise
// for visitors who shop too. It holds lines only ("12-3.45-1": listing 12
// three times, listing 45 once), never prices or names, so nothing in it is
// believed: every page reads the listings afresh and checks each line
// (market.CartItem.Check), and MergeCart checks them again at login. It is
// not signed, because a forged cookie can say nothing a visitor could not
// also say by posting the add-to-cart form; signing would only add a
// secret that every replica must share. Its size is bounded (guestCartMax
// lines, and the whole value stays far below the 4 KiB browsers keep).
const guestCartCookie = "bazaar_cart"

// guestCartMax bounds a visitor's cart; a signed-in cart holds up to
// market.MaxCartLines.
const guestCartMax = 50

// guestCartAge keeps a visitor's cart for 30 days.
const guestCartAge = 30 * 24 * 60 * 60

// guestCart reads the visitor's cart lines, in the order they were added.
// A malformed cookie is an empty cart (the next change replaces it).
func guestCart(r *http.Request) []market.Line {
	c, err := r.Cookie(guestCartCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return parseGuestCart(c.Value)
}

// parseGuestCart parses a cookie value strictly: canonical positive ids,
// quantities in 1..MaxQuantity, each listing once, at most guestCartMax
// lines; anything else is nil.
func parseGuestCart(v string) []market.Line {
	parts := strings.Split(v, ".")
	if len(parts) > guestCartMax {
		return nil
	}
	lines := make([]market.Line, 0, len(parts))
	for _, p := range parts {
		id, q, ok := strings.Cut(p, "-")
		if !ok {
			return nil
		}
		lid, ok := canonicalID(id)
		if !ok {
			return nil
		}
		n, ok := canonicalID(q)
		if !ok || n > market.MaxQuantity {
			return nil
		}
		for _, l := range lines {
			if l.ListingID == lid {
				return nil
			}
		}
		lines = append(lines, market.Line{ListingID: lid, Quantity: int(n)})
	}
	return lines
}

func formatGuestCart(lines []market.Line) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatInt(l.ListingID, 10))
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(l.Quantity))
	}
	return b.String()
}

// setGuestCart stores lines in the visitor's cookie (or removes it when
// there are none). Secure follows BAZAAR_SECURE_COOKIES, as for the flash.
func (s *Server) setGuestCart(w http.ResponseWriter, lines []market.Line) {
	// #nosec G124 -- Secure is configuration (BAZAAR_SECURE_COOKIES), as for the flash cookie.
	c := &http.Cookie{Name: guestCartCookie, Value: formatGuestCart(lines), Path: "/", MaxAge: guestCartAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure}
	if len(lines) == 0 {
		c.Value, c.MaxAge = "", -1
	}
	http.SetCookie(w, c)
}

// guestCartCount is the header's item count for a visitor.
func guestCartCount(r *http.Request) int {
	n := 0
	for _, l := range guestCart(r) {
		n += l.Quantity
	}
	return n
}

// guestPut adds qty units of listing id to the visitor's cart (add) or sets
// its quantity (to a line that must be there already), checked by the same
// rule as a signed-in cart, market.CheckCartQuantity.
func (s *Server) guestPut(w http.ResponseWriter, r *http.Request, id int64, qty int, add bool) error {
	if err := market.ValidateQuantity(qty); err != nil {
		return err
	}
	lines := guestCart(r)
	i := -1
	for j, l := range lines {
		if l.ListingID == id {
			i = j
		}
	}
	if i < 0 && !add {
		return errNotInGuestCart()
	}
	if i < 0 && len(lines) >= guestCartMax {
		return &market.Error{Code: market.EINVALID, Message: "Your cart is full.",
			Fields: map[string]string{"quantity": "A cart holds up to 50 different listings; sign in for more"}}
	}
	l, err := s.db.Listing(r.Context(), id)
	if err != nil {
		return err
	}
	total := qty
	if add && i >= 0 {
		total = min(lines[i].Quantity+qty, market.MaxQuantity)
	}
	if err := market.CheckCartQuantity(l.Name, l.Quantity, 0, 0, total); err != nil {
		return err
	}
	if i < 0 {
		lines = append(lines, market.Line{ListingID: id, Quantity: total})
	} else {
		lines[i].Quantity = total
	}
	s.setGuestCart(w, lines)
	return nil
}

// guestRemove takes listing id out of the visitor's cart.
func (s *Server) guestRemove(w http.ResponseWriter, r *http.Request, id int64) error {
	lines := guestCart(r)
	for i, l := range lines {
		if l.ListingID == id {
			s.setGuestCart(w, append(lines[:i], lines[i+1:]...))
			return nil
		}
	}
	return errNotInGuestCart()
}

func errNotInGuestCart() error {
	return market.Errorf(market.ENOTFOUND, "That listing is not in your cart.")
}

// mergeGuestCart moves the visitor's cookie cart into userID's cart, at
// sign-in and sign-up, and clears the cookie. A failure keeps the cookie,
// so nothing is lost: the next sign-in merges it.
func (s *Server) mergeGuestCart(w http.ResponseWriter, r *http.Request, userID int64) {
	lines := guestCart(r)
	if len(lines) == 0 {
		if _, err := r.Cookie(guestCartCookie); err == nil {
			s.setGuestCart(w, nil) // a malformed cookie: drop it
		}
		return
	}
	if err := s.db.MergeCart(r.Context(), userID, lines); err != nil {
		s.logger.Warn("merge the visitor's cart", "request_id", requestID(r.Context()), "err", err)
		return
	}
	s.setGuestCart(w, nil)
}
