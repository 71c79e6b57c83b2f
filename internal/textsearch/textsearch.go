// Package textsearch is what the app and both stores agree on for
// full-text search: how text is cut into words (the same rules for what is
// indexed and for what is asked), how a query is parsed, and the snippet a
// result shows. The stores write the words into their own index (SQLite
// FTS5, PostgreSQL tsvector) and translate parsed terms into their own
// query language, so neither database's tokenizer decides what a word is.
//
// A word is a run of letters, digits and combining marks, lower-cased. In
// scripts written without spaces between words (Han, Hiragana, Katakana,
// Thai, Lao, Khmer, Myanmar) every character is a word of its own, and a
// run of them in a query is a phrase of those characters: 東京 finds
// 東京タワー and 在東京, as a substring would. Words are cut at MaxWordBytes.
package textsearch

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

// Scoped returns word as both stores index it: prefixed with the id of the
// message's conversation and '_' (which no word holds). A search looks for
// its words in each conversation the caller may see, so the index answers
// only from those conversations' entries: a prefix or a common word costs
// what it matches there, not what it matches in the whole store.
func Scoped(conv parley.ID, word string) string {
	return strconv.FormatInt(int64(conv), 10) + "_" + word
}

// Expr writes the query of terms over the conversations convs in a
// store's query language: in each conversation every term, its words
// scoped to that conversation, joined by and; the conversations joined by
// or. term writes one term: its scoped words (a phrase when more than one)
// and whether the last is a prefix; it must quote them so that nothing a
// user typed is read as syntax.
func Expr(terms []parley.SearchTerm, convs []parley.ID, or, and string, term func(b *strings.Builder, words []string, prefix bool)) string {
	var b strings.Builder
	var words []string
	for i, c := range convs {
		if i > 0 {
			b.WriteString(or)
		}
		b.WriteByte('(')
		for j, t := range terms {
			if j > 0 {
				b.WriteString(and)
			}
			words = words[:0]
			for _, w := range t.Words {
				words = append(words, Scoped(c, w))
			}
			term(&b, words, t.Prefix)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// MaxWordBytes bounds one indexed word; longer ones are cut (at a
// character boundary), in the index and in queries alike.
const MaxWordBytes = 64

// MinPrefixRunes is the shortest word a query matches as a prefix: a
// one-letter word only matches itself, so that a single letter does not
// expand to every word of the index that starts with it.
const MinPrefixRunes = 2

// perCharacter reports whether r belongs to a script written without
// spaces between words.
func perCharacter(r rune) bool {
	return r >= 0x0E00 && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

// class is what a character is to the tokenizer.
type class uint8

const (
	separator class = iota
	letter          // part of a word (letters and digits)
	mark            // a combining mark: part of the word before it
	alone           // a word by itself (scripts written without spaces)
)

func classify(r rune) class {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return letter
		}
		return separator
	}
	switch {
	case r == utf8.RuneError:
		return separator
	case unicode.IsMark(r):
		return mark
	case perCharacter(r):
		return alone
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		return letter
	}
	return separator
}

// Token is a word and where it is in the text: text[Start:End].
type Token struct {
	Word       string
	Start, End int
	// Alone marks a word of a script written without spaces: one
	// character and its marks.
	Alone bool
}

// Tokens cuts text into words.
func Tokens(text string) []Token {
	out := make([]Token, 0, len(text)/5+1)
	scan(text, make([]byte, 0, 32), func(word []byte, start, end int, alone bool) {
		out = append(out, Token{Word: string(cut(word)), Start: start, End: end, Alone: alone})
	})
	return out
}

// AppendScoped appends the words of text, each scoped to conv (Scoped),
// separated by spaces: what a store indexes for an entry. It builds no
// string per word.
func AppendScoped(dst []byte, conv parley.ID, text string) []byte {
	var prefix [24]byte
	p := append(strconv.AppendInt(prefix[:0], int64(conv), 10), '_')
	first := true
	scan(text, make([]byte, 0, 32), func(word []byte, _, _ int, _ bool) {
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		dst = append(append(dst, p...), cut(word)...)
	})
	return dst
}

// scan calls emit with each word of text (lower-cased, in buf's memory,
// valid until emit returns), where it is and whether it stands alone.
func scan(text string, buf []byte, emit func(word []byte, start, end int, alone bool)) {
	start := -1
	isAlone := false
	flush := func(end int) {
		if start < 0 {
			return
		}
		emit(buf, start, end, isAlone)
		buf = buf[:0]
		start, isAlone = -1, false
	}
	for i, r := range text {
		switch classify(r) {
		case mark:
			if start >= 0 {
				buf = utf8.AppendRune(buf, r)
			}
		case alone:
			flush(i)
			start, isAlone = i, true
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
		case letter:
			if isAlone {
				flush(i)
			}
			if start < 0 {
				start = i
			}
			if r < utf8.RuneSelf {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				buf = append(buf, byte(r))
			} else {
				buf = utf8.AppendRune(buf, unicode.ToLower(r))
			}
		default:
			flush(i)
		}
	}
	flush(len(text))
}

// cut cuts a word at MaxWordBytes, on a character boundary.
func cut(w []byte) []byte {
	if len(w) <= MaxWordBytes {
		return w
	}
	i := MaxWordBytes
	for i > 0 && !utf8.RuneStart(w[i]) {
		i--
	}
	return w[:i]
}

// Words returns the words of text in order: what is indexed.
func Words(text string) []string {
	ts := Tokens(text)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Word
	}
	return out
}

// Parse turns a query into terms. A double-quoted part is one term whose
// words must be adjacent and in order; elsewhere every word is a term
// matching it as a prefix (if at least MinPrefixRunes long), and every run
// of characters of a script without spaces a phrase of them. Returns
// EINVALID for a query over parley.MaxSearchQueryBytes, not valid UTF-8,
// with an unclosed quote, without a word, or with more than
// parley.MaxSearchWords words.
func Parse(q string) ([]parley.SearchTerm, error) {
	if len(q) > parley.MaxSearchQueryBytes {
		return nil, parley.Errorf(parley.EINVALID, "q must be at most %d bytes", parley.MaxSearchQueryBytes)
	}
	if !utf8.ValidString(q) {
		return nil, parley.Errorf(parley.EINVALID, "q must be valid UTF-8")
	}
	if strings.Count(q, `"`)%2 != 0 {
		return nil, parley.Errorf(parley.EINVALID, "q has a phrase without its closing quote")
	}
	var terms []parley.SearchTerm
	n := 0
	for i, part := range strings.Split(q, `"`) {
		ts := Tokens(part)
		n += len(ts)
		if len(ts) == 0 {
			continue
		}
		if i%2 == 1 { // inside quotes
			terms = append(terms, parley.SearchTerm{Words: Words(part)})
			continue
		}
		for j := 0; j < len(ts); j++ {
			t := ts[j]
			if !t.Alone {
				terms = append(terms, parley.SearchTerm{Words: []string{t.Word}, Prefix: utf8.RuneCountInString(t.Word) >= MinPrefixRunes})
				continue
			}
			// A run of characters of a script without spaces, adjacent in
			// the text, is a phrase.
			ws := []string{t.Word}
			for j+1 < len(ts) && ts[j+1].Alone && ts[j+1].Start == ts[j].End {
				j++
				ws = append(ws, ts[j].Word)
			}
			terms = append(terms, parley.SearchTerm{Words: ws})
		}
	}
	if len(terms) == 0 {
		return nil, parley.Errorf(parley.EINVALID, "q has no words to search for")
	}
	if n > parley.MaxSearchWords {
		return nil, parley.Errorf(parley.EINVALID, "q may hold at most %d words", parley.MaxSearchWords)
	}
	return terms, nil
}

// snippetRunes is about how long a snippet is.
const snippetRunes = 120

// Snippet returns an excerpt of body of about snippetRunes characters
// around the first place where one of the terms matches, with "…" where it
// cuts the text; the start of body when nothing matches (a caption whose
// words only the index still held, say).
func Snippet(body string, terms []parley.SearchTerm) string {
	// Line breaks and runs of spaces become one space: a snippet is one
	// line.
	text := strings.Join(strings.Fields(body), " ")
	ts := Tokens(text)
	at := 0
find:
	for i := range ts {
		for _, t := range terms {
			if matchAt(ts, i, t) {
				at = ts[i].Start
				break find
			}
		}
	}
	runes := []rune(text)
	if len(runes) <= snippetRunes {
		return text
	}
	// The excerpt starts a little before the match, so it reads as part
	// of a sentence.
	pos := utf8.RuneCountInString(text[:at])
	end := min(len(runes), max(0, pos-snippetRunes/4)+snippetRunes)
	start := max(0, end-snippetRunes)
	out := string(runes[start:end])
	if start > 0 {
		out = "…" + out
	}
	if end < len(runes) {
		out += "…"
	}
	return out
}

// Match reports whether text holds every one of the terms, as both
// stores' indexes match an entry of those words: a term's words adjacent
// and in order, its last word a prefix when the term says so.
func Match(terms []parley.SearchTerm, text string) bool {
	ts := Tokens(text)
	for _, t := range terms {
		found := false
		for i := range ts {
			if matchAt(ts, i, t) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchAt reports whether term matches the words starting at ts[i].
func matchAt(ts []Token, i int, t parley.SearchTerm) bool {
	if i+len(t.Words) > len(ts) {
		return false
	}
	for j, w := range t.Words {
		got := ts[i+j].Word
		if j == len(t.Words)-1 && t.Prefix {
			if !strings.HasPrefix(got, w) {
				return false
			}
		} else if got != w {
			return false
		}
	}
	return true
}
