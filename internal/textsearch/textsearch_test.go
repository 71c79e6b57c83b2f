package textsearch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"Latin", "Hello, World! It's 2026.", []string{"hello", "world", "it", "s", "2026"}},
		{"Accents", "Crème BRÛLÉE", []string{"crème", "brûlée"}},
		{"Cyrillic", "Привет мир", []string{"привет", "мир"}},
		{"Han", "我爱东京", []string{"我", "爱", "东", "京"}},
		{"Mixed", "meet在東京tower", []string{"meet", "在", "東", "京", "tower"}},
		{"Kana", "カタカナとひらがな", []string{"カ", "タ", "カ", "ナ", "と", "ひ", "ら", "が", "な"}},
		{"Hangul", "안녕하세요 세계", []string{"안녕하세요", "세계"}},
		{"ThaiMarks", "ที่", []string{"ที่"}},
		{"Punctuation", "--- ... !!!", nil},
		{"Emoji", "fire 🔥 ok", []string{"fire", "ok"}},
		{"Long", strings.Repeat("é", 40), []string{strings.Repeat("é", 32)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What a store indexes: the same words, scoped, one string.
			scoped := make([]string, len(tc.want))
			for i, w := range tc.want {
				scoped[i] = Scoped(4711, w)
			}
			if got, want := string(AppendScoped([]byte("x"), 4711, tc.text)), "x"+strings.Join(scoped, " "); got != want {
				t.Errorf("AppendScoped(%q) = %q, want %q", tc.text, got, want)
			}
			got := Words(tc.text)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Words(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, q string
		want    []parley.SearchTerm
	}{
		{"Prefixes", "Hel wor", []parley.SearchTerm{{Words: []string{"hel"}, Prefix: true}, {Words: []string{"wor"}, Prefix: true}}},
		{"OneLetterIsExact", "a", []parley.SearchTerm{{Words: []string{"a"}}}},
		{"Phrase", `say "Hello there" now`, []parley.SearchTerm{{Words: []string{"say"}, Prefix: true}, {Words: []string{"hello", "there"}}, {Words: []string{"now"}, Prefix: true}}},
		{"HanRunIsPhrase", "东京 塔", []parley.SearchTerm{{Words: []string{"东", "京"}}, {Words: []string{"塔"}}}},
		{"FTSSyntaxIsText", `foo* OR bar NEAR(x) col:y -z ^w`, []parley.SearchTerm{
			{Words: []string{"foo"}, Prefix: true}, {Words: []string{"or"}, Prefix: true}, {Words: []string{"bar"}, Prefix: true},
			{Words: []string{"near"}, Prefix: true}, {Words: []string{"x"}}, {Words: []string{"col"}, Prefix: true},
			{Words: []string{"y"}}, {Words: []string{"z"}}, {Words: []string{"w"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.q, got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, q string }{
		{"ErrEmpty", ""},
		{"ErrNoWords", `!!! "" ...`},
		{"ErrUnclosedQuote", `"hello`},
		{"ErrTooLong", strings.Repeat("a", parley.MaxSearchQueryBytes+1)},
		{"ErrTooManyWords", strings.Repeat("ab ", parley.MaxSearchWords+1)},
		{"ErrNotUTF8", "\xff\xfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.q); parley.ErrorCode(err) != parley.EINVALID {
				t.Fatalf("Parse(%q) = %v, want invalid", tc.q, err)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	terms := func(q string) []parley.SearchTerm {
		ts, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	if got := Snippet("short\n\ntext  here", terms("text")); got != "short text here" {
		t.Fatalf("short snippet = %q", got)
	}
	long := strings.Repeat("lorem ipsum ", 30) + "the needle is here " + strings.Repeat("dolor sit ", 30)
	got := Snippet(long, terms("needl"))
	if !strings.Contains(got, "the needle is here") || !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("snippet = %q", got)
	}
	if n := len([]rune(got)); n > snippetRunes+2 {
		t.Fatalf("snippet of %d characters", n)
	}
	got = Snippet(strings.Repeat("東京", 100)+"タワー", terms("タワー"))
	if !strings.HasSuffix(got, "タワー") || !strings.HasPrefix(got, "…") {
		t.Fatalf("snippet = %q", got)
	}
	if got := Snippet(long, terms("absent")); !strings.HasPrefix(got, "lorem ipsum") {
		t.Fatalf("snippet without a match = %q", got)
	}
}

// BenchmarkWords is the work the write path adds to a send to index it:
// cutting an ordinary message into words.
func BenchmarkWords(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"latin", "Are we still on for dinner tonight? I booked the place near the station for 8"},
		{"cjk", "今晚我们还一起吃饭吗？我在车站附近订了八点的位子"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			for range b.N {
				Words(tc.text)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		q, text string
		want    bool
	}{
		{"alp", "Alphabet soup", true},
		{"a", "alphabet", false}, // one letter is no prefix
		{"a", "a b", true},
		{"soup alp", "Alphabet soup", true},
		{"soup beta", "Alphabet soup", false},
		{`"alphabet soup"`, "an ALPHABET, soup!", true},
		{`"soup alphabet"`, "alphabet soup", false},
		{`"alphabet so"`, "alphabet soup", false}, // a quoted phrase's last word is whole
		{"京タ", "東京タワー", true},
		{"京ワ", "東京タワー", false},
		{"éclair", "e\u0301clair", false}, // é and e + combining acute are different words
		{"e\u0301clair", "E\u0301CLAIR au café", true},
		{"cafe", "café", false},
	} {
		terms, err := Parse(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := Match(terms, c.text); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.q, c.text, got, c.want)
		}
	}
}
