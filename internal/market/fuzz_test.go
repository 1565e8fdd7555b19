package market_test

import (
	"math/big"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Fuzz targets for the parsers of text people and clients send. `make fuzz`
// runs each for a bounded time; `go test` runs their corpus (the f.Add
// seeds and testdata/fuzz/<name>/, where every input the fuzzer once broke
// the code with stays as a regression test).

// maxParsed bounds what ParseAmount can return for code: at most 12 whole
// digits, then the currency's decimals.
func maxParsed(code string) int64 {
	n := int64(1_000_000_000_000)
	for range market.MinorUnits(code) {
		n *= 10
	}
	return n - 1
}

// currencySeeds are currencies with each number of decimals, and codes
// that name none (which get two).
var currencySeeds = []string{"USD", "JPY", "BHD", "CLF", "EUR", "", "usd", "XXX"}

// FuzzParseAmount: an amount is accepted only if it means exactly the
// number ParseAmount returns in the currency's minor units (checked against
// math/big on the same digits), it formats and parses back to itself, and
// anything else is EINVALID with a message for the price field, never a
// panic.
func FuzzParseAmount(f *testing.F) {
	for i, s := range []string{
		"12.50", "12.5", "0.01", "$3", " 1,000.00 ", "-4.20", ".5", "5.", "1,000,000", "1250", "1.250", "0.0001",
		"", "$", "-", "12,50", "1,0000", "1.234", "1e3", "0x10", "+1", "--1", "1 000",
		"１２", "999999999999.99", "1000000000000", strings.Repeat("9", 40), "$-3",
	} {
		f.Add(s, currencySeeds[i%len(currencySeeds)])
	}
	f.Fuzz(func(t *testing.T, s, code string) {
		c, err := market.ParseAmount(s, code)
		if err != nil {
			if ecode, msg := market.ErrorCode(err), market.ErrorMessage(err); ecode != market.EINVALID || !strings.HasPrefix(msg, "Price") {
				t.Fatalf("ParseAmount(%q, %q) error = %s %q, want %s and a message about the price", s, code, ecode, msg, market.EINVALID)
			}
			return
		}
		if limit := maxParsed(code); c > limit || c < -limit {
			t.Fatalf("ParseAmount(%q, %q) = %d, beyond 12 whole digits", s, code, c)
		}
		// The oracle: the text minus what ParseAmount may ignore (spaces
		// around it, a leading $, thousands commas), read by math/big.
		text := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "$"), ",", "")
		want, ok := new(big.Rat).SetString(text)
		if !ok {
			t.Fatalf("ParseAmount(%q, %q) = %d, but %q is not a number", s, code, c, text)
		}
		scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(market.MinorUnits(code))), nil)
		if got := new(big.Rat).SetFrac(big.NewInt(c), scale); got.Cmp(want) != 0 {
			t.Fatalf("ParseAmount(%q, %q) = %d minor units, want %s", s, code, c, want.RatString())
		}
		back, err := market.ParseAmount(market.FormatAmount(c, code), code)
		if err != nil || back != c {
			t.Fatalf("ParseAmount(FormatAmount(%d, %q) = %q) = %d, %v; want %d", c, code, market.FormatAmount(c, code), back, err, c)
		}
	})
}

// FuzzFormatAmount: every amount a price can hold, and far beyond, formats
// in any currency to text that parses back to the same amount.
func FuzzFormatAmount(f *testing.F) {
	for i, c := range []int64{0, 1, 9, 10, 99, 100, 1250, -1, -99, -100, market.MaxPriceCents, 999_999_999_999_999} {
		f.Add(c, currencySeeds[i%len(currencySeeds)])
	}
	f.Fuzz(func(t *testing.T, c int64, code string) {
		if limit := maxParsed(code); c > limit || c < -limit {
			t.Skip("beyond what ParseAmount accepts")
		}
		s := market.FormatAmount(c, code)
		if back, err := market.ParseAmount(s, code); err != nil || back != c {
			t.Fatalf("ParseAmount(FormatAmount(%d, %q) = %q) = %d, %v", c, code, s, back, err)
		}
	})
}

// listingFields are the field names ListingInput reports problems under.
var listingFields = map[string]bool{"name": true, "description": true, "price": true, "price_cents": true, "currency": true, "quantity": true}

// FuzzListingInput: whatever a form or client sends, ListingInput either
// yields a listing (new or edited) the store's own check (Validate)
// accepts, or an EINVALID error with a message under a field the input has
// and no change. One source for each rule: the two must never disagree.
func FuzzListingInput(f *testing.F) {
	f.Add(uint8(0b101101), "Brass lamp", "Works.", "12.50", "", "", "2")
	f.Add(uint8(0b111111), "Lamp", "", "12.50", "1250", "EUR", "0")
	f.Add(uint8(0b011111), " Lamp ", "A\nlamp", "", "1250", "usd", "100000")
	f.Add(uint8(0), "", "", "", "", "", "")
	f.Add(uint8(0b111111), "\x00", "\x1b[31m", "0.001", "-5", "US", "-1")
	f.Add(uint8(0b101101), strings.Repeat("é", 201), "", "1,000,000.01", "", "", "100001")
	f.Add(uint8(0b101101), "\xff", "\xfe", " 5 ", "", "", " 7 ")
	f.Fuzz(func(t *testing.T, present uint8, name, description, price, priceCents, currency, quantity string) {
		field := func(bit uint, v string) *string {
			if present&(1<<bit) == 0 {
				return nil
			}
			return &v
		}
		in := market.ListingInput{
			Name: field(0, name), Description: field(1, description), Price: field(2, price),
			PriceCents: field(3, priceCents), Currency: field(4, currency), Quantity: field(5, quantity),
		}
		checkInvalid := func(op string, err error) {
			t.Helper()
			fields := market.ErrorFields(err)
			if market.ErrorCode(err) != market.EINVALID || len(fields) == 0 {
				t.Fatalf("%s: error %v, want EINVALID with field messages", op, err)
			}
			for k, msg := range fields {
				if !listingFields[k] || msg == "" {
					t.Fatalf("%s: problem %q: %q, want a message under one of the input's fields", op, k, msg)
				}
			}
		}

		l, err := in.NewListing()
		if err != nil {
			checkInvalid("NewListing", err)
		} else if verr := l.Validate(); verr != nil {
			t.Fatalf("NewListing accepted %+v but Validate says %v", in, verr)
		}

		// Apply, as an edit does: all or nothing, and never a listing the
		// store would refuse.
		base := market.Listing{ID: 7, Name: "Base", Price: market.Money{Cents: 100, Currency: market.DefaultCurrency}, Quantity: 1}
		edited := base
		if aerr := in.Apply(&edited); aerr != nil {
			checkInvalid("Apply", aerr)
			if edited != base {
				t.Fatalf("Apply refused %+v (%v) but changed the listing: %+v", in, aerr, edited)
			}
			if err == nil {
				t.Fatalf("NewListing accepted %+v but Apply to a valid listing refused it: %v", in, aerr)
			}
			return
		}
		if verr := edited.Validate(); verr != nil {
			t.Fatalf("Apply accepted %+v but the edited listing fails Validate: %v", in, verr)
		}
	})
}
