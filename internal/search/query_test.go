package search

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/bazaarhq/bazaar/internal/market"
)

func TestParse(t *testing.T) {
	cases := []struct {
		raw       string
		websearch string // "" means an empty Query (browse)
		words     string
	}{
		{"", "", ""},
		{"   ", "", ""},
		{"stoneware bowl", "stoneware bowl", "stoneware bowl"},
		{"  Stoneware\t\nBowl  ", "Stoneware Bowl", "stoneware bowl"},
		{`"blue glaze" mug`, `"blue glaze" mug`, "blue glaze mug"},
		{"mug -chipped", "mug -chipped", "mug"},
		{`mug -"very chipped"`, `mug -"very chipped"`, "mug"},
		{"mug or cup", "mug or cup", "mug cup"},
		{"mug OR cup", "mug or cup", "mug cup"},
		{"or mug or", "mug", "mug"},
		{"mug or -cup", "mug -cup", "mug"},
		{`"unclosed phrase here`, `"unclosed phrase here"`, "unclosed phrase here"},
		{`"single"`, "single", "single"},
		{`a "or" b`, `a "or" b`, "a or b"},
		{"t-shirt o'neil 3.5mm", "t-shirt o'neil 3.5mm", "t-shirt o'neil 3.5mm"},
		{"shirt- -'x'", "shirt x", "shirt x"},
		{"&|!:*()'", "", ""},
		{"'''", "", ""},
		{"a & b | !c", "a b c", "a b c"},
		{"cat:* & (dog | !fish)", "cat dog fish", "cat dog fish"},
		{"-only -negative", "", ""},
		{"nul\x00byte", "nul byte", "nul byte"},
		{"bell\x07and\x1bescape", "bell and escape", "bell and escape"},
		{"Töpferei Überraschung", "Töpferei Überraschung", "töpferei überraschung"},
		{"陶器 ボウル", "陶器 ボウル", "陶器 ボウル"},
		{"<script>alert(1)</script>", "script alert 1 script", "script alert 1"},
		{"'; DROP TABLE listings; --", "DROP TABLE listings", "drop table listings"},
		{"mug mug MUG", "mug mug MUG", "mug"},
		{strings.Repeat("x", 60), strings.Repeat("x", MaxWordLen), strings.Repeat("x", MaxWordLen)},
		{strings.Repeat("a ", 20), strings.TrimSpace(strings.Repeat("a ", MaxTerms)), "a"},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			q, err := Parse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Websearch(); got != tc.websearch {
				t.Errorf("Websearch() = %q, want %q", got, tc.websearch)
			}
			if q.Empty() != (tc.websearch == "") {
				t.Errorf("Empty() = %v", q.Empty())
			}
			if got := q.Text(); got != tc.words {
				t.Errorf("Text() = %q, want %q", got, tc.words)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []struct {
		name, raw, msg string
	}{
		{"invalid utf-8", "mug \xff\xfe", "Search text must be valid UTF-8 text."},
		{"10,000 characters", strings.Repeat("a", 10000), "Search text must be at most 200 characters."},
		{"201 characters", strings.Repeat("é", 201), "Search text must be at most 200 characters."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.raw)
			if market.ErrorCode(err) != market.EINVALID || market.ErrorFields(err)[Field] != tc.msg {
				t.Fatalf("got %v, want EINVALID %q on %s", err, tc.msg, Field)
			}
		})
	}
	if _, err := Parse(strings.Repeat("é", 200)); err != nil {
		t.Fatalf("200 characters refused: %v", err)
	}
}

func TestHighlight(t *testing.T) {
	type seg = Segment
	cases := []struct {
		name, text, query string
		want              []Segment
	}{
		{"exact", "Stoneware bowl", "bowl", []seg{{"Stoneware ", false}, {"bowl", true}}},
		{"prefix as typed", "Stoneware bowl", "sto", []seg{{"Stoneware", true}, {" bowl", false}}},
		{"plural query", "Large bowl, blue", "bowls", []seg{{"Large ", false}, {"bowl", true}, {", blue", false}}},
		{"typo", "Stoneware bowl", "stonewear", []seg{{"Stoneware", true}, {" bowl", false}}},
		{"no match", "Stoneware bowl", "teapot", []seg{{"Stoneware bowl", false}}},
		{"each word on its own", "blue bowl", "blue bowl", []seg{{"blue", true}, {" ", false}, {"bowl", true}}},
		{"excluded words are not marked", "chipped mug", "mug -chipped", []seg{{"chipped ", false}, {"mug", true}}},
		{"short words need the whole prefix", "a bowl", "bo", []seg{{"a ", false}, {"bowl", true}}},
		{"markup is text", "<b>bowl</b>", "bowl", []seg{{"<b>", false}, {"bowl", true}, {"</b>", false}}},
		{"empty query", "bowl", "", []seg{{"bowl", false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got := Highlight(tc.text, q.Words())
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Highlight(%q, %q) = %v, want %v", tc.text, tc.query, got, tc.want)
			}
		})
	}
}

// FuzzParse: any input is refused with EINVALID or parses to a Query whose
// websearch text is short, valid, free of control characters and tsquery
// operators, and parses back to itself; Highlight gives back its input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "stoneware bowl", `"blue glaze" -chipped or mug`, "&|!:*()'", "nul\x00", "\xff",
		strings.Repeat("x", 250), "t-shirt o'neil", `a "or" b`, "-\"x y\" or", "陶器"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := Parse(raw)
		if err != nil {
			if market.ErrorCode(err) != market.EINVALID {
				t.Fatalf("Parse(%q): %v", raw, err)
			}
			return
		}
		ws := q.Websearch()
		if !utf8.ValidString(ws) || utf8.RuneCountInString(ws) > MaxTerms*(MaxWordLen+5) {
			t.Fatalf("websearch %q", ws)
		}
		for _, r := range ws {
			if unicode.IsControl(r) || strings.ContainsRune("&|!:*()\\<>", r) {
				t.Fatalf("websearch %q holds %q", ws, r)
			}
		}
		if len(q.Terms) > MaxTerms {
			t.Fatalf("%d terms", len(q.Terms))
		}
		again, err := Parse(ws)
		if err != nil && utf8.RuneCountInString(ws) <= MaxQueryLen {
			t.Fatalf("Parse(%q) = %v", ws, err)
		}
		if err == nil && again.Websearch() != ws {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, ws, again.Websearch())
		}
		var b strings.Builder
		for _, s := range Highlight(raw, q.Words()) {
			b.WriteString(s.Text)
		}
		if b.String() != raw {
			t.Fatalf("Highlight lost text: %q -> %q", raw, b.String())
		}
	})
}
