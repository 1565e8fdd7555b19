package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Checkouts under load (issue 8): a buyer places one-unit orders of one
// listing while the suite breaks things. Each checkout has its own
// Idempotency-Key and is retried with it, as a careful client does, when
// it got no answer or a 5xx (a replica died under it); a replay answers
// with the orders the first try made, so a retry can never order twice.

// shopper is a buyer with an API token, and the listing they buy.
type shopper struct {
	token   string
	buyerID int64
	listing int64
	stock   int
}

// newShopper signs up a buyer through nginx and has the suite's seller
// list an item with stock units for them to buy.
func (s *stack) newShopper(t *testing.T, prefix string, stock int) *shopper {
	t.Helper()
	email := fmt.Sprintf("%s-buyer-%d@example.com", prefix, time.Now().UnixNano())
	const pw = "plum-tangerine-kettle-42"
	sh := &shopper{stock: stock}
	for _, call := range []struct{ path, body string }{
		{"/api/v1/users", fmt.Sprintf(`{"email":%q,"display_name":"E2E Buyer","password":%q}`, email, pw)},
		{"/api/v1/tokens", fmt.Sprintf(`{"email":%q,"password":%q,"name":"e2e"}`, email, pw)},
	} {
		resp := s.mustJSON(t, "", call.path, call.body, "")
		var tok struct{ Token string }
		_ = json.Unmarshal([]byte(resp.body), &tok)
		if tok.Token != "" {
			sh.token = tok.Token
		}
	}
	seller, _, err := s.signIn()
	if err != nil {
		t.Fatal(err)
	}
	resp := s.mustJSON(t, seller, "/api/v1/listings", fmt.Sprintf(`{"name":"%s stock","price_cents":500,"quantity":%d}`, prefix, stock), "")
	var l listing
	if err := json.Unmarshal([]byte(resp.body), &l); err != nil {
		t.Fatal(err)
	}
	sh.listing = l.ID
	out := s.psql(t, "SELECT id FROM users WHERE email = '"+email+"'")
	if sh.buyerID, err = strconv.ParseInt(out, 10, 64); err != nil {
		t.Fatalf("buyer id %q: %v", out, err)
	}
	return sh
}

// mustJSON posts body to path with token (if any) and an Idempotency-Key
// (if any), and fails the test unless the answer is a 201.
func (s *stack) mustJSON(t *testing.T, token, path, body, key string) *response {
	t.Helper()
	resp, err := s.postJSON(token, path, body, key)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %s %s", path, resp.Status, resp.body)
	}
	return resp
}

func (s *stack) postJSON(token, path, body, key string) (*response, error) {
	u, err := s.url(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return s.do(req)
}

// checkouts adds a checkout every `every` to the load.
func (l *load) checkouts(sh *shopper, every time.Duration) {
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tk.C:
				l.done.Add(1)
				go func() {
					defer l.done.Done()
					r := l.checkout(sh)
					l.mu.Lock()
					l.results = append(l.results, r)
					l.mu.Unlock()
				}()
			}
		}
	}()
}

// checkout buys one unit, retrying with the same key while the answer is
// no answer, a 5xx or "still in flight" (409 without lines), for up to
// 20 seconds.
func (l *load) checkout(sh *shopper) result {
	start := time.Now()
	r := result{method: "CHECKOUT", at: start, name: fmt.Sprintf("%s-order-%04d", l.prefix, l.seq.Add(1))}
	body := fmt.Sprintf(`{"items":[{"listing_id":%d,"quantity":1}]}`, sh.listing)
	for try := 1; ; try++ {
		resp, err := l.s.postJSON(sh.token, "/api/v1/orders", body, r.name)
		r.took, r.err, r.status = time.Since(start), "", 0
		if err != nil {
			r.err = err.Error()
		} else {
			r.status, r.reqID, r.backend = resp.StatusCode, resp.Header.Get("X-Request-ID"), resp.Header.Get("X-Bazaar-Instance")
			if resp.StatusCode == http.StatusCreated {
				var out struct {
					Orders []struct {
						ID int64 `json:"id"`
					} `json:"orders"`
				}
				if err := json.Unmarshal([]byte(resp.body), &out); err != nil || len(out.Orders) != 1 {
					r.err = fmt.Sprintf("201 body %q", resp.body)
				} else {
					r.id = out.Orders[0].ID
				}
				r.tries = try
				return r
			}
		}
		inFlight := r.status == http.StatusConflict && err == nil && strings.Contains(resp.body, "still being processed")
		if (r.status != 0 && r.status < 500 && !inFlight) || time.Since(start) > 20*time.Second {
			r.tries = try
			return r
		}
		time.Sleep(250 * time.Millisecond) // the client's back-off before a retry
	}
}

// checkOrders asserts what a checkout must never do, whatever was killed
// meanwhile: leave an order without its items, event or mail; lose or
// make up stock; or answer 201 for an order that is not in the database
// exactly once.
func (s *stack) checkOrders(t *testing.T, sh *shopper, rs []result) {
	t.Helper()
	half := s.psql(t, fmt.Sprintf(`SELECT count(*) FROM orders o WHERE o.buyer_id = %d AND (
		NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)
		OR (SELECT count(*) FROM order_events e WHERE e.order_id = o.id) <> 1
		OR (SELECT count(*) FROM mail_outbox m WHERE m.subject = 'New order #' || o.id) <> 1
		OR o.total_cents <> (SELECT sum(i.unit_price_cents * i.quantity) FROM order_items i WHERE i.order_id = o.id))`, sh.buyerID))
	if half != "0" {
		t.Errorf("%s orders are half-written (no items, not one event or mail, or a wrong total)", half)
	}
	stock := s.psql(t, fmt.Sprintf(`SELECT l.quantity || '|' || coalesce((SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
		WHERE i.listing_id = l.id AND o.status <> 'cancelled'), 0) FROM listings l WHERE l.id = %d`, sh.listing))
	left, sold, _ := strings.Cut(stock, "|")
	nl, _ := strconv.Atoi(left)
	ns, _ := strconv.Atoi(sold)
	if nl+ns != sh.stock {
		t.Errorf("stock: %d left + %d sold = %d, want %d: units were lost or made up", nl, ns, nl+ns, sh.stock)
	}
	inDB := map[int64]int{}
	for _, line := range strings.Split(s.psql(t, fmt.Sprintf(`SELECT id FROM orders WHERE buyer_id = %d`, sh.buyerID)), "\n") {
		if id, err := strconv.ParseInt(line, 10, 64); err == nil {
			inDB[id]++
		}
	}
	acked, retried := map[int64]string{}, 0
	for _, r := range rs {
		if r.method != "CHECKOUT" {
			continue
		}
		if r.tries > 1 {
			retried++
		}
		if r.status != http.StatusCreated {
			t.Logf("checkout not acknowledged: %s", r)
			continue
		}
		if other, dup := acked[r.id]; dup {
			t.Errorf("order %d was answered to two checkouts, %s and %s", r.id, other, r.name)
		}
		acked[r.id] = r.name
		if inDB[r.id] != 1 {
			t.Errorf("acknowledged order %d (%s) is in the database %d times", r.id, r.name, inDB[r.id])
		}
	}
	t.Logf("%d checkouts acknowledged (%d needed a retry with their key), %d orders in the database, %d units sold", len(acked), retried, len(inDB), ns)
	if len(acked) == 0 {
		t.Error("no checkout was acknowledged; the check proves nothing")
	}
}
