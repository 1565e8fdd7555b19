// Package search turns what a person typed into a search box into a query
// that is safe to hand to PostgreSQL's websearch_to_tsquery and pg_trgm:
// bounded in size, valid UTF-8, free of control characters, with the
// websearch syntax (quoted phrases, -exclusion, or) kept and everything
// else reduced to words. It also says which words to highlight.
package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bazaarhq/bazaar/internal/market"
)

// Limits on a query. Past them the user gets a message, not a slow query.
const (
	// MaxQueryLen bounds the raw input in characters.
	MaxQueryLen = 200
	// MaxTerms bounds the words and phrases kept; further ones are
	// dropped (each term is another index probe, and nobody types 17).
	MaxTerms = 16
	// MaxWordLen bounds one word in characters; longer ones are cut.
	MaxWordLen = 50
)

// Field is the form and API parameter queries arrive in.
const Field = "q"

// Term is one positive or negative word or phrase.
type Term struct {
	Words   []string // one word, or the words of a quoted phrase
	Phrase  bool     // typed in double quotes
	Negated bool     // typed with a leading '-': must not match
	Or      bool     // joined to the previous term with "or"
}

// Query is a parsed search. The zero Query matches everything (browse).
type Query struct {
	Terms []Term
}

// Parse checks and normalises raw. It refuses only what a person could fix
// (invalid UTF-8, more than MaxQueryLen characters) with an EINVALID error
// on the q field; anything else, however odd, yields a Query, possibly an
// empty one (punctuation only), which means "no search words".
func Parse(raw string) (Query, error) {
	if !utf8.ValidString(raw) {
		return Query{}, invalid("Search text must be valid UTF-8 text.")
	}
	if utf8.RuneCountInString(raw) > MaxQueryLen {
		return Query{}, invalid("Search text must be at most 200 characters.")
	}
	var (
		q        Query
		inPhrase bool
		phrase   Term
		negNext  bool
		orNext   bool
	)
	add := func(t Term) {
		if len(t.Words) == 0 || len(q.Terms) >= MaxTerms {
			return
		}
		if len(q.Terms) == 0 || t.Negated {
			t.Or = false // "or" needs a left side; "x or -y" reads as "x -y"
		}
		q.Terms = append(q.Terms, t)
	}
	for _, tok := range tokenize(raw) {
		switch {
		case tok.quote && !inPhrase:
			inPhrase = true
			phrase = Term{Phrase: true, Negated: tok.neg, Or: orNext}
			negNext, orNext = false, false
		case tok.quote && inPhrase:
			inPhrase = false
			add(closePhrase(phrase))
		case inPhrase:
			phrase.Words = append(phrase.Words, tok.word)
		case strings.EqualFold(tok.word, "or") && !tok.neg:
			// "or" between two terms; a leading or trailing one is
			// dropped, as websearch_to_tsquery itself does.
			orNext = len(q.Terms) > 0
		default:
			add(Term{Words: []string{tok.word}, Negated: tok.neg || negNext, Or: orNext})
			negNext, orNext = false, false
		}
	}
	if inPhrase { // an unclosed quote: the phrase runs to the end
		add(closePhrase(phrase))
	}
	// A query of only exclusions would match almost everything, slowly;
	// treat it as no search words, like punctuation only.
	positive := false
	for _, t := range q.Terms {
		positive = positive || !t.Negated
	}
	if !positive {
		return Query{}, nil
	}
	return q, nil
}

// closePhrase turns a one-word phrase into a plain word, except "or",
// which only quotes keep from being read as the operator.
func closePhrase(t Term) Term {
	if len(t.Words) == 1 && !strings.EqualFold(t.Words[0], "or") {
		t.Phrase = false
	}
	return t
}

func invalid(msg string) error {
	return &market.Error{Code: market.EINVALID, Message: msg, Fields: map[string]string{Field: msg}}
}

type token struct {
	word  string // empty for a quote
	quote bool
	neg   bool // preceded by '-' at the start of a word
}

// tokenize splits raw into words and double quotes. A word is a run of
// letters, digits and marks, with single inner joiners (' - . _) kept, so
// "t-shirt", "o'neil" and "3.5mm" stay one word; every other character
// (control characters and NUL included) separates words.
func tokenize(raw string) []token {
	var (
		toks []token
		cur  []rune
		neg  bool
		// atStart: the next character begins a new word, so a '-' there
		// means exclusion rather than a joiner.
		atStart = true
	)
	flush := func() {
		if len(cur) > MaxWordLen {
			cur = cur[:MaxWordLen]
		}
		// Drop trailing joiners ("shirt-" is "shirt").
		for len(cur) > 0 && isJoiner(cur[len(cur)-1]) {
			cur = cur[:len(cur)-1]
		}
		if len(cur) > 0 {
			toks = append(toks, token{word: string(cur), neg: neg})
		}
		cur, neg, atStart = cur[:0], false, true
	}
	for _, r := range raw {
		switch {
		case isWordRune(r):
			cur = append(cur, r)
			atStart = false
		case r == '"':
			qneg := neg && len(cur) == 0
			flush()
			toks = append(toks, token{quote: true, neg: qneg})
		case r == '-' && atStart && len(cur) == 0:
			neg = true
		case isJoiner(r) && len(cur) > 0 && isWordRune(lastRune(cur)):
			cur = append(cur, r)
		default:
			flush()
		}
	}
	flush()
	return toks
}

func lastRune(rs []rune) rune { return rs[len(rs)-1] }

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)
}

func isJoiner(r rune) bool { return r == '\'' || r == '-' || r == '.' || r == '_' || r == '’' }

// Empty reports whether q has no search words (browse instead).
func (q Query) Empty() bool { return len(q.Terms) == 0 }

// Websearch renders q in websearch_to_tsquery syntax from the cleaned
// words only: phrases in double quotes, '-' for exclusion, "or" between
// alternatives. Passed as a bind parameter, it cannot change the SQL, and
// because it is rebuilt from words it cannot surprise the tsquery parser.
func (q Query) Websearch() string {
	var b strings.Builder
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteByte(' ')
			if t.Or {
				b.WriteString("or ")
			}
		}
		if t.Negated {
			b.WriteByte('-')
		}
		if t.Phrase {
			b.WriteByte('"')
		}
		b.WriteString(strings.Join(t.Words, " "))
		if t.Phrase {
			b.WriteByte('"')
		}
	}
	return b.String()
}

// String is the normalised query as a user would type it (for the search
// box and for links); it parses back to the same Query.
func (q Query) String() string { return q.Websearch() }

// Words returns the positive words, lower-cased, in order, without
// duplicates: what pg_trgm compares against names (typos) and what
// Highlight marks.
func (q Query) Words() []string {
	var ws []string
	seen := map[string]bool{}
	for _, t := range q.Terms {
		if t.Negated {
			continue
		}
		for _, w := range t.Words {
			w = strings.ToLower(w)
			if !seen[w] {
				seen[w] = true
				ws = append(ws, w)
			}
		}
	}
	return ws
}

// Text returns the positive words joined by spaces, for pg_trgm's
// word_similarity and for the suggestion endpoint's prefix match.
func (q Query) Text() string { return strings.Join(q.Words(), " ") }
