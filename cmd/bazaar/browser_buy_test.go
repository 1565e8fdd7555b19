package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserBuyFlow drives Chromium through nginx as buyers and sellers
// do (issue 8): a visitor adds two listings from two sellers to the cart
// (no account needed, no JavaScript needed), signs in to check out (the
// cart comes along), places the order and sees two orders; one seller
// ships theirs with a tracking note; the buyer confirms delivery.
func TestBrowserBuyFlow(t *testing.T) {
	exe := findChromium(t)
	a := startApp(t, nil)
	base := startNginx(t, a.Addr)
	b := newBrowser(t, exe, a)
	ann, bob, cat := signUp(t, a.URL, "ann@example.com"), signUp(t, a.URL, "bob@example.com"), signUp(t, a.URL, "cat@example.com")
	lamp := createListing(t, a.URL, ann, "Brass lamp", 3)
	rug := createListing(t, a.URL, bob, "Wool rug", 1)

	addToCart := `//form[contains(@class,"add-to-cart")]//button[normalize-space()="Add to cart"]`
	b.do("open the lamp", chromedp.Navigate(base+"/listings/"+strconv.FormatInt(lamp, 10)))
	b.wantStatus(b.click("add the lamp to the cart", addToCart), 200)
	b.wantPath("/cart")
	b.wantText(".flash", "Added to your cart.")
	b.wantText("header .cart-count", "(1)")
	b.do("open the rug", chromedp.Navigate(base+"/listings/"+strconv.FormatInt(rug, 10)))
	b.wantStatus(b.click("add the rug to the cart", addToCart), 200)
	b.wantText("header .cart-count", "(2)")
	b.wantFitsPhone()

	// Checking out needs an account: sign in, and come back to the cart.
	b.wantStatus(b.click("click Sign in to check out", `//a[normalize-space()="Sign in to check out"]`), 200)
	b.wantPath("/login")
	signIn(b, cat)
	b.wantPath("/cart")
	b.wantText("header .cart-count", "(2)")
	if n := count(b, ".cart-group"); n != 2 {
		t.Errorf("the cart shows %d sellers, want 2", n)
	}
	b.wantStatus(b.click("place the order", `//form//button[normalize-space()="Place order"]`), 200)
	b.wantPath("/orders")
	b.wantText(".flash", "Thank you: your order is placed.")
	if n := count(b, ".order-row"); n != 2 {
		t.Fatalf("the orders page lists %d orders, want 2", n)
	}
	b.wantFitsPhone()
	b.wantStatus(b.click("sign out", `//header//button[normalize-space()="Sign out"]`), 200)

	// Bob ships his sale.
	b.do("open the sign-in page", chromedp.Navigate(base+"/login?next=%2Fsales"))
	signIn(b, bob)
	b.wantPath("/sales")
	b.wantStatus(b.click("open the sale", `//ul[contains(@class,"orders")]//a`), 200)
	order := b.location().Path[len("/sales/"):]
	b.wantText("#order-status", "Placed") // shown capitalised (CSS)
	b.do("type a tracking note", chromedp.SendKeys(chromedp.CSS("#tracking"), "PostNL 3S42"))
	b.wantStatus(b.click("mark it shipped", `//form//button[normalize-space()="Mark as shipped"]`), 200)
	b.wantText("#order-status", "Shipped")
	b.wantFitsPhone()
	b.wantStatus(b.click("sign out", `//header//button[normalize-space()="Sign out"]`), 200)

	// The buyer confirms it arrived.
	b.do("open the sign-in page", chromedp.Navigate(base+"/login?next=%2Forders%2F"+order))
	signIn(b, cat)
	b.wantPath("/orders/" + order)
	b.wantText("#order-status", "Shipped")
	if got := b.text(".order"); !strings.Contains(got, "PostNL 3S42") || !strings.Contains(got, "Wool rug") {
		t.Errorf("the buyer's order page lacks the rug or the tracking note:\n%s", got)
	}
	b.wantStatus(b.click("confirm delivery", `//form//button[normalize-space()="Confirm delivery"]`), 200)
	b.wantText("#order-status", "Delivered")
	b.wantText(".flash", "Thank you for confirming the delivery.")
}

// signIn fills in and submits the sign-in form the browser is on.
func signIn(b *browser, c *creds) {
	b.t.Helper()
	b.do("fill in the sign-in form",
		chromedp.SendKeys(chromedp.CSS("#email"), c.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), c.Password),
	)
	b.wantStatus(b.click("sign in", `//form//button[normalize-space()="Sign in"]`), 200)
}

// count returns how many elements the CSS selector finds.
func count(b *browser, sel string) int {
	b.t.Helper()
	return tabRun(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// createListing lists an item as c through the API and returns its id.
func createListing(t *testing.T, base string, c *creds, name string, stock int) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/listings",
		strings.NewReader(fmt.Sprintf(`{"name":%q,"price_cents":1250,"quantity":%d}`, name, stock)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var l struct{ ID int64 }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &l) != nil {
		t.Fatalf("create %s: %s %s", name, resp.Status, body)
	}
	return l.ID
}
