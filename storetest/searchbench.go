package storetest

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// BenchMessages returns the store size of the stores' read benchmarks:
// PARLEY_BENCH_MESSAGES, 10,000,000 when unset.
func BenchMessages(b *testing.B) int {
	v := os.Getenv("PARLEY_BENCH_MESSAGES")
	if v == "" {
		return 10_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("PARLEY_BENCH_MESSAGES=%q: not a positive number", v)
	}
	return n
}

// Corpus makes message text for search benchmarks: 4 to 14 words each,
// drawn with Zipf frequencies (as in natural language: a few words are
// everywhere, most are rare) from a vocabulary of 50,000 made-up words.
type Corpus struct {
	words []string
	rng   *rand.Rand
	zipf  *rand.Zipf
}

// NewCorpus returns a corpus whose text depends only on seed.
func NewCorpus(seed uint64) *Corpus {
	rng := rand.New(rand.NewPCG(seed, 1))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "so", "ta", "vi", "be", "do", "fa", "gu", "hi", "jo", "pe", "qu", "ri", "se", "tu", "wa", "ze", "an", "el", "or"}
	c := &Corpus{rng: rng, zipf: rand.NewZipf(rng, 1.07, 2, 50_000-1)}
	seen := map[string]bool{}
	for len(c.words) < 50_000 {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syll[rng.IntN(len(syll))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			c.words = append(c.words, w)
		}
	}
	return c
}

// Body returns the text of one message.
func (c *Corpus) Body() string {
	n := 4 + c.rng.IntN(11)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = c.words[c.zipf.Uint64()]
	}
	return strings.Join(ws, " ")
}

// Query returns a two-word query: two different words of a message the
// corpus would write, so queries are as frequent as the words people use.
func (c *Corpus) Query() string {
	for {
		ws := strings.Fields(c.Body())
		i, j := c.rng.IntN(len(ws)), c.rng.IntN(len(ws))
		if ws[i] != ws[j] {
			return ws[i] + " " + ws[j]
		}
	}
}

// Common returns a query of the corpus's two most frequent words: the
// most matches a two-word query can have.
func (c *Corpus) Common() string { return c.words[0] + " " + c.words[1] }

// BenchSearch measures SearchMessages for a member who sees the windows:
// "member" searches them all with the corpus's two-word queries, "one"
// the first conversation alone (conversation_id), "common" all of them with
// the two most frequent words. Each reports the p50 and p99 latency of a
// search (first page of parley.DefaultSearchLimit), read one at a time, and
// the mean number of results.
func BenchSearch(b *testing.B, s parley.Store, windows []parley.SearchWindow, c *Corpus) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		windows []parley.SearchWindow
		query   func() string
	}{{"member", windows, c.Query}, {"one", windows[:1], c.Query}, {"common", windows, c.Common}} {
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			found := 0
			b.ResetTimer()
			for range b.N {
				terms, err := textsearch.Parse(tc.query())
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				ms, err := s.SearchMessages(ctx, parley.SearchFilter{Terms: terms, Windows: tc.windows, Limit: parley.DefaultSearchLimit})
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				found += len(ms)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(found)/float64(b.N), "results")
		})
	}
}
