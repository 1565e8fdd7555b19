package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/mail/mailtest"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Bounds for the browser test. Chromium takes a few seconds to start on a
// small CI machine under -race; each step (one click and the page it loads)
// takes well under a second, so a step that needs 20s is hung, not slow.
const (
	browserTestTimeout = 180 * time.Second
	browserStepTimeout = 20 * time.Second
)

// Selectors that find elements the way a person does: by the words on them.
const (
	sellLink     = `//header//a[normalize-space()="Sell"]`
	brandLink    = `//header//a[normalize-space()="Bazaar"]`
	submitButton = `//form//button[normalize-space()="List item"]`
)

var listingPath = regexp.MustCompile(`^/listings/\d+$`)

// TestBrowserSellFlow drives a real Chromium through nginx as a seller would:
// from the empty home page to the sell form, through a rejected submit, to
// the new listing and back to the home page that now shows it. Every page
// must also fit a phone screen, and the browser console must stay free of
// errors.
func TestBrowserSellFlow(t *testing.T) {
	exe := findChromium(t)
	smtp := mailtest.NewServer(t)
	a := startApp(t, map[string]string{"BAZAAR_SMTP_URL": smtp.URL()})
	base := startNginx(t, a.Addr) // as users reach the app: redirects, Host and headers pass nginx
	b := newBrowser(t, exe, a)
	baseURL, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}

	b.checkOverflowCheck()

	// The empty home page.
	resp := tabRun(b, "open the home page", chromedp.NavigateResponse(base+"/"))
	b.wantStatus(resp, 200)
	b.wantText("h1", "Latest listings")
	b.wantText(".empty p", "Nothing is for sale yet.")
	b.wantFitsPhone()

	// Selling needs an account: sign up from the header's link, and land
	// back on the home page, signed in.
	b.wantStatus(b.click("click Sign up", `//header//a[normalize-space()="Sign up"]`), 200)
	b.wantPath("/signup")
	b.wantFitsPhone()
	b.do("fill in the sign-up form",
		chromedp.SendKeys(chromedp.CSS("#email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS("#display_name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
	)
	b.wantStatus(b.click("sign up", `//form//button[normalize-space()="Sign up"]`), 200)
	b.wantPath("/")
	b.wantText(".flash", "Welcome to Bazaar! Your account is ready and you are signed in.")
	b.wantText("header .user-name", "Ada Lovelace")
	b.wantFitsPhone()

	// To the sell form by the header link.
	b.wantStatus(b.click("click Sell", sellLink), 200)
	b.wantPath("/listings/new")
	b.wantText("h1", "Sell an item")
	b.wantValue("#quantity", "1")
	b.wantFitsPhone()

	// A submit without a name and with a price that is not a number comes
	// back with a message beside each field and the user's input kept.
	b.do("type a bad price", chromedp.SendKeys(chromedp.CSS("#price"), "abc"))
	b.wantStatus(b.click("submit the bad form", submitButton), 422)
	b.wantPath("/listings")
	b.wantText("#name-error", "Name is required")
	if msg := b.text("#price-error"); !strings.HasPrefix(msg, "Price ") {
		t.Errorf("#price-error = %q, want a message about the price", msg)
	}
	b.wantValue("#price", "abc")
	b.wantValue("#quantity", "1")
	if got := tabRun(b, "read #name aria-describedby", chromedp.AttributeValue(chromedp.CSS("#name"), "aria-describedby")); got.Value != "name-error" {
		t.Errorf("#name aria-describedby = %q, want it to point at its message", got.Value)
	}
	b.wantFitsPhone()

	// Corrected, the listing goes live. Markup characters in the name must
	// come out as text on every page, and the unique number is one long
	// unbroken word, as model numbers and SKUs are, that must wrap on a phone.
	name := fmt.Sprintf(`Brass lamp <b>&</b> "No. %d"`, time.Now().UnixNano())
	b.do("correct the form",
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#description"), "Works. Shade slightly dented."),
		chromedp.Clear(chromedp.CSS("#price")),
		chromedp.SendKeys(chromedp.CSS("#price"), "12.50"),
		chromedp.Clear(chromedp.CSS("#quantity")),
		chromedp.SendKeys(chromedp.CSS("#quantity"), "3"),
		chromedp.SetValue(chromedp.CSS("#category"), "lighting"),
		chromedp.SetValue(chromedp.CSS("#condition"), "used"),
	)
	b.wantStatus(b.click("submit the corrected form", submitButton), 200)
	loc := b.location()
	if loc.Host != baseURL.Host || !listingPath.MatchString(loc.Path) || loc.RawQuery != "" {
		t.Fatalf("after listing an item the browser is at %s, want %s/listings/{id}", loc, base)
	}
	b.wantText("h1", name)
	b.wantText(".flash", "Your listing is live.")
	b.wantText(".listing .price", "12.50 USD")
	b.wantText(".listing .stock", "3 in stock")
	b.wantText(".listing .description", "Works. Shade slightly dented.")
	b.wantFitsPhone()

	// The flash is shown once: a reload of the same page does not repeat it.
	b.do("reload the listing", chromedp.Reload())
	b.wantPath(loc.Path)
	b.wantText("h1", name)
	b.wantNoFlash()

	// The home page lists the item, and its card leads back to it.
	b.wantStatus(b.click("click the Bazaar brand", brandLink), 200)
	b.wantPath("/")
	b.wantText(".card h2 a", name)
	b.wantNoFlash()
	b.wantFitsPhone()
	b.wantStatus(b.click("click the listing's card", `//li[contains(@class,"card")]//h2/a`), 200)
	b.wantPath(loc.Path)
	b.wantText("h1", name)
	b.wantNoFlash()
	if n := b.editControls(); n != 2 {
		t.Errorf("the seller sees %d edit and delete controls on their listing, want 2", n)
	}

	// From the name in the header to the account page, and on to the
	// seller's own page, which lists the item.
	b.wantStatus(b.click("click your name", `//header//a[contains(@class,"user-name")]`), 200)
	b.wantPath("/account")
	b.wantFitsPhone()
	b.wantStatus(b.click("click Your listings", `//main//a[normalize-space()="Your listings"]`), 200)
	if p := b.location().Path; !strings.HasPrefix(p, "/sellers/") {
		t.Fatalf("Your listings led to %s, want /sellers/{id}", p)
	}
	b.wantText("h1", "Listings by Ada Lovelace")
	b.wantText(".card h2 a", name)
	b.wantFitsPhone()

	// Signed out, the header offers to sign in again.
	b.wantStatus(b.click("sign out", `//header//button[normalize-space()="Sign out"]`), 200)
	b.wantPath("/")
	b.wantText(".flash", "You are signed out.")

	// Someone else signs in and finds the listing without edit controls.
	other := signUp(t, a.URL, "olive@example.com")
	b.signIn(other.Email, other.Password)
	b.wantText("header .user-name", "Tess Tester")
	b.wantStatus(tabRun(b, "open the listing", chromedp.NavigateResponse(base+loc.Path)), 200)
	b.wantText("h1", name)
	if n := b.editControls(); n != 0 {
		t.Errorf("another user sees %d edit or delete controls", n)
	}

	// She forgets her password: the link comes by mail, through the
	// test's SMTP server, and sets a new one.
	b.wantStatus(b.click("sign out", `//header//button[normalize-space()="Sign out"]`), 200)
	b.wantStatus(b.click("click Sign in", `//header//a[normalize-space()="Sign in"]`), 200)
	b.wantStatus(b.click("click Forgotten your password?", `//main//a[normalize-space()="Forgotten your password?"]`), 200)
	b.wantPath("/password/forgot")
	b.wantFitsPhone()
	b.do("type the email", chromedp.SendKeys(chromedp.CSS("#email"), other.Email))
	b.wantStatus(b.click("send the link", `//main//form//button[normalize-space()="Send the link"]`), 200)
	b.wantPath("/password/forgot")
	if msg := b.text(".flash"); !strings.HasPrefix(msg, "If an account uses that email") {
		t.Errorf("after asking for a link: %q", msg)
	}
	msgs := smtp.WaitFor(t, 1)
	link, err := url.Parse(mailtest.Link(t, msgs[0]))
	if err != nil || msgs[0].To[0] != other.Email {
		t.Fatalf("reset mail to %v, link %v", msgs[0].To, err)
	}
	b.wantStatus(tabRun(b, "follow the mail's link", chromedp.NavigateResponse(base+link.RequestURI())), 200)
	b.wantText("h1", "Choose a new password")
	b.wantFitsPhone()
	b.do("type a new password", chromedp.SendKeys(chromedp.CSS("#password"), "olives-new-password-7"))
	b.wantStatus(b.click("set the password", `//main//form//button[normalize-space()="Set the password"]`), 200)
	b.wantPath("/")
	b.wantText("header .user-name", "Tess Tester")
}

// signIn signs in through the header's link and the login form.
func (b *browser) signIn(email, pw string) {
	b.t.Helper()
	b.wantStatus(b.click("click Sign in", `//header//a[normalize-space()="Sign in"]`), 200)
	b.wantPath("/login")
	b.wantFitsPhone()
	b.do("fill in the login form",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
	)
	b.wantStatus(b.click("sign in", `//main//form//button[normalize-space()="Sign in"]`), 200)
	b.wantPath("/")
	b.wantText(".flash", "You are signed in.")
}

// editControls counts the listing page's edit link and delete form.
func (b *browser) editControls() int {
	b.t.Helper()
	return tabRun(b, "count edit controls", chromedp.Evaluate[int](`document.querySelectorAll('a[href$="/edit"], form[action$="/delete"]').length`))
}

// findChromium returns the path of a Chromium or Chrome binary. Without one
// the test is skipped, loudly, or fails when BAZAAR_REQUIRE_ALL=1 (as in CI),
// so that a CI image that lost its browser cannot pass silently.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	banner := strings.Repeat("!", 72)
	msg := "no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)"
	if os.Getenv("BAZAAR_REQUIRE_ALL") == "1" {
		t.Fatalf("\n%s\nBROWSER TEST CANNOT RUN and BAZAAR_REQUIRE_ALL=1: %s\n%s", banner, msg, banner)
	}
	t.Skipf("\n%s\nBROWSER TEST SKIPPED: %s\n(set BAZAAR_REQUIRE_ALL=1 to make this a failure)\n%s", banner, msg, banner)
	return ""
}

// browser is one headless Chromium tab, used from one test goroutine.
// Its methods fail the test with what the tab showed and what the app logged.
type browser struct {
	t   *testing.T
	ctx context.Context // lives until the test ends or browserTestTimeout
	app *app

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newBrowser starts Chromium with a fresh profile and stops it when the test
// ends. The whole browser dies at browserTestTimeout, so a hung browser
// fails the test rather than hanging CI.
func newBrowser(t *testing.T, exe string, a *app) *browser {
	t.Helper()
	profile := t.TempDir() // removed after the browser has exited: cleanups run last-in first-out
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		// Chromium refuses to run as root with its sandbox, and a closed
		// network turns its background connections into slow failures.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelTab)

	b := &browser{t: t, ctx: ctx, app: a}
	// The first Run starts the browser and ties it to ctx, so it must not get
	// a step deadline of its own.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	t.Logf("chromium started in %s", time.Since(start).Round(time.Millisecond))

	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancelTab(); <-done })
	// Checked also when a step failed: a script error can explain it.
	t.Cleanup(b.wantQuietConsole)
	return b
}

// tabRun runs one named step with its own deadline and returns its value.
func tabRun[T any](b *browser, step string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.fatalf("%s: %v", step, err)
	}
	return v
}

// do runs the actions as one named step.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	tabRun(b, step, chromedp.Steps(actions...))
}

// click clicks the element that the selector finds, as a mouse does, waits
// for the page that the click loads, and returns its response.
func (b *browser) click(step, sel string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		b.fatalf("%s (%s): %v", step, sel, err)
	}
	return resp
}

// text waits until the first element that the CSS selector finds is
// visible, and returns its visible text.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(tabRun(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func (b *browser) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); got != want {
		b.t.Errorf("%s on %s reads %q, want %q", sel, b.location().Path, got, want)
	}
}

func (b *browser) wantValue(sel, want string) {
	b.t.Helper()
	if got := tabRun(b, "read the value of "+sel, chromedp.Value(chromedp.CSS(sel))); got != want {
		b.t.Errorf("%s on %s holds %q, want %q", sel, b.location().Path, got, want)
	}
}

func (b *browser) wantNoFlash() {
	b.t.Helper()
	if flash := tabRun(b, "look for a flash", chromedp.Evaluate[string](`document.querySelector('.flash')?.textContent ?? ''`)); flash != "" {
		b.t.Errorf("%s shows the flash %q again", b.location().Path, flash)
	}
}

func (b *browser) wantStatus(resp *network.Response, want int64) {
	b.t.Helper()
	if resp == nil {
		b.fatalf("no response for the page, want status %d", want)
	}
	if resp.Status != want {
		b.t.Errorf("%s answered %d, want %d", resp.URL, resp.Status, want)
	}
}

// location returns the URL in the address bar.
func (b *browser) location() *url.URL {
	b.t.Helper()
	raw := tabRun(b, "read the location", chromedp.Location())
	u, err := url.Parse(raw)
	if err != nil {
		b.fatalf("location %q: %v", raw, err)
	}
	return u
}

func (b *browser) wantPath(want string) {
	b.t.Helper()
	if got := b.location().Path; got != want {
		b.fatalf("the browser is at %s, want %s", got, want)
	}
}

// phoneWidth is the CSS width of a small phone (iPhone SE, many Androids).
const phoneWidth = 375

// pageWidths measures the page: the width of the layout viewport, and the width
// of the content in it.
type pageWidths struct {
	Viewport int `json:"viewport"`
	Content  int `json:"content"`
}

// measureOnPhone lays the current page out on a phone screen, with the
// page's viewport meta tag in effect as on a real phone, and measures it.
//
// It compares with documentElement.clientWidth, not window.innerWidth: a
// phone zooms out to show content that is too wide, and innerWidth then grows
// with the content, so innerWidth would hide the very overflow we look for.
func (b *browser) measureOnPhone() pageWidths {
	b.t.Helper()
	b.do("emulate a phone", chromedp.EmulateViewport(phoneWidth, 800, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	defer b.do("leave the phone", chromedp.ResetViewport())
	return tabRun(b, "measure the page", chromedp.Evaluate[pageWidths](
		`({viewport: document.documentElement.clientWidth, content: document.documentElement.scrollWidth})`))
}

// wantFitsPhone checks that the current page needs no sideways scrolling on
// a phone.
func (b *browser) wantFitsPhone() {
	b.t.Helper()
	w := b.measureOnPhone()
	switch {
	case w.Viewport != phoneWidth:
		b.t.Errorf("%s on a %dpx phone is laid out %dpx wide; is the viewport meta tag missing?", b.location().Path, phoneWidth, w.Viewport)
	case w.Content > w.Viewport:
		b.t.Errorf("%s is %dpx wide on a %dpx phone: it scrolls sideways", b.location().Path, w.Content, w.Viewport)
	}
}

// checkOverflowCheck makes sure that measureOnPhone still sees overflow in
// this Chromium, so that wantFitsPhone cannot pass by accident.
func (b *browser) checkOverflowCheck() {
	b.t.Helper()
	const tooWide = `data:text/html,<meta name="viewport" content="width=device-width"><div style="width:600px">x</div>`
	b.do("open a page that is too wide", chromedp.Navigate(tooWide))
	if w := b.measureOnPhone(); w.Viewport != phoneWidth || w.Content <= w.Viewport {
		b.t.Fatalf("the phone check measured %+v for a 600px page on a %dpx phone; it cannot see overflow", w, phoneWidth)
	}
}

// wantQuietConsole fails on uncaught exceptions and console errors, such as
// a Content-Security-Policy violation or a stylesheet that did not load.
// Chromium logs the expected 422 of the rejected form as a failed load, and
// it asks for /favicon.ico on its own, which Bazaar does not serve.
func (b *browser) wantQuietConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		if m.Source == "network" && (strings.Contains(m.Text, "status of 422") || strings.HasSuffix(m.URL, "/favicon.ico")) {
			continue
		}
		b.t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line+1)
	}
}

// fatalf stops the test with the message, where the browser is, what the
// page says and what the app logged.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
		msg += fmt.Sprintf("\n(the whole browser test ran out of its %s)", browserTestTimeout)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	type page struct {
		URL  string `json:"url"`
		Text string `json:"text"`
	}
	if p, err := chromedp.Run(ctx, chromedp.Evaluate[page](`({url: location.href, text: document.body ? document.body.innerText : ''})`)); err == nil {
		msg += fmt.Sprintf("\nthe browser is at %s, showing:\n%s", p.URL, p.Text)
	}
	b.t.Fatalf("%s\napp logs:\n%s", msg, b.app.Logs())
}
