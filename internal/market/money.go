package market

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultCurrency is the currency of listings that do not name one.
const DefaultCurrency = "USD"

// Price bounds in minor units (cents).
const (
	MinPriceCents int64 = 1           // 0.01
	MaxPriceCents int64 = 100_000_000 // 1,000,000.00
)

// Money is an amount in minor units of a currency. Never a float.
type Money struct {
	Cents    int64
	Currency string
}

// String formats m as "12.50 USD".
func (m Money) String() string { return FormatCents(m.Cents) + " " + m.Currency }

// FormatCents renders minor units as a decimal string with two places: 1250 -> "12.50".
func FormatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// errPriceFormat is the message for text that is not a decimal amount.
const errPriceFormat = "Price must be an amount such as 12.50"

// invalidPrice is ParseCents's error: EINVALID, because the text came from
// a person, with a message fit to show beside the price field.
func invalidPrice(format string, args ...any) error {
	return Errorf(EINVALID, format, args...)
}

// ParseCents parses a decimal amount typed by a person ("12.5", "12.50",
// "1,000.00", "$3") into minor units. It rejects more than two decimal places,
// signs other than a leading minus, exponents and anything else that is not
// plainly an amount, rather than guessing. Its errors are EINVALID; show
// them with ErrorMessage.
func ParseCents(s string) (int64, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "$")
	if s == "" {
		return 0, invalidPrice(errPriceFormat)
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
			return 0, invalidPrice(errPriceFormat)
		}
		whole = strings.ReplaceAll(whole, ",", "")
	}
	if whole == "" && (!hasDot || frac == "") {
		return 0, invalidPrice(errPriceFormat)
	}
	if !digits(whole) || !digits(frac) {
		return 0, invalidPrice(errPriceFormat)
	}
	if len(frac) > 2 {
		return 0, invalidPrice("Price can have at most two decimal places")
	}
	if len(whole) > 12 { // far beyond any valid price; avoids overflow
		return 0, invalidPrice("Price must be between %s and %s", FormatCents(MinPriceCents), formatBound(MaxPriceCents))
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	c := w*100 + f
	if neg {
		c = -c
	}
	return c, nil
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

// formatBound formats a bound with thousands separators for messages: 1,000,000.00.
func formatBound(c int64) string {
	s := FormatCents(c)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String() + "." + frac
}

// ValidCurrency reports whether code looks like an ISO 4217 code (three upper-case letters).
func ValidCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}
