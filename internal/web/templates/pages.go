// Package templates holds Bazaar's pages as templ components
// (github.com/a-h/templ): *.templ files, compiled by `templ generate` into
// the *_templ.go files beside them, which are committed. Each page is a
// function of one typed struct, so a page's data is in one place, a typo is
// a compile error, and rendering is plain Go: no reflection, no template
// function calls, escaping chosen at generation time. It is its own package
// so that bench/floor renders the very same pages as the app.
//
// Regenerate after editing a .templ file (the gate `make templ` fails when
// the committed code is stale):
//
//	make generate
package templates

import (
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/bazaarhq/bazaar/internal/market"
)

// categoryURL is a category's page.
func categoryURL(slug string) templ.SafeURL { return templ.SafeURL("/c/" + slug) }

// Layout is the data every page shares. Each page's struct embeds it.
type Layout struct {
	// Title goes before " · Bazaar" in the window title.
	Title string
	// Flash is a one-time message shown above the content ("Your listing
	// is live."), or empty.
	Flash string
	// Static is the prefix of the static files' URLs,
	// "/static/<content hash>/", computed once at start-up.
	Static string
	// Categories are the top-level categories of the header's menu (nil
	// leaves the menu out); Query is what the header's search box holds.
	Categories []*market.Category
	Query      string
	// UserName is the signed-in user's display name, "" for a guest;
	// UserID is their id.
	UserName string
	UserID   int64
	// CartCount is the number of units in the visitor's or user's cart,
	// shown in the header.
	CartCount int
}

// sellerURL is a seller's page.
func sellerURL(id int64) templ.SafeURL {
	return templ.SafeURL("/sellers/" + strconv.FormatInt(id, 10))
}

// listingURL is the listing's page.
func listingURL(id int64) templ.SafeURL {
	return templ.SafeURL("/listings/" + strconv.FormatInt(id, 10))
}

// isoTime is t as a machine-readable <time datetime>.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// day is t as people read it: 2 Jan 2006.
func day(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

// moment is t to the minute, for an order's history.
func moment(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }
