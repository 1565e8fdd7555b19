// Package templates holds the HTML templates of Bazaar's pages, embedded.
// It is its own package so that bench/floor renders the very same files as
// the app instead of copies that drift.
package templates

import "embed"

// FS holds layout.html (the shared page frame) and one file per page.
//
//go:embed *.html
var FS embed.FS
