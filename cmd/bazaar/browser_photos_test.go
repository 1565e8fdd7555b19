package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bazaarhq/bazaar/internal/photo/phototest"
)

// TestBrowserPhotos: a seller lists an item with two photos (chosen at
// once; the page's script uploads them one by one with progress), makes
// the second the cover on the edit page, and a buyer finds the item, its
// cover on the card, by searching with a typo and by browsing its
// category. All through nginx, which serves the photos.
func TestBrowserPhotos(t *testing.T) {
	exe := findChromium(t)
	s := startPhotoStack(t)
	b := newBrowser(t, exe, s.app)
	base := s.base

	dir := t.TempDir()
	first, second := filepath.Join(dir, "front.jpg"), filepath.Join(dir, "side.png")
	if err := os.WriteFile(first, phototest.JPEG(phototest.Quadrants(1200, 900)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, phototest.PNG(phototest.Quadrants(600, 800)), 0o600); err != nil {
		t.Fatal(err)
	}

	// The seller signs up, then sells.
	b.do("sign up",
		chromedp.Navigate(base+"/signup"),
		chromedp.SendKeys(chromedp.CSS("#email"), "potter@example.com"),
		chromedp.SendKeys(chromedp.CSS("#display_name"), "Pia Potter"),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
	)
	b.wantStatus(b.click("submit the sign-up form", `//form//button[normalize-space()="Sign up"]`), 200)
	b.do("open the sell form", chromedp.Navigate(base+"/listings/new"))
	b.do("fill in the listing and choose two photos",
		chromedp.SendKeys(chromedp.CSS("#name"), "Stoneware bowl"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Hand-thrown, celadon glaze."),
		chromedp.SendKeys(chromedp.CSS("#price"), "18.00"),
		chromedp.Clear(chromedp.CSS("#quantity")),
		chromedp.SendKeys(chromedp.CSS("#quantity"), "2"),
		chromedp.SetValue(chromedp.CSS("#category"), "tableware"),
		chromedp.SetValue(chromedp.CSS("#condition"), "handmade"),
		chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{first, second}),
		chromedp.Click(submitButton),
	)
	// The script saves the fields, uploads each photo, then opens the listing.
	b.waitFor("the listing with its two photos",
		`/^\/listings\/\d+$/.test(location.pathname) && document.querySelectorAll('.gallery img').length === 2 &&
		 Array.from(document.querySelectorAll('.gallery img')).every(i => i.complete && i.naturalWidth > 0)`)
	listing := b.location().Path
	// The script, not the plain form, sent them: one request per photo.
	// (The app batches its log lines for up to 100 ms.)
	uploads := func() int { return strings.Count(s.app.Logs(), `"route":"POST /listings/{id}/photos"`) }
	for deadline := time.Now().Add(2 * time.Second); uploads() < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if n := uploads(); n != 2 {
		t.Errorf("%d photo uploads of their own in the app's log, want 2 (the script's, one per photo)", n)
	}
	srcsets := tabRun(b, "read the photos' srcsets", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('.gallery img')).map(i => i.getAttribute('srcset'))`))
	if len(srcsets) != 2 || !strings.Contains(srcsets[0], "/media/") {
		t.Fatalf("gallery srcsets %q", srcsets)
	}
	b.wantFitsPhone()

	b.do("open the edit page", chromedp.Navigate(base+listing+"/edit"))
	b.wantStatus(b.click("make the second photo the cover", `//section[contains(@class,"photos")]//button[normalize-space()="Make cover"]`), 200)
	b.wantPath(listing + "/edit")
	got := tabRun(b, "read the first thumbnail", chromedp.Evaluate[string](`document.querySelector('.photo-list li img').getAttribute('srcset')`))
	if got != srcsets[1] {
		t.Fatalf("first photo after 'Make cover' is %q, want the second one %q", got, srcsets[1])
	}

	// The buyer (a guest: the seller signs out): a search with a typo
	// finds it, with the new cover.
	b.wantStatus(b.click("sign out", `//header//button[normalize-space()="Sign out"]`), 200)
	b.do("search with a typo",
		chromedp.Navigate(base+"/"),
		chromedp.SendKeys(chromedp.CSS("#site-q"), "stonewear bowl"),
		chromedp.Submit(chromedp.CSS("#site-q")),
	)
	wantCard := func(step string) {
		t.Helper()
		b.waitFor(step,
			`Array.from(document.querySelectorAll('.card')).some(c => c.textContent.includes('Stoneware bowl') &&
			 c.querySelector('img') && c.querySelector('img').getAttribute('srcset') === `+jsString(srcsets[1])+` &&
			 c.querySelector('img').complete && c.querySelector('img').naturalWidth > 0)`)
	}
	b.waitFor("the search results", `location.pathname === '/search' && document.querySelector('.results') !== null`)
	wantCard("find the card with its cover in the search results")

	// And by browsing: the header's category menu, then the leaf.
	b.do("open Home & Living from the menu", chromedp.Navigate(base+"/"))
	b.wantStatus(b.click("click Home & Living", `//nav[contains(@class,"categories")]//a[normalize-space()="Home & Living"]`), 200)
	b.wantStatus(b.click("click Tableware", `//nav[contains(@class,"facets")]//a[normalize-space()="Tableware"]`), 200)
	b.wantPath("/c/tableware")
	wantCard("find the card with its cover in the category")
	b.wantFitsPhone()
}

// waitFor evaluates expr until it is true, through the navigations the
// page's script makes (an evaluation cut short by one is tried again).
func (b *browser) waitFor(step, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fatalf("waiting for %s: still false after %s (last error: %v)", step, browserStepTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
