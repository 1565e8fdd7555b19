package search

import (
	"strings"
	"unicode/utf8"
)

// Segment is a piece of a text, marked when it matches a query word.
// Templates escape Text like any other string; Match only adds a <mark>.
type Segment struct {
	Text  string
	Match bool
}

// Highlight splits s into segments, marking each word that matches one of
// words (lower-case, from Query.Words): the same word, a word it starts
// (typing "stone" marks "Stoneware"), a stem of it ("bowls" marks "bowl"),
// or a near miss of five letters or more ("stonewear" marks "stoneware"),
// roughly what full-text and trigram search matched on.
func Highlight(s string, words []string) []Segment {
	var segs []Segment
	emit := func(text string, match bool) {
		if text == "" {
			return
		}
		if n := len(segs); n > 0 && segs[n-1].Match == match {
			segs[n-1].Text += text
			return
		}
		segs = append(segs, Segment{Text: text, Match: match})
	}
	start := 0
	inWord := false
	for i, r := range s + " " {
		w := isWordRune(r)
		switch {
		case w && !inWord:
			emit(s[start:i], false)
			start, inWord = i, true
		case !w && inWord:
			word := s[start:i]
			emit(word, matches(strings.ToLower(word), words))
			start, inWord = i, false
		}
	}
	if start < len(s) {
		emit(s[start:], false)
	}
	return segs
}

func matches(w string, words []string) bool {
	for _, q := range words {
		switch {
		case strings.HasPrefix(w, q):
			return true
		case utf8.RuneCountInString(w) >= 3 && strings.HasPrefix(q, w):
			return true
		case utf8.RuneCountInString(q) >= 5:
			limit := 1
			if utf8.RuneCountInString(q) >= 8 {
				limit = 2
			}
			if editDistance(w, q, limit) <= limit {
				return true
			}
		}
	}
	return false
}

// editDistance is the Levenshtein distance of a and b in runes, or
// limit+1 as soon as it must exceed limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
