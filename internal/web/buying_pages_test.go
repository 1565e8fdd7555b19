package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func listingURL(id int64) string { return "/listings/" + strconv.FormatInt(id, 10) }

// TestGuestCart: a visitor's cart lives in a cookie; it works without
// JavaScript, marks lines it cannot order instead of dropping them, and
// checkout sends the visitor to sign in.
func TestGuestCart(t *testing.T) {
	sh := newShop(t)
	seller := sh.users(t, 1)[0]
	s := &shop{testServer: sh.guest(t), pool: sh.pool}
	lamp := s.listing(t, seller.ID, "Brass lamp", 3, 1250)
	rug := s.listing(t, seller.ID, "Wool rug", 0, 9900)
	vase := s.listing(t, seller.ID, "Blue vase", 5, 400)
	add := func(id int64, q string) *response {
		return s.postForm(t, "/cart/items", url.Values{"listing_id": {strconv.FormatInt(id, 10)}, "quantity": {q}})
	}

	if r := s.get(t, listingURL(lamp)); !strings.Contains(r.body, `action="/cart/items"`) || !strings.Contains(r.body, "Add to cart") {
		t.Errorf("listing page has no add-to-cart form: %s", r.body)
	}
	if r := s.get(t, listingURL(rug)); r.StatusCode != http.StatusOK || strings.Contains(r.body, "Add to cart") || !strings.Contains(r.body, "Sold out") {
		t.Errorf("sold-out listing: %d, want visible, marked sold out, no add button", r.StatusCode)
	}
	sessions := s.scalar(t, `SELECT count(*) FROM sessions`)
	r := add(lamp, "2")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/cart" {
		t.Fatalf("add: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if n := s.scalar(t, `SELECT count(*) FROM sessions`); n != sessions || strings.Contains(r.Header.Get("Set-Cookie"), s.Srv.SessionCookieName()) {
		t.Errorf("a visitor's cart made a session (%d rows, were %d)", n, sessions)
	}
	r = s.get(t, "/cart")
	for _, want := range []string{"Brass lamp", "25.00 USD", `<span class="cart-count"`, "(2)", "Sign in to check out"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("cart page lacks %q:\n%s", want, r.body)
		}
	}
	if r := s.get(t, "/"); !strings.Contains(r.body, "(2)") {
		t.Error("the header does not count the cart's items")
	}
	r = add(lamp, "2")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Only 3 left") || !strings.Contains(r.body, `id="quantity-error"`) {
		t.Errorf("add beyond stock: %d, want 422 with the message beside the quantity", r.StatusCode)
	}
	if r := add(rug, "1"); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Sold out") {
		t.Errorf("add sold out: %d", r.StatusCode)
	}
	if r := add(999999, "1"); r.StatusCode != http.StatusNotFound {
		t.Errorf("add unknown listing: %d", r.StatusCode)
	}
	if r := add(lamp, "zero"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("add with a bad quantity: %d", r.StatusCode)
	}
	if r := s.postForm(t, "/cart/items/"+strconv.FormatInt(lamp, 10), url.Values{"quantity": {"9"}}); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "Only 3 left") {
		t.Errorf("update beyond stock: %d", r.StatusCode)
	}
	if r := s.postForm(t, "/cart/items/"+strconv.FormatInt(lamp, 10), url.Values{"quantity": {"3"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("update: %d %s", r.StatusCode, r.body)
	}
	add(vase, "1")
	// The vase is deleted and the lamp sells out meanwhile: both lines stay,
	// marked.
	if _, err := s.pool.Exec(context.Background(), `DELETE FROM listings WHERE id = $1`, vase); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(context.Background(), `UPDATE listings SET quantity = 0 WHERE id = $1`, lamp); err != nil {
		t.Fatal(err)
	}
	r = s.get(t, "/cart")
	for _, want := range []string{"Brass lamp", "Sold out.", "No longer for sale", "no longer for sale", "(4)"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("cart page lacks %q:\n%s", want, r.body)
		}
	}
	if r := s.postForm(t, "/cart/items/"+strconv.FormatInt(vase, 10)+"/delete", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("remove: %d", r.StatusCode)
	}
	if r := s.postForm(t, "/cart/items/"+strconv.FormatInt(vase, 10)+"/delete", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("remove again: %d, want 404", r.StatusCode)
	}
	if r := s.postForm(t, "/checkout", url.Values{"idempotency_key": {"k"}}); r.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
		t.Errorf("guest checkout: %d %s, want a redirect to sign in", r.StatusCode, r.Header.Get("Location"))
	}
	// A cookie is not believed: a malformed one is an empty cart.
	u, _ := url.Parse(s.URL)
	s.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "bazaar_cart", Value: "1-1.1-1", Path: "/"}})
	if r := s.get(t, "/cart"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Your cart is empty") {
		t.Errorf("malformed cart cookie: %d", r.StatusCode)
	}
}

// TestCartCountNeverCached: the anonymous page cache never serves one
// visitor's cart count to another, nor a cookie-less page to a visitor
// with a cart.
func TestCartCountNeverCached(t *testing.T) {
	rep := newCachedReplica(t, nil)
	id := rep.createListings(t, 1)[0]
	for _, path := range []string{"/", listingURL(id)} {
		rep.cached(t, path)
	}
	g := rep.guest(t)
	r := g.postForm(t, "/cart/items", url.Values{"listing_id": {strconv.FormatInt(id, 10)}, "quantity": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.StatusCode, r.body)
	}
	for _, path := range []string{"/", listingURL(id)} {
		if r := g.get(t, path); !strings.Contains(r.body, `<span class="cart-count"`) {
			t.Errorf("%s with a cart cookie: no count in the header (served from the cache?)", path)
		}
		if _, body := rep.visit(t, path); strings.Contains(body, `<span class="cart-count"`) {
			t.Errorf("%s without cookies shows a cart count", path)
		}
	}
}

// TestBuyingPages walks the pages as people use them: a visitor's cart
// merged at sign-in, a cart from two sellers, a double-clicked checkout
// that makes one set of orders, a short line named beside it, and an
// order's life on the buyer's and the seller's pages.
func TestBuyingPages(t *testing.T) {
	sh := newShop(t)
	us := sh.users(t, 3)
	ann, bob, cat := us[0], us[1], us[2] // sellers ann and bob; cat buys
	lamp := sh.listing(t, ann.ID, "Brass lamp", 5, 1250)
	rug := sh.listing(t, bob.ID, "Wool rug", 2, 9900)
	add := func(w *testServer, id int64, q string) *response {
		return w.postForm(t, "/cart/items", url.Values{"listing_id": {strconv.FormatInt(id, 10)}, "quantity": {q}})
	}

	// A visitor fills a cart, then signs in: the cart is theirs now.
	g := sh.guest(t)
	if r := add(g, lamp, "1"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("guest add: %d", r.StatusCode)
	}
	if r := g.postForm(t, "/login", url.Values{"email": {cat.Email}, "password": {cat.Password}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.StatusCode, r.body)
	}
	if n := sh.scalar(t, `SELECT coalesce(sum(quantity), 0) FROM cart_items WHERE user_id = $1 AND listing_id = $2`, cat.ID, lamp); n != 1 {
		t.Errorf("after sign-in the user's cart holds %d of the visitor's lamp, want 1", n)
	}
	u, _ := url.Parse(sh.URL)
	for _, c := range g.Client.Jar.Cookies(u) {
		if c.Name == "bazaar_cart" {
			t.Errorf("the visitor's cart cookie outlived the merge: %q", c.Value)
		}
	}
	buyer := sh.as(&testUser{ID: cat.ID, Client: g.Client})

	// A seller cannot buy their own listing.
	annPages := sh.as(ann)
	if r := annPages.get(t, listingURL(lamp)); strings.Contains(r.body, "Add to cart") || !strings.Contains(r.body, "This is your listing") {
		t.Error("the seller is offered their own listing")
	}
	if r := add(annPages, lamp, "1"); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "your own listing") {
		t.Errorf("seller adds own listing: %d", r.StatusCode)
	}

	add(buyer, lamp, "1")
	add(buyer, rug, "2")
	r := buyer.get(t, "/cart")
	for _, want := range []string{"From User 0", "From User 1", "Total from User 0: <strong>25.00 USD</strong>", "Total from User 1: <strong>198.00 USD</strong>", "(4)", "You will place 2 orders"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("cart lacks %q:\n%s", want, r.body)
		}
	}
	key := regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`).FindStringSubmatch(r.body)
	if key == nil {
		t.Fatal("the checkout form has no idempotency key")
	}

	// Someone buys a rug meanwhile: checkout names the short line and keeps the cart.
	if _, err := sh.pool.Exec(context.Background(), `UPDATE listings SET quantity = 1 WHERE id = $1`, rug); err != nil {
		t.Fatal(err)
	}
	r = buyer.postForm(t, "/checkout", url.Values{"idempotency_key": {key[1]}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.body, "Wool rug: you asked for 2, only 1 left.") || !strings.Contains(r.body, "nothing was ordered") {
		t.Errorf("short checkout: %d\n%s", r.StatusCode, r.body)
	}
	if n := sh.scalar(t, `SELECT count(*) FROM cart_items WHERE user_id = $1`, cat.ID); n != 2 {
		t.Errorf("the cart lost lines: %d left", n)
	}
	if r := buyer.postForm(t, "/cart/items/"+strconv.FormatInt(rug, 10), url.Values{"quantity": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", r.StatusCode)
	}

	// A double click: two submissions of one form, at once.
	key = regexp.MustCompile(`name="idempotency_key" value="([^"]+)"`).FindStringSubmatch(buyer.get(t, "/cart").body)
	var wg sync.WaitGroup
	answers := make([]*response, 2)
	for i := range answers {
		wg.Go(func() { answers[i] = buyer.postForm(t, "/checkout", url.Values{"idempotency_key": {key[1]}}) })
	}
	wg.Wait()
	for _, a := range answers {
		if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/orders" {
			t.Errorf("checkout: %d %s", a.StatusCode, a.Header.Get("Location"))
		}
	}
	if n := sh.scalar(t, `SELECT count(*) FROM orders WHERE buyer_id = $1`, cat.ID); n != 2 {
		t.Fatalf("orders = %d, want 2 (one per seller, once)", n)
	}
	r = buyer.get(t, "/orders")
	ids := regexp.MustCompile(`href="/orders/([0-9]+)"`).FindAllStringSubmatch(r.body, -1)
	if len(ids) != 2 || strings.Contains(r.body, `<span class="cart-count"`) {
		t.Fatalf("orders page: %d orders, want 2, and an empty cart:\n%s", len(ids), r.body)
	}
	var rugOrder string
	for _, m := range ids {
		if strings.Contains(buyer.get(t, "/orders/"+m[1]).body, "Wool rug") {
			rugOrder = m[1]
		}
	}
	bobPages := sh.as(bob)
	if r := bobPages.get(t, "/sales"); !strings.Contains(r.body, `href="/sales/`+rugOrder+`"`) {
		t.Errorf("the seller's sales lack order %s", rugOrder)
	}
	if r := bobPages.get(t, "/orders/"+rugOrder); r.StatusCode != http.StatusNotFound {
		t.Errorf("the seller at /orders/%s: %d, want 404 (it is a sale)", rugOrder, r.StatusCode)
	}
	// Too long a note is refused beside the field; then shipped.
	if r := bobPages.postForm(t, "/sales/"+rugOrder+"/ship", url.Values{"tracking": {strings.Repeat("x", 501)}}); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, `id="tracking-error"`) {
		t.Errorf("long note: %d", r.StatusCode)
	}
	if r := bobPages.postForm(t, "/sales/"+rugOrder+"/ship", url.Values{"tracking": {"PostNL 3S42"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("ship: %d %s", r.StatusCode, r.body)
	}
	if r := buyer.postForm(t, "/orders/"+rugOrder+"/cancel", nil); r.StatusCode != http.StatusConflict || !strings.Contains(r.body, "cannot cancel only before it ships") &&
		!strings.Contains(r.body, "can cancel only before it ships") {
		t.Errorf("buyer cancels a shipped order: %d", r.StatusCode)
	}
	r = buyer.get(t, "/orders/"+rugOrder)
	if !strings.Contains(r.body, "PostNL 3S42") || !strings.Contains(r.body, "Confirm delivery") {
		t.Errorf("the buyer's order page lacks the tracking note or the delivery form")
	}
	if r := buyer.postForm(t, "/orders/"+rugOrder+"/deliver", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("deliver: %d %s", r.StatusCode, r.body)
	}
	if r := buyer.get(t, "/orders/"+rugOrder); !strings.Contains(r.body, `id="order-status">delivered<`) {
		t.Errorf("order not delivered:\n%s", r.body)
	}
	if n := sh.scalar(t, `SELECT count(*) FROM mail_outbox WHERE subject = $1`, "Your order #"+rugOrder+" has shipped"); n != 1 {
		t.Errorf("shipping mails to the buyer: %d, want 1", n)
	}
}
