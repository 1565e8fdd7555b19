package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/postgres/postgrestest"
	"github.com/bazaarhq/bazaar/internal/web"
	"github.com/jackc/pgx/v5/pgxpool"
)

// shop is a test server with raw SQL access beside it, so that buying
// tests put listings in with the seller they name.
type shop struct {
	*testServer
	pool *pgxpool.Pool
}

func newShop(t *testing.T, opts ...func(*web.Config)) *shop {
	t.Helper()
	url := postgrestest.NewURL(t)
	db := postgrestest.Open(t, url)
	// Checkout tests queue a thousand requests on a handful of database
	// connections under the race detector: give each the time to wait.
	ts := newTestServer(t, append([]func(*web.Config){func(c *web.Config) { c.DB = db; c.RequestTimeout = time.Minute }}, opts...)...)
	return &shop{testServer: ts, pool: postgrestest.Pool(t, url)}
}

// users makes n users, each with an API token and a signed-in client.
func (s *shop) users(t *testing.T, n int) []*testUser {
	t.Helper()
	out := make([]*testUser, n)
	for i := range out {
		out[i] = s.newUser(t, "User "+strconv.Itoa(i))
	}
	return out
}

func (s *shop) listing(t *testing.T, seller int64, name string, stock int, cents int64) int64 {
	t.Helper()
	var id int64
	err := s.pool.QueryRow(context.Background(), `
		INSERT INTO listings (name, price_cents, currency, quantity, seller_id) VALUES ($1, $2, 'USD', $3, $4) RETURNING id`,
		name, cents, stock, seller).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (s *shop) scalar(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// call sends an API request as b (nil: a guest); hdr is pairs.
func (s *shop) call(t *testing.T, b *testUser, method, path, body string, hdr ...string) *response {
	t.Helper()
	r, err := s.try(b, method, path, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is as for goroutines: it reports failure instead of ending the test.
func (s *shop) try(b *testUser, method, path, body string, hdr ...string) (*response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if b != nil {
		req.Header.Set("Authorization", "Bearer "+b.Token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{Response: resp, body: string(data)}, nil
}

// apiClient keeps no cookies: API clients authenticate with a token.
var apiClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}

type apiOrderJSON struct {
	ID         int64  `json:"id"`
	BuyerID    int64  `json:"buyer_id"`
	SellerID   int64  `json:"seller_id"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	CreatedAt  string `json:"created_at"`
	Tracking   string `json:"tracking"`
	Items      []struct {
		ListingID      int64  `json:"listing_id"`
		Name           string `json:"name"`
		UnitPriceCents int64  `json:"unit_price_cents"`
		Quantity       int    `json:"quantity"`
	} `json:"items"`
}

type apiOrdersJSON struct {
	Orders     []apiOrderJSON `json:"orders"`
	NextBefore *int64         `json:"next_before"`
}

type shortProblem struct {
	problem
	Lines []market.Shortage `json:"lines"`
}

func itemsBody(lines ...market.Line) string {
	b, _ := json.Marshal(map[string]any{"items": lines})
	return string(b)
}

// TestCheckoutNeverOversells: 1,000 concurrent purchases of a listing with
// 10 in stock, through the HTTP handler: exactly 10 orders, 990 409s
// naming the listing as sold out, stock 0, nothing else.
func TestCheckoutNeverOversells(t *testing.T) {
	s := newShop(t)
	seller := s.users(t, 1)[0]
	buyers := s.users(t, 50)
	id := s.listing(t, seller.ID, "Lamp", 10, 1500)

	const n = 1000
	codes := make(chan int, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := s.try(buyers[i%len(buyers)], http.MethodPost, "/api/v1/orders", itemsBody(market.Line{ListingID: id, Quantity: 1}))
			if err != nil {
				errs <- err
				return
			}
			if r.StatusCode == http.StatusConflict {
				var p shortProblem
				if err := json.Unmarshal([]byte(r.body), &p); err != nil || len(p.Lines) != 1 || p.Lines[0].ListingID != id || p.Lines[0].Available != 0 ||
					p.Errors[market.ShortageField(id)] == "" {
					errs <- fmt.Errorf("409 body does not name the short line: %s", r.body)
				}
			}
			codes <- r.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(codes)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusCreated] != 10 || got[http.StatusConflict] != 990 || len(got) != 2 {
		t.Errorf("statuses = %v, want 10 201s and 990 409s", got)
	}
	if st := s.scalar(t, `SELECT quantity FROM listings WHERE id = $1`, id); st != 0 {
		t.Errorf("stock = %d, want 0", st)
	}
	if o := s.scalar(t, `SELECT count(*) FROM orders`); o != 10 {
		t.Errorf("orders = %d, want 10", o)
	}
	if u := s.scalar(t, `SELECT coalesce(sum(quantity), 0) FROM order_items WHERE listing_id = $1`, id); u != 10 {
		t.Errorf("units ordered = %d, want 10", u)
	}
}

// TestCheckoutManyListingsNoDeadlock: several listings bought together in
// different orders, by item lists and by carts, concurrently: no 5xx (a
// deadlock would be one), every unit accounted for, no stock below 0, and
// a refused cart is kept.
func TestCheckoutManyListingsNoDeadlock(t *testing.T) {
	s := newShop(t)
	sellers := s.users(t, 3)
	buyers := s.users(t, 200)
	const stock = 10
	var ids []int64
	for i := range 6 {
		ids = append(ids, s.listing(t, sellers[i%3].ID, "Item "+strconv.Itoa(i), stock, int64(100+i)))
	}
	// Each buyer wants 2 to 4 of the listings, in a random order; half
	// send the items, half put them in their cart first (in that order).
	wants := make([][]market.Line, len(buyers))
	for i := range buyers {
		perm := rand.Perm(len(ids))[:2+rand.IntN(3)]
		for _, j := range perm {
			wants[i] = append(wants[i], market.Line{ListingID: ids[j], Quantity: 1 + rand.IntN(2)})
		}
		if i%2 == 1 {
			for _, l := range wants[i] {
				if r := s.call(t, buyers[i], http.MethodPut, "/api/v1/cart/items/"+strconv.FormatInt(l.ListingID, 10), fmt.Sprintf(`{"quantity":%d}`, l.Quantity)); r.StatusCode != http.StatusOK {
					t.Fatalf("PUT cart: %d %s", r.StatusCode, r.body)
				}
			}
		}
	}
	type result struct {
		buyer int
		code  int
		body  string
	}
	results := make(chan result, len(buyers))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, b := range buyers {
		wg.Go(func() {
			<-start
			body := ""
			if i%2 == 0 {
				body = itemsBody(wants[i]...)
			}
			r, err := s.try(b, http.MethodPost, "/api/v1/orders", body)
			if err != nil {
				t.Error(err)
				return
			}
			results <- result{i, r.StatusCode, r.body}
		})
	}
	close(start)
	wg.Wait()
	close(results)
	created := 0
	var seen []int64
	for res := range results {
		switch res.code {
		case http.StatusCreated:
			created++
			var out apiOrdersJSON
			if err := json.Unmarshal([]byte(res.body), &out); err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Orders {
				seen = append(seen, o.ID)
			}
			if res.buyer%2 == 1 {
				if n := s.scalar(t, `SELECT count(*) FROM cart_items WHERE user_id = $1`, buyers[res.buyer].ID); n != 0 {
					t.Errorf("buyer %d's cart keeps %d lines after checkout", res.buyer, n)
				}
			}
		case http.StatusConflict:
			if res.buyer%2 == 1 {
				if n := s.scalar(t, `SELECT count(*) FROM cart_items WHERE user_id = $1`, buyers[res.buyer].ID); n != int64(len(wants[res.buyer])) {
					t.Errorf("buyer %d's cart has %d lines after a refused checkout, want %d kept", res.buyer, n, len(wants[res.buyer]))
				}
			}
		default:
			t.Errorf("buyer %d: status %d: %s", res.buyer, res.code, res.body)
		}
	}
	if created == 0 {
		t.Error("no checkout succeeded")
	}
	if n := s.scalar(t, `SELECT count(*) FROM orders`); n != int64(len(seen)) {
		t.Errorf("orders in the database = %d, orders answered 201 = %d", n, len(seen))
	}
	for _, id := range ids {
		left := s.scalar(t, `SELECT quantity FROM listings WHERE id = $1`, id)
		sold := s.scalar(t, `SELECT coalesce(sum(quantity), 0) FROM order_items WHERE listing_id = $1`, id)
		if left < 0 || left+sold != stock {
			t.Errorf("listing %d: %d left + %d sold != %d", id, left, sold, stock)
		}
	}
}

// TestCheckoutIdempotencyKey: 50 concurrent requests with one key make one
// set of orders and, once none is in flight, identical answers; the same
// key with another body is a 422; a retry later replays.
func TestCheckoutIdempotencyKey(t *testing.T) {
	s := newShop(t)
	seller := s.users(t, 1)[0]
	b := s.users(t, 1)[0]
	a := s.listing(t, seller.ID, "A", 1000, 250)
	c := s.listing(t, seller.ID, "C", 1000, 300)
	body := itemsBody(market.Line{ListingID: a, Quantity: 2}, market.Line{ListingID: c, Quantity: 1})
	const key = "order-7f3a"

	const n = 50
	type answer struct {
		code int
		body string
	}
	answers := make(chan answer, n)
	inflight := make(chan int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			retries := 0
			for deadline := time.Now().Add(time.Minute); ; retries++ {
				r, err := s.try(b, http.MethodPost, "/api/v1/orders", body, "Idempotency-Key", key)
				if err != nil {
					t.Error(err)
					return
				}
				// In flight: Stripe's 409; a client retries it.
				if r.StatusCode == http.StatusConflict && strings.Contains(r.body, "still being processed") && time.Now().Before(deadline) {
					time.Sleep(time.Duration(5+rand.IntN(10)) * time.Millisecond) // a client's back-off, not a readiness wait
					continue
				}
				answers <- answer{r.StatusCode, r.body}
				inflight <- retries
				return
			}
		})
	}
	close(start)
	wg.Wait()
	close(answers)
	close(inflight)
	var first *answer
	for a := range answers {
		if first == nil {
			first = &a
		}
		if a.code != http.StatusCreated || a.body != first.body {
			t.Errorf("answer %d %s differs from %d %s", a.code, a.body, first.code, first.body)
		}
	}
	retried := 0
	for r := range inflight {
		retried += r
	}
	t.Logf("%d in-flight 409s were retried", retried)
	if got := s.scalar(t, `SELECT count(*) FROM orders WHERE buyer_id = $1`, b.ID); got != 1 {
		t.Errorf("orders = %d, want 1 (one seller)", got)
	}
	if got := s.scalar(t, `SELECT quantity FROM listings WHERE id = $1`, a); got != 998 {
		t.Errorf("stock of A = %d, want 998: taken once", got)
	}

	r := s.call(t, b, http.MethodPost, "/api/v1/orders", itemsBody(market.Line{ListingID: a, Quantity: 3}), "Idempotency-Key", key)
	wantProblem(t, r, http.StatusUnprocessableEntity)
	// The same request spelled differently is the same request: a replay.
	r = s.call(t, b, http.MethodPost, "/api/v1/orders", fmt.Sprintf(`{ "items": [ {"quantity": 1, "listing_id": %d}, {"listing_id": %d, "quantity": 2} ] }`, c, a), "Idempotency-Key", key)
	if r.StatusCode != http.StatusCreated || r.body != first.body || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %q (replayed %q), want 201 and the first body", r.StatusCode, r.body, r.Header.Get("Idempotent-Replayed"))
	}
	if got := s.scalar(t, `SELECT count(*) FROM orders WHERE buyer_id = $1`, b.ID); got != 1 {
		t.Errorf("orders after replay = %d, want 1", got)
	}
	// Keys belong to their user: another buyer's same key is new.
	other := s.users(t, 1)[0]
	if r := s.call(t, other, http.MethodPost, "/api/v1/orders", body, "Idempotency-Key", key); r.StatusCode != http.StatusCreated || r.body == first.body {
		t.Errorf("another user's key: %d %s", r.StatusCode, r.body)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "a\tb"} {
		wantProblem(t, s.call(t, b, http.MethodPost, "/api/v1/orders", body, "Idempotency-Key", bad), http.StatusUnprocessableEntity)
	}
}

// TestBuyingAPI walks the cart and an order's life through the API.
func TestBuyingAPI(t *testing.T) {
	s := newShop(t)
	us := s.users(t, 3)
	seller, b, stranger := us[0], us[1], us[2]
	lamp := s.listing(t, seller.ID, "Lamp", 3, 1500)
	rug := s.listing(t, seller.ID, "Rug", 0, 9900)
	item := func(id int64) string { return "/api/v1/cart/items/" + strconv.FormatInt(id, 10) }

	t.Run("guests are refused", func(t *testing.T) {
		for _, rt := range [][2]string{{"GET", "/api/v1/cart"}, {"PUT", item(lamp)}, {"DELETE", item(lamp)}, {"POST", "/api/v1/orders"},
			{"GET", "/api/v1/orders"}, {"GET", "/api/v1/sales"}, {"GET", "/api/v1/orders/1"}, {"POST", "/api/v1/orders/1/ship"},
			{"POST", "/api/v1/orders/1/deliver"}, {"POST", "/api/v1/orders/1/cancel"}} {
			r := s.call(t, nil, rt[0], rt[1], "")
			wantProblem(t, r, http.StatusUnauthorized)
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", rt[0], rt[1])
			}
		}
	})
	t.Run("cart rules", func(t *testing.T) {
		p := wantProblem(t, s.call(t, b, "PUT", item(lamp), `{"quantity":4}`), http.StatusUnprocessableEntity)
		if p.Errors["quantity"] != "Only 3 left" {
			t.Errorf("over stock: %+v", p)
		}
		if p := wantProblem(t, s.call(t, b, "PUT", item(rug), `{"quantity":1}`), http.StatusUnprocessableEntity); p.Errors["quantity"] != "Sold out" {
			t.Errorf("sold out: %+v", p)
		}
		if p := wantProblem(t, s.call(t, seller, "PUT", item(lamp), `{"quantity":1}`), http.StatusUnprocessableEntity); p.Errors["listing_id"] == "" {
			t.Errorf("own listing: %+v", p)
		}
		wantProblem(t, s.call(t, b, "PUT", item(999999), `{"quantity":1}`), http.StatusNotFound)
		wantProblem(t, s.call(t, b, "PUT", "/api/v1/cart/items/01", `{"quantity":1}`), http.StatusNotFound)
		wantProblem(t, s.call(t, b, "PUT", item(lamp), `{}`), http.StatusUnprocessableEntity)
		wantProblem(t, s.call(t, b, "PUT", item(lamp), `{"quantity":"2"}`), http.StatusUnprocessableEntity)
		wantProblem(t, s.call(t, b, "DELETE", item(lamp), ""), http.StatusNotFound)

		r := s.call(t, b, "PUT", item(lamp), `{"quantity":2}`)
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"count":2`) || !strings.Contains(r.body, `"total_cents":3000`) {
			t.Fatalf("PUT: %d %s", r.StatusCode, r.body)
		}
		if r := s.call(t, b, "DELETE", item(lamp), ""); r.StatusCode != http.StatusNoContent {
			t.Errorf("DELETE: %d %s", r.StatusCode, r.body)
		}
		if r := s.call(t, b, "GET", "/api/v1/cart", ""); !strings.Contains(r.body, `"items":[]`) {
			t.Errorf("cart after delete: %s", r.body)
		}
	})
	t.Run("checkout and lifecycle", func(t *testing.T) {
		wantProblem(t, s.call(t, b, "POST", "/api/v1/orders", ""), http.StatusUnprocessableEntity) // empty cart
		s.call(t, b, "PUT", item(lamp), `{"quantity":2}`)
		r := s.call(t, b, "POST", "/api/v1/orders", "")
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("checkout: %d %s", r.StatusCode, r.body)
		}
		out := decode[apiOrdersJSON](t, r)
		if len(out.Orders) != 1 {
			t.Fatalf("orders: %+v", out)
		}
		o := out.Orders[0]
		if o.BuyerID != b.ID || o.SellerID != seller.ID || o.Status != "placed" || o.TotalCents != 3000 || o.Currency != "USD" ||
			len(o.Items) != 1 || o.Items[0] != (struct {
			ListingID      int64  `json:"listing_id"`
			Name           string `json:"name"`
			UnitPriceCents int64  `json:"unit_price_cents"`
			Quantity       int    `json:"quantity"`
		}{lamp, "Lamp", 1500, 2}) || o.CreatedAt == "" {
			t.Errorf("order = %+v", o)
		}
		path := "/api/v1/orders/" + strconv.FormatInt(o.ID, 10)
		var mail string
		if err := s.pool.QueryRow(context.Background(), `SELECT body FROM mail_outbox WHERE subject = $1`, fmt.Sprintf("New order #%d", o.ID)).Scan(&mail); err != nil ||
			!strings.Contains(mail, fmt.Sprintf("new order, #%d:", o.ID)) || !strings.Contains(mail, fmt.Sprintf("/sales/%d\n", o.ID)) || !strings.Contains(mail, "2 x Lamp") {
			t.Errorf("the seller's mail: %v %q", err, mail)
		}
		p := decode[shortProblem](t, s.call(t, b, "POST", "/api/v1/orders", itemsBody(market.Line{ListingID: lamp, Quantity: 2})))
		if p.Status != http.StatusConflict || len(p.Lines) != 1 || p.Lines[0].Available != 1 || p.Lines[0].Requested != 2 {
			t.Errorf("short: %+v", p)
		}
		for _, who := range []*testUser{b, seller} {
			if r := s.call(t, who, "GET", path, ""); r.StatusCode != http.StatusOK {
				t.Errorf("GET as party: %d", r.StatusCode)
			}
		}
		wantProblem(t, s.call(t, stranger, "GET", path, ""), http.StatusNotFound)
		wantProblem(t, s.call(t, stranger, "POST", path+"/cancel", ""), http.StatusNotFound)
		if r := s.call(t, b, "GET", "/api/v1/orders", ""); !strings.Contains(r.body, fmt.Sprintf(`"id":%d`, o.ID)) {
			t.Errorf("buyer's orders: %s", r.body)
		}
		if r := s.call(t, seller, "GET", "/api/v1/sales", ""); !strings.Contains(r.body, fmt.Sprintf(`"id":%d`, o.ID)) {
			t.Errorf("seller's sales: %s", r.body)
		}
		if r := s.call(t, stranger, "GET", "/api/v1/sales", ""); !strings.Contains(r.body, `"orders":[]`) {
			t.Errorf("stranger's sales: %s", r.body)
		}
		wantProblem(t, s.call(t, b, "POST", path+"/deliver", ""), http.StatusConflict) // not shipped yet
		wantProblem(t, s.call(t, b, "POST", path+"/ship", ""), http.StatusForbidden)
		r = s.call(t, seller, "POST", path+"/ship", `{"tracking":"PostNL 3S123"}`)
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"status":"shipped"`) || !strings.Contains(r.body, "PostNL 3S123") {
			t.Errorf("ship: %d %s", r.StatusCode, r.body)
		}
		wantProblem(t, s.call(t, seller, "POST", path+"/ship", ""), http.StatusConflict)
		wantProblem(t, s.call(t, b, "POST", path+"/cancel", ""), http.StatusConflict) // shipped: too late for the buyer
		if r := s.call(t, b, "POST", path+"/deliver", ""); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"status":"delivered"`) {
			t.Errorf("deliver: %d %s", r.StatusCode, r.body)
		}
		wantProblem(t, s.call(t, seller, "POST", path+"/cancel", ""), http.StatusConflict)

		// Cancel returns the stock, once.
		r = s.call(t, b, "POST", "/api/v1/orders", itemsBody(market.Line{ListingID: lamp, Quantity: 1}))
		o2 := decode[apiOrdersJSON](t, r).Orders[0]
		if st := s.scalar(t, `SELECT quantity FROM listings WHERE id = $1`, lamp); st != 0 {
			t.Fatalf("stock = %d, want 0", st)
		}
		p2 := "/api/v1/orders/" + strconv.FormatInt(o2.ID, 10)
		if r := s.call(t, b, "POST", p2+"/cancel", ""); r.StatusCode != http.StatusOK {
			t.Errorf("cancel: %d %s", r.StatusCode, r.body)
		}
		wantProblem(t, s.call(t, b, "POST", p2+"/cancel", ""), http.StatusConflict)
		if st := s.scalar(t, `SELECT quantity FROM listings WHERE id = $1`, lamp); st != 1 {
			t.Errorf("stock after cancel = %d, want 1", st)
		}
	})
}

// TestOpenAPIBuyingContract checks the buying routes' answers against
// openapi.yaml.
func TestOpenAPIBuyingContract(t *testing.T) {
	c := newContract(t)
	s := newShop(t)
	us := s.users(t, 3)
	seller, b, stranger := us[0], us[1], us[2]
	lamp := s.listing(t, seller.ID, "Lamp", 5, 1500)
	lampItem := "/api/v1/cart/items/" + strconv.FormatInt(lamp, 10)
	const (
		cart   = "/api/v1/cart"
		line   = "/api/v1/cart/items/{listing_id}"
		orders = "/api/v1/orders"
		order  = "/api/v1/orders/{id}"
	)
	type call struct {
		who                          *testUser
		method, template, path, body string
		hdr                          []string
	}
	run := func(calls []call) {
		t.Helper()
		for _, tt := range calls {
			r := s.call(t, tt.who, tt.method, tt.path, tt.body, tt.hdr...)
			c.check(t, tt.method, tt.template, r)
		}
	}
	run([]call{
		{b, "GET", cart, cart, "", nil},
		{nil, "GET", cart, cart, "", nil},
		{b, "PUT", line, lampItem, `{"quantity":2}`, nil},
		{b, "PUT", line, lampItem, `{"quantity":99}`, nil},
		{b, "PUT", line, "/api/v1/cart/items/999999", `{"quantity":1}`, nil},
		{b, "PUT", line, lampItem, `{"quantity":1}`, crossSite},
		{b, "GET", cart, cart, "", nil},
		{b, "POST", orders, orders, "", []string{"Idempotency-Key", "k1"}},
		{b, "POST", orders, orders, itemsBody(market.Line{ListingID: lamp, Quantity: 9}), nil},
		{b, "POST", orders, orders, `{"items":[]}`, nil},
		{nil, "POST", orders, orders, "", nil},
		{b, "PUT", line, lampItem, `{"quantity":1}`, nil},
		{b, "DELETE", line, lampItem, "", nil},
		{b, "DELETE", line, lampItem, "", nil},
		{b, "GET", orders, orders, "", nil},
		{b, "GET", orders, orders + "?limit=0", "", nil},
		{seller, "GET", "/api/v1/sales", "/api/v1/sales", "", nil},
	})
	var id int64
	if err := s.pool.QueryRow(context.Background(), `SELECT id FROM orders WHERE buyer_id = $1`, b.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	one := "/api/v1/orders/" + strconv.FormatInt(id, 10)
	run([]call{
		{b, "GET", order, one, "", nil},
		{stranger, "GET", order, one, "", nil},
		{b, "POST", order + "/deliver", one + "/deliver", "", nil},
		{b, "POST", order + "/ship", one + "/ship", "", nil},
		{seller, "POST", order + "/ship", one + "/ship", `{"tracking":"` + strings.Repeat("x", 501) + `"}`, nil},
		{seller, "POST", order + "/ship", one + "/ship", `{"tracking":"T1"}`, nil},
		{b, "POST", order + "/deliver", one + "/deliver", "", nil},
		{b, "POST", order + "/cancel", one + "/cancel", "", nil},
		{stranger, "POST", order + "/cancel", one + "/cancel", "", nil},
	})
}
