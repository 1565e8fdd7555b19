package market_test

import (
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	valid := []struct {
		in   string
		want int64
	}{
		{"12.50", 1250},
		{"12.5", 1250},
		{"12", 1200},
		{"0.01", 1},
		{"1,000.00", 100000},
		{"1,000,000.00", 100000000},
		{"$3", 300},
		{" 4.20 ", 420},
		{"\t$4.20\n", 420},
		{".5", 50},
		{"5.", 500},
		{"0", 0},
		{"007.05", 705},
		{"-1", -100},  // a sign parses; the range rule rejects it
		{"$-3", -300}, // the dollar sign comes off before the minus
		{"999999999999.99", 99999999999999},
	}
	for _, tt := range valid {
		got, err := market.ParseAmount(tt.in, "USD")
		if err != nil || got != tt.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	invalid := []struct{ in, msg string }{
		{"", "Price must be an amount such as 12.50"},
		{"   ", "Price must be an amount such as 12.50"},
		{"$", "Price must be an amount such as 12.50"},
		{".", "Price must be an amount such as 12.50"},
		{"-", "Price must be an amount such as 12.50"},
		{"abc", "Price must be an amount such as 12.50"},
		{"1e3", "Price must be an amount such as 12.50"},
		{"12.5.0", "Price must be an amount such as 12.50"},
		{"--1", "Price must be an amount such as 12.50"},
		{"+1", "Price must be an amount such as 12.50"},
		{"-$3", "Price must be an amount such as 12.50"},
		{"1 000", "Price must be an amount such as 12.50"},
		{"12 USD", "Price must be an amount such as 12.50"},
		{"€3", "Price must be an amount such as 12.50"},
		{"１２", "Price must be an amount such as 12.50"}, // full-width digits
		{"0x10", "Price must be an amount such as 12.50"},
		{"1.234", "Price can have at most two decimal places"},
		{"0.001", "Price can have at most two decimal places"},
		{"1000000000000", "Price must be between 0.01 and 1,000,000.00"}, // 13 digits, before any overflow
		{strings.Repeat("9", 40), "Price must be between 0.01 and 1,000,000.00"},
	}
	for _, tt := range invalid {
		got, err := market.ParseAmount(tt.in, "USD")
		if err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", tt.in, got)
		} else if code, msg := market.ErrorCode(err), market.ErrorMessage(err); code != market.EINVALID || msg != tt.msg {
			t.Errorf("ParseAmount(%q) error = %s %q, want %s %q", tt.in, code, msg, market.EINVALID, tt.msg)
		}
	}
}

// TestParseAmountDecimalComma guards a fixed defect: commas were dropped
// wherever they were, so a seller who wrote a decimal comma ("12,50", as
// most of Europe does) got a price a hundred times too high, silently.
func TestParseAmountDecimalComma(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"12,50", "1,5", "1,00", "12.5,0", "1,0000"} {
		if got, err := market.ParseAmount(in, "USD"); err == nil {
			t.Errorf("ParseAmount(%q) = %d (%s), want an error: a comma is only a thousands separator "+
				"between groups of three digits before the point.",
				in, got, market.FormatAmount(got, "USD"))
		}
	}
}

func TestFormatAmount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{10, "0.10"},
		{99, "0.99"},
		{100, "1.00"},
		{1250, "12.50"},
		{100000000, "1000000.00"},
		{-5, "-0.05"},
		{-1250, "-12.50"},
	} {
		if got := market.FormatAmount(tt.in, "USD"); got != tt.want {
			t.Errorf("FormatAmount(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := market.ParseAmount(tt.want, "USD"); err != nil || back != tt.in {
			t.Errorf("ParseAmount(FormatAmount(%d)) = %d, %v", tt.in, back, err)
		}
	}
	if got := (market.Money{Cents: 1250, Currency: "EUR"}).String(); got != "12.50 EUR" {
		t.Errorf("Money.String() = %q", got)
	}
}

func TestValidCurrency(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"USD", true}, {"EUR", true}, {"JPY", true}, {"BHD", true}, {"CHF", true}, {"XOF", true},
		{"ZZZ", false}, {"XXX", false}, {"XTS", false}, {"XAU", false}, {"DEM", false}, // unknown, test, gold, historical
		{"usd", false}, {"Usd", false}, {"US", false}, {"USDD", false}, {"", false}, {"U$D", false}, {"ÄBC", false},
	} {
		if got := market.ValidCurrency(tt.in); got != tt.want {
			t.Errorf("ValidCurrency(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code   string
		digits int
		format string // 123456 minor units
	}{
		{"USD", 2, "1234.56"}, {"EUR", 2, "1234.56"}, {"JPY", 0, "123456"}, {"KRW", 0, "123456"},
		{"BHD", 3, "123.456"}, {"KWD", 3, "123.456"}, {"ISK", 0, "123456"},
	} {
		if got := market.MinorUnits(tt.code); got != tt.digits {
			t.Errorf("MinorUnits(%s) = %d, want %d", tt.code, got, tt.digits)
		}
		if got := market.FormatAmount(123456, tt.code); got != tt.format {
			t.Errorf("FormatAmount(123456, %s) = %q, want %q", tt.code, got, tt.format)
		}
		if back, err := market.ParseAmount(tt.format, tt.code); err != nil || back != 123456 {
			t.Errorf("ParseAmount(%q, %s) = %d, %v", tt.format, tt.code, back, err)
		}
	}
	for _, tt := range []struct {
		m    market.Money
		want string
	}{
		{market.Money{Cents: 1250, Currency: "JPY"}, "1250 JPY"},
		{market.Money{Cents: 5, Currency: "BHD"}, "0.005 BHD"},
		{market.Money{Cents: 5, Currency: "USD"}, "0.05 USD"},
	} {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.m, got, tt.want)
		}
	}
}
