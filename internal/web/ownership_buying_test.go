package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The buying routes in the ownership table. The owner (the fixture's
// seller, ts) is the buyer of f.purchase, bought from a third person, and
// the seller of f.sale, bought by that third person; another user may see
// neither; a guest is asked to sign in. Carts are everyone's own: another
// user's request acts on their own cart and never touches the owner's.

// buying prepares the fixture: the third person and their listing (10 in
// stock), the owner's purchase (shipped when ship is set) and sale, and a
// line of the third person's listing in the owner's cart.
func buying(ship bool) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) {
		t.Helper()
		f.third = f.owner.as(f.owner.newUser(t, "Tess Third"))
		f.thirdListing = f.third.createAPI(t, `{"name":"Tess's teapot","price_cents":2000,"quantity":10}`).ID
		f.purchase = placeOrder(t, f.owner, f.thirdListing)
		f.sale = placeOrder(t, f.third, f.listing)
		if ship {
			if r := f.third.api(t, "POST", "/api/v1/orders/"+id(f.purchase)+"/ship", ""); r.StatusCode != http.StatusOK {
				t.Fatalf("ship: %d %s", r.StatusCode, r.body)
			}
		}
		if r := f.owner.api(t, "PUT", "/api/v1/cart/items/"+id(f.thirdListing), `{"quantity":2}`); r.StatusCode != http.StatusOK {
			t.Fatalf("cart: %d %s", r.StatusCode, r.body)
		}
	}
}

// placeOrder has who buy one of listing and returns the order's id.
func placeOrder(t *testing.T, who *testServer, listing int64) int64 {
	t.Helper()
	r := who.api(t, "POST", "/api/v1/orders", `{"items":[{"listing_id":`+id(listing)+`,"quantity":1}]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("checkout: %d %s", r.StatusCode, r.body)
	}
	return decode[apiOrdersJSON](t, r).Orders[0].ID
}

// cartIntact checks that the owner's cart still holds its line, two of
// the third person's listing.
func cartIntact(t *testing.T, f *fixture) {
	t.Helper()
	r := f.owner.api(t, "GET", "/api/v1/cart", "")
	c := decode[struct {
		Items []struct {
			ListingID int64 `json:"listing_id"`
			Quantity  int   `json:"quantity"`
		} `json:"items"`
	}](t, r)
	for _, it := range c.Items {
		if it.ListingID == f.thirdListing && it.Quantity == 2 {
			return
		}
	}
	t.Errorf("the owner's cart line changed: %s", r.body)
}

// statusIs returns a check that order id (of the owner's) is still status.
func statusIs(order func(*fixture) int64, status string) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) {
		t.Helper()
		if r := f.owner.api(t, "GET", "/api/v1/orders/"+id(order(f)), ""); !strings.Contains(r.body, `"status":"`+status+`"`) {
			t.Errorf("the order changed: %s", r.body)
		}
	}
}

func purchase(f *fixture) int64 { return f.purchase }
func sale(f *fixture) int64     { return f.sale }

// onlyOwnerSees checks that a list shows order(f) to the owner only.
func onlyOwnerSees(order func(*fixture) int64, link string) func(t *testing.T, f *fixture, who string, r *response) {
	return func(t *testing.T, f *fixture, who string, r *response) {
		if who == "guest" {
			return
		}
		want := link + id(order(f))
		if strings.Contains(r.body, want) != (who == "owner") {
			t.Errorf("%s: %q shown %v; only the owner should see it", who, want, !(who == "owner"))
		}
	}
}

func form(w *testServer, t *testing.T, path string, v url.Values) *response {
	return w.postForm(t, path, v)
}

var buyingCases = []ownershipCase{
	// Carts.
	{route: "GET /cart", owner: 200, other: 200, guest: 200, setup: buying(false),
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/cart") },
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if strings.Contains(r.body, "Tess&#39;s teapot") != (who == "owner") {
				t.Errorf("%s: the owner's cart line is shown %v", who, who != "owner")
			}
		}},
	{route: "POST /cart/items", owner: 303, other: 303, guest: 303, setup: buying(false), guestServed: true, intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/cart/items", url.Values{"listing_id": {id(f.thirdListing)}, "quantity": {"1"}})
		},
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if r.Header.Get("Location") != "/cart" {
				t.Errorf("%s: Location = %q", who, r.Header.Get("Location"))
			}
		}},
	{route: "POST /cart/items/{listing_id}", owner: 303, other: 404, guest: 404, setup: buying(false), intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/cart/items/"+id(f.thirdListing), url.Values{"quantity": {"1"}})
		}},
	{route: "POST /cart/items/{listing_id}/delete", owner: 303, other: 404, guest: 404, setup: buying(false), intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/cart/items/"+id(f.thirdListing)+"/delete", nil)
		}},
	// The other user's checkout orders their own cart (filled by the cases
	// above), never the owner's.
	{route: "POST /checkout", owner: 303, other: 303, guest: 303, setup: buying(false), intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/checkout", url.Values{"idempotency_key": {"ownership-" + id(f.thirdListing)}})
		}},
	{route: "GET /api/v1/cart", owner: 200, other: 200, guest: 401, setup: buying(false),
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.api(t, "GET", "/api/v1/cart", "") },
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if who != "guest" && strings.Contains(r.body, `"listing_id":`+id(f.thirdListing)+`,`) != (who == "owner") {
				t.Errorf("%s: %s", who, r.body)
			}
		}},
	{route: "PUT /api/v1/cart/items/{listing_id}", owner: 200, other: 200, guest: 401, setup: buying(false), intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "PUT", "/api/v1/cart/items/"+id(f.thirdListing), `{"quantity":1}`)
		}},
	{route: "DELETE /api/v1/cart/items/{listing_id}", owner: 204, other: 404, guest: 401, setup: buying(false), intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "DELETE", "/api/v1/cart/items/"+id(f.thirdListing), "")
		}},
	{route: "POST /api/v1/orders", owner: 201, other: 201, guest: 401, setup: buying(false), intact: cartIntact,
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "POST", "/api/v1/orders", `{"items":[{"listing_id":`+id(f.thirdListing)+`,"quantity":1}]}`)
		},
		body: func(t *testing.T, f *fixture, who string, r *response) {
			if who != "guest" && decode[apiOrdersJSON](t, r).Orders[0].BuyerID != map[string]int64{"owner": f.owner.User.ID, "other": f.other.User.ID}[who] {
				t.Errorf("%s: the order's buyer is not the caller: %s", who, r.body)
			}
		}},
	// Orders: the buyer's.
	{route: "GET /orders", owner: 200, other: 200, guest: 303, setup: buying(false),
		do:   func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/orders") },
		body: onlyOwnerSees(purchase, "/orders/")},
	{route: "GET /orders/{id}", owner: 200, other: 404, guest: 303, setup: buying(false),
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/orders/"+id(f.purchase)) }},
	{route: "POST /orders/{id}/deliver", owner: 303, other: 404, guest: 303, setup: buying(true), intact: statusIs(purchase, "shipped"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/orders/"+id(f.purchase)+"/deliver", nil)
		}},
	{route: "POST /orders/{id}/cancel", owner: 303, other: 404, guest: 303, setup: buying(false), intact: statusIs(purchase, "placed"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/orders/"+id(f.purchase)+"/cancel", nil)
		}},
	// Sales: the seller's.
	{route: "GET /sales", owner: 200, other: 200, guest: 303, setup: buying(false),
		do:   func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/sales") },
		body: onlyOwnerSees(sale, "/sales/")},
	{route: "GET /sales/{id}", owner: 200, other: 404, guest: 303, setup: buying(false),
		do: func(t *testing.T, f *fixture, w *testServer) *response { return w.get(t, "/sales/"+id(f.sale)) }},
	{route: "POST /sales/{id}/ship", owner: 303, other: 404, guest: 303, setup: buying(false), intact: statusIs(sale, "placed"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/sales/"+id(f.sale)+"/ship", url.Values{"tracking": {"T-1"}})
		}},
	{route: "POST /sales/{id}/cancel", owner: 303, other: 404, guest: 303, setup: buying(false), intact: statusIs(sale, "placed"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return form(w, t, "/sales/"+id(f.sale)+"/cancel", nil)
		}},
	// The API's orders: visible to buyer and seller only.
	{route: "GET /api/v1/orders", owner: 200, other: 200, guest: 401, setup: buying(false),
		do:   func(t *testing.T, f *fixture, w *testServer) *response { return w.api(t, "GET", "/api/v1/orders", "") },
		body: onlyOwnerSees(purchase, `"id":`)},
	{route: "GET /api/v1/sales", owner: 200, other: 200, guest: 401, setup: buying(false),
		do:   func(t *testing.T, f *fixture, w *testServer) *response { return w.api(t, "GET", "/api/v1/sales", "") },
		body: onlyOwnerSees(sale, `"id":`)},
	{route: "GET /api/v1/orders/{id}", owner: 200, other: 404, guest: 401, setup: buying(false),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "GET", "/api/v1/orders/"+id(f.purchase), "")
		}},
	{route: "POST /api/v1/orders/{id}/ship", owner: 200, other: 404, guest: 401, setup: buying(false), intact: statusIs(sale, "placed"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "POST", "/api/v1/orders/"+id(f.sale)+"/ship", "")
		}},
	{route: "POST /api/v1/orders/{id}/deliver", owner: 200, other: 404, guest: 401, setup: buying(true), intact: statusIs(purchase, "shipped"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "POST", "/api/v1/orders/"+id(f.purchase)+"/deliver", "")
		}},
	{route: "POST /api/v1/orders/{id}/cancel", owner: 200, other: 404, guest: 401, setup: buying(false), intact: statusIs(purchase, "placed"),
		do: func(t *testing.T, f *fixture, w *testServer) *response {
			return w.api(t, "POST", "/api/v1/orders/"+id(f.purchase)+"/cancel", "")
		}},
}
