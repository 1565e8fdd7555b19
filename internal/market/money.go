package market

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/currency"
)

// DefaultCurrency is the currency of listings that do not name one.
const DefaultCurrency = "USD"

// Price bounds in minor units, whatever the currency: what the database's
// check constraint allows (0.01 to 1,000,000.00 in a currency with cents).
const (
	MinPriceCents int64 = 1
	MaxPriceCents int64 = 100_000_000
)

// Money is an amount in minor units of a currency (cents for USD, yen for
// JPY, fils for BHD). Never a float.
type Money struct {
	// Cents is the amount in the currency's minor unit, whatever it is called.
	Cents    int64
	Currency string
}

// String formats m with its currency's decimals: "12.50 USD", "1250 JPY".
func (m Money) String() string { return FormatAmount(m.Cents, m.Currency) + " " + m.Currency }

// currencies maps each ISO 4217 code in use as legal tender today to the
// number of decimals of its minor unit, from golang.org/x/text/currency
// (CLDR's ISO 4217 data) rather than a hand-kept table. Built once, on
// first use. Codes that are not money people pay with (XXX, XTS, gold,
// historical currencies such as DEM) are not legal tender and so are left
// out by the query.
var currencies = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	it := currency.Query(currency.Date(time.Now()))
	for it.Next() {
		u := it.Unit()
		scale, _ := currency.Standard.Rounding(u)
		m[u.String()] = scale
	}
	return m
})

// ValidCurrency reports whether code is an ISO 4217 code, in upper case, of
// a currency in use today.
func ValidCurrency(code string) bool {
	_, ok := currencies()[code]
	return ok
}

// MinorUnits returns how many decimals code's minor unit has: 2 for USD, 0
// for JPY, 3 for BHD. An unknown code gets 2.
func MinorUnits(code string) int {
	if d, ok := currencies()[code]; ok {
		return d
	}
	return 2
}

// FormatAmount renders minor units in code's decimals: 1250 -> "12.50"
// (USD), "1250" (JPY), "1.250" (BHD).
func FormatAmount(minor int64, code string) string {
	d := MinorUnits(code)
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := strconv.FormatInt(minor, 10)
	if d == 0 {
		return sign + s
	}
	for len(s) <= d {
		s = "0" + s
	}
	return sign + s[:len(s)-d] + "." + s[len(s)-d:]
}

// formatBound formats an amount with thousands separators for messages:
// 1,000,000.00 (USD), 100,000,000 (JPY).
func formatBound(minor int64, code string) string {
	whole, frac, hasFrac := strings.Cut(FormatAmount(minor, code), ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return b.String()
}

// priceRange is the message for a price outside the bounds, in code's units.
func priceRange(code string) string {
	return fmt.Sprintf("Price must be between %s and %s", formatBound(MinPriceCents, code), formatBound(MaxPriceCents, code))
}

var decimalWords = []string{"no", "one", "two", "three", "four"}

// ParseAmount parses an amount typed by a person ("12.5", "12.50",
// "1,000.00", "$3") into minor units of code, which decides how many
// decimals it may have (none for JPY). It rejects signs other than a
// leading minus, exponents, decimal commas and anything else that is not
// plainly an amount, rather than guessing.
func ParseAmount(s, code string) (int64, error) {
	d := MinorUnits(code)
	// Built only for text that is not an amount: a valid price costs no
	// message.
	errFormat := func() error {
		return invalidPrice("Price must be an amount such as %s", FormatAmount(1250*pow10(d)/100, code))
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "$")
	if s == "" {
		return 0, errFormat()
	}
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if strings.Contains(whole, ",") {
		// A comma is a thousands separator only: "1,000.00". Anything else
		// ("12,50", a decimal comma) is refused rather than read as 1250.
		if !thousands(whole) {
			return 0, errFormat()
		}
		whole = strings.ReplaceAll(whole, ",", "")
	}
	if whole == "" && (!hasDot || frac == "") {
		return 0, errFormat()
	}
	if !digits(whole) || !digits(frac) {
		return 0, errFormat()
	}
	if len(frac) > d {
		if d == 0 {
			return 0, invalidPrice("Prices in %s are whole numbers, without decimals", code)
		}
		return 0, invalidPrice("Price can have at most %s decimal places", decimalWords[min(d, len(decimalWords)-1)])
	}
	if len(whole) > 12 { // far beyond any valid price; avoids overflow
		return 0, invalidPrice("%s", priceRange(code))
	}
	for len(frac) < d {
		frac += "0"
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt("0"+frac, 10, 64)
	c := w*pow10(d) + f
	if neg {
		c = -c
	}
	return c, nil
}

// invalidPrice is ParseAmount's error: EINVALID, because the text came from
// a person, with a message fit to show beside the price field.
func invalidPrice(format string, args ...any) error {
	return Errorf(EINVALID, format, args...)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// thousands reports whether s is digits grouped in threes by commas: 1,234,567.
func thousands(s string) bool {
	groups := strings.Split(s, ",")
	for i, g := range groups {
		if !digits(g) || g == "" || len(g) > 3 || (i > 0 && len(g) != 3) {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
