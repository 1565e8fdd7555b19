package market_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

// validListing returns a listing that breaks no rule.
func validListing() *market.Listing {
	return &market.Listing{Name: "Brass lamp", Description: "Works.", Price: market.Money{Cents: 1250, Currency: "USD"}, Quantity: 2}
}

func TestListingValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*market.Listing)
		field  string // "" means valid
		msg    string
	}{
		{"valid", func(*market.Listing) {}, "", ""},
		{"name 200 multibyte runes", func(l *market.Listing) { l.Name = strings.Repeat("é", 200) }, "", ""},
		{"name 200 runes of 4 bytes", func(l *market.Listing) { l.Name = strings.Repeat("🪔", 200) }, "", ""},
		{"name 201 multibyte runes", func(l *market.Listing) { l.Name = strings.Repeat("é", 201) }, "name", "Name must be at most 200 characters"},
		{"name 200 runes plus spaces", func(l *market.Listing) { l.Name = "  " + strings.Repeat("n", 200) + "\n" }, "", ""},
		{"name empty", func(l *market.Listing) { l.Name = "" }, "name", "Name is required"},
		{"name blank", func(l *market.Listing) { l.Name = " \t\n " }, "name", "Name is required"},
		{"name invalid UTF-8", func(l *market.Listing) { l.Name = "lamp\xff" }, "name", "Name must be valid UTF-8 text"},
		{"name zero-width space only", func(l *market.Listing) { l.Name = "\u200b" }, "name", "Name is required"},
		{"name invisible characters only", func(l *market.Listing) { l.Name = "\u200b\u200d\ufeff\u00ad\u3164\u2800\ufe0f \u3000" }, "name", "Name is required"},
		{"name with a zero-width space", func(l *market.Listing) { l.Name = "Lamp\u200b" }, "", ""},
		{"name emoji sequence with ZWJ", func(l *market.Listing) { l.Name = "Family \U0001F468\u200d\U0001F469\u200d\U0001F467" }, "", ""},
		{"name Persian with ZWNJ", func(l *market.Listing) { l.Name = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645" }, "", ""},
		{"name Arabic", func(l *market.Listing) { l.Name = "\u0645\u0635\u0628\u0627\u062d \u0646\u062d\u0627\u0633\u064a" }, "", ""},
		{"name right-to-left override", func(l *market.Listing) { l.Name = "Lamp \u202egnp.exe" }, "name", "Name must not contain characters that change the text direction (such as U+202E)"},
		{"name left-to-right isolate", func(l *market.Listing) { l.Name = "\u2066Lamp\u2069" }, "name", "Name must not contain characters that change the text direction (such as U+202E)"},
		{"name right-to-left mark", func(l *market.Listing) { l.Name = "Lamp\u200f" }, "name", "Name must not contain characters that change the text direction (such as U+202E)"},
		{"name line separator", func(l *market.Listing) { l.Name = "Lamp\u2028two" }, "name", "Name must be on one line"},
		{"description with marks, isolates, joiners", func(l *market.Listing) {
			l.Description = "Said \u2067\u0645\u0631\u062d\u0628\u0627\u2069 \u200fok\u200e, \u202bembedded\u202c, \u200b\u200d"
		}, "", ""},
		{"description right-to-left override", func(l *market.Listing) { l.Description = "nice \u202etxet" }, "description", "Description must not contain direction overrides (U+202D, U+202E)"},
		{"description left-to-right override", func(l *market.Listing) { l.Description = "\u202dx" }, "description", "Description must not contain direction overrides (U+202D, U+202E)"},
		{"description empty", func(l *market.Listing) { l.Description = "" }, "", ""},
		{"description 5000 runes", func(l *market.Listing) { l.Description = strings.Repeat("ß", 5000) }, "", ""},
		{"description 5001 runes", func(l *market.Listing) { l.Description = strings.Repeat("ß", 5001) }, "description", "Description must be at most 5,000 characters"},
		{"description invalid UTF-8", func(l *market.Listing) { l.Description = "\xc3" }, "description", "Description must be valid UTF-8 text"},
		{"price 1", func(l *market.Listing) { l.Price.Cents = 1 }, "", ""},
		{"price max", func(l *market.Listing) { l.Price.Cents = 100_000_000 }, "", ""},
		{"price 0", func(l *market.Listing) { l.Price.Cents = 0 }, "price", "Price must be between 0.01 and 1,000,000.00"},
		{"price negative", func(l *market.Listing) { l.Price.Cents = -1 }, "price", "Price must be between 0.01 and 1,000,000.00"},
		{"price max+1", func(l *market.Listing) { l.Price.Cents = 100_000_001 }, "price", "Price must be between 0.01 and 1,000,000.00"},
		{"quantity 0", func(l *market.Listing) { l.Quantity = 0 }, "", ""},
		{"quantity max", func(l *market.Listing) { l.Quantity = 100_000 }, "", ""},
		{"quantity -1", func(l *market.Listing) { l.Quantity = -1 }, "quantity", "Quantity must be between 0 and 100,000"},
		{"quantity max+1", func(l *market.Listing) { l.Quantity = 100_001 }, "quantity", "Quantity must be between 0 and 100,000"},
		{"currency EUR", func(l *market.Listing) { l.Price.Currency = "EUR" }, "", ""},
		{"currency empty defaults", func(l *market.Listing) { l.Price.Currency = "" }, "", ""},
		{"currency lower case", func(l *market.Listing) { l.Price.Currency = "usd" }, "currency", "Currency must be an ISO 4217 code in use, such as USD, EUR or JPY"},
		{"currency too long", func(l *market.Listing) { l.Price.Currency = "USDX" }, "currency", "Currency must be an ISO 4217 code in use, such as USD, EUR or JPY"},
		{"currency made up", func(l *market.Listing) { l.Price.Currency = "ZZZ" }, "currency", "Currency must be an ISO 4217 code in use, such as USD, EUR or JPY"},
		{"currency yen", func(l *market.Listing) { l.Price.Currency = "JPY" }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := validListing()
			tt.change(l)
			err := l.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if market.ErrorCode(err) != market.EINVALID {
				t.Fatalf("Validate() = %v, want an invalid error", err)
			}
			want := map[string]string{tt.field: tt.msg}
			if got := market.ErrorFields(err); !maps.Equal(got, want) {
				t.Errorf("fields = %v, want %v", got, want)
			}
		})
	}
}

func TestListingValidateNormalises(t *testing.T) {
	t.Parallel()
	l := validListing()
	l.Name, l.Description, l.Price.Currency = "  Lamp \n", "\t Brass  ", ""
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.Name != "Lamp" || l.Description != "Brass" || l.Price.Currency != market.DefaultCurrency {
		t.Errorf("after Validate: %q %q %q", l.Name, l.Description, l.Price.Currency)
	}
}

func TestListingValidateReportsEveryField(t *testing.T) {
	t.Parallel()
	l := &market.Listing{Name: "", Description: strings.Repeat("d", 5001), Price: market.Money{Cents: 0, Currency: "x"}, Quantity: -1}
	fields := market.ErrorFields(l.Validate())
	for _, f := range []string{"name", "description", "price", "currency", "quantity"} {
		if fields[f] == "" {
			t.Errorf("no message for %s: %v", f, fields)
		}
	}
}

// ValidateInto keeps a parse error the caller found first.
func TestListingValidateIntoKeepsEarlierProblems(t *testing.T) {
	t.Parallel()
	p := market.Problems{}
	p.Add("price", "Price must be an amount such as 12.50")
	l := validListing()
	l.Price.Cents = 0
	l.ValidateInto(p)
	if p["price"] != "Price must be an amount such as 12.50" || len(p) != 1 {
		t.Errorf("problems = %v", p)
	}
}

func str(s string) *string { return &s }

func TestListingInputNewListing(t *testing.T) {
	t.Parallel()
	valid := func() market.ListingInput {
		return market.ListingInput{Name: str(" Lamp "), Description: str(" Brass "), Price: str("12.50"), Quantity: str("2")}
	}
	l, err := valid().NewListing()
	if err != nil {
		t.Fatal(err)
	}
	want := market.Listing{Name: "Lamp", Description: "Brass", Price: market.Money{Cents: 1250, Currency: "USD"}, Quantity: 2,
		Category: market.DefaultCategory, Condition: market.DefaultCondition}
	if *l != want {
		t.Errorf("NewListing = %+v, want %+v", *l, want)
	}
	for _, tt := range []struct {
		name   string
		change func(*market.ListingInput)
		fields map[string]string
	}{
		{"nothing sent", func(in *market.ListingInput) { *in = market.ListingInput{} },
			map[string]string{"name": "Name is required", "price_cents": "Price is required", "quantity": "Quantity is required"}},
		{"form fields empty", func(in *market.ListingInput) { in.Name, in.Price, in.Quantity = str(""), str(" "), str("") },
			map[string]string{"name": "Name is required", "price": "Price is required", "quantity": "Quantity is required"}},
		{"price text", func(in *market.ListingInput) { in.Price = str("12,50") }, map[string]string{"price": "Price must be an amount such as 12.50"}},
		{"price zero", func(in *market.ListingInput) { in.Price = str("0") }, map[string]string{"price": "Price must be between 0.01 and 1,000,000.00"}},
		{"price_cents zero", func(in *market.ListingInput) { in.Price, in.PriceCents = nil, str("0") },
			map[string]string{"price_cents": "Price must be between 0.01 and 1,000,000.00"}},
		{"quantity text", func(in *market.ListingInput) { in.Quantity = str("1.5") },
			map[string]string{"quantity": "Quantity must be a whole number between 0 and 100,000"}},
		{"quantity range", func(in *market.ListingInput) { in.Quantity = str("100001") }, map[string]string{"quantity": "Quantity must be between 0 and 100,000"}},
		{"currency", func(in *market.ListingInput) { in.Currency = str("usd") }, map[string]string{"currency": "Currency must be an ISO 4217 code in use, such as USD, EUR or JPY"}},
		{"name control", func(in *market.ListingInput) { in.Name = str("a\x00b") }, map[string]string{"name": "Name must not contain control characters"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.change(&in)
			l, err := in.NewListing()
			if l != nil || !maps.Equal(market.ErrorFields(err), tt.fields) {
				t.Errorf("NewListing = %+v, fields %v; want nil and %v", l, market.ErrorFields(err), tt.fields)
			}
		})
	}
}

func TestListingInputApply(t *testing.T) {
	t.Parallel()
	l := validListing()
	if err := (market.ListingInput{Quantity: str(" 0 "), Currency: str("")}).Apply(l); err != nil {
		t.Fatal(err)
	}
	want := validListing()
	want.Quantity = 0
	if *l != *want || l.InStock() {
		t.Errorf("after Apply = %+v, want %+v", l, want)
	}
	if !(market.ListingInput{}).Empty() || (market.ListingInput{Name: str("")}).Empty() {
		t.Error("Empty is wrong")
	}
	before := *l
	err := market.ListingInput{Name: str(" "), PriceCents: str("100000001"), Quantity: str("5")}.Apply(l)
	want2 := map[string]string{"name": "Name is required", "price_cents": "Price must be between 0.01 and 1,000,000.00"}
	if !maps.Equal(market.ErrorFields(err), want2) {
		t.Errorf("fields = %v, want %v", market.ErrorFields(err), want2)
	}
	if *l != before {
		t.Errorf("a failed Apply changed the listing: %+v, was %+v", *l, before)
	}
}

// TestListingInputPriceInItsCurrency: a typed price is read in the
// currency the listing will have, with that currency's decimals, and the
// range is told in its units.
func TestListingInputPriceInItsCurrency(t *testing.T) {
	t.Parallel()
	yen := func() *market.Listing {
		l := validListing()
		l.Price = market.Money{Cents: 1250, Currency: "JPY"}
		return l
	}
	for _, tt := range []struct {
		name  string
		l     *market.Listing
		in    market.ListingInput
		cents int64
		cur   string
		msg   string // the price field's message; "" means valid
		field string
	}{
		{"yen whole", yen(), market.ListingInput{Price: str("1,500")}, 1500, "JPY", "", "price"},
		{"yen with decimals", yen(), market.ListingInput{Price: str("15.00")}, 0, "", "Prices in JPY are whole numbers, without decimals", "price"},
		{"yen too cheap", yen(), market.ListingInput{Price: str("0")}, 0, "", "Price must be between 1 and 100,000,000", "price"},
		{"yen minor units", yen(), market.ListingInput{PriceCents: str("100000001")}, 0, "", "Price must be between 1 and 100,000,000", "price_cents"},
		{"to dinar, three decimals", validListing(), market.ListingInput{Currency: str("BHD"), Price: str("1.255")}, 1255, "BHD", "", "price"},
		{"dinar, four decimals", validListing(), market.ListingInput{Currency: str("BHD"), Price: str("1.2555")}, 0, "", "Price can have at most three decimal places", "price"},
		{"dollars, example", validListing(), market.ListingInput{Price: str("12,5")}, 0, "", "Price must be an amount such as 12.50", "price"},
		{"yen, example", yen(), market.ListingInput{Price: str("abc")}, 0, "", "Price must be an amount such as 12", "price"},
		{"to yen by name", validListing(), market.ListingInput{Currency: str("JPY"), Price: str("980")}, 980, "JPY", "", "price"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Apply(tt.l)
			if tt.msg == "" {
				if err != nil || tt.l.Price != (market.Money{Cents: tt.cents, Currency: tt.cur}) {
					t.Errorf("Apply: %v, price %+v; want %d %s", err, tt.l.Price, tt.cents, tt.cur)
				}
				return
			}
			if got := market.ErrorFields(err)[tt.field]; got != tt.msg {
				t.Errorf("%s message = %q (err %v), want %q", tt.field, got, err, tt.msg)
			}
		})
	}
}

// TestListingInputCatalogue: category and condition default when absent
// (old API clients), and an empty or unknown value is a choice to make.
func TestListingInputCatalogue(t *testing.T) {
	t.Parallel()
	base := func() market.ListingInput {
		return market.ListingInput{Name: str("Lamp"), Price: str("12.50"), Quantity: str("2")}
	}
	for _, tt := range []struct {
		name                string
		category, condition *string
		wantCat, wantCond   string
		problems            map[string]string
	}{
		{"absent", nil, nil, "other", "used", nil},
		{"given", str(" kitchen "), str("handmade"), "kitchen", "handmade", nil},
		{"empty category", str(""), str("new"), "", "", map[string]string{"category": "Choose a category"}},
		{"empty condition", str("kitchen"), str(" "), "", "", map[string]string{"condition": "Choose a condition: new, used or handmade"}},
		{"unknown condition", str("kitchen"), str("mint"), "", "", map[string]string{"condition": "Condition must be new, used or handmade"}},
		{"absurd category", str(strings.Repeat("k", 61)), nil, "", "", map[string]string{"category": "Choose one of the listed categories"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			in.Category, in.Condition = tt.category, tt.condition
			l, err := in.NewListing()
			if tt.problems != nil {
				if got := market.ErrorFields(err); !maps.Equal(got, tt.problems) {
					t.Fatalf("problems %v, want %v", got, tt.problems)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Category != tt.wantCat || l.Condition != tt.wantCond {
				t.Fatalf("got %q/%q, want %q/%q", l.Category, l.Condition, tt.wantCat, tt.wantCond)
			}
		})
	}
}
