package sqlite

import (
	"slices"
	"strings"
	"testing"
)

// entriesFrom returns log entries with ids from..to, each body a word.
func entriesFrom(from, to int64) []logEntry {
	var es []logEntry
	for id := from; id <= to; id++ {
		es = append(es, logEntry{id: id, conv: 1, typ: "text", body: "word", live: true})
	}
	return es
}

// takeTail takes what the tail holds after after, failing when the tail
// says the log must be read, and commits it as a catch-up does.
func takeTail(t *testing.T, x *indexer, after int64) []int64 {
	t.Helper()
	es, ok := x.fromTail(after, nil)
	if !ok {
		t.Fatalf("after %d: the tail sends the indexer to the log (tail from %d, %d entries)", after, x.tailFrom, len(x.tail))
	}
	var ids []int64
	through := after
	for _, e := range es {
		ids = append(ids, e.id)
		through = e.id
	}
	x.trim(through)
	return ids
}

func wantLog(t *testing.T, x *indexer, after int64) {
	t.Helper()
	if es, ok := x.fromTail(after, nil); ok {
		t.Fatalf("after %d: the tail gave %d entries, want the log read", after, len(es))
	}
}

func wantTail(t *testing.T, what string, got []int64, from, to int64) {
	t.Helper()
	var want []int64
	for id := from; id <= to; id++ {
		want = append(want, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %d..%d", what, got, from, to)
	}
}

// TestSearchTail: the indexer takes from the tail exactly the entries
// after its progress that the writer handed over, and reads the log for
// whatever the tail cannot vouch for: before the first commit, a gap, a
// commit of unknown end, entries out of sequence, a tail grown too large.
func TestSearchTail(t *testing.T) {
	x := &indexer{tailFrom: -1}
	wantLog(t, x, 0) // nothing handed over yet

	// The first commit handed over starts the tail: what comes before it
	// (1 and 2, from before the node started) is in the log only.
	x.handOver(4, entriesFrom(3, 4))
	wantLog(t, x, 0)
	x.handOver(5, entriesFrom(5, 5))
	wantTail(t, "once the log was read through 2", takeTail(t, x, 2), 3, 5)
	wantTail(t, "when all is indexed", takeTail(t, x, 5), 1, 0)

	x.handOver(7, entriesFrom(6, 7))
	wantTail(t, "the next commit", takeTail(t, x, 5), 6, 7)

	// A gap: 8 and 9 were written by no commit that handed them over.
	x.handOver(11, entriesFrom(10, 11))
	wantLog(t, x, 7)
	wantTail(t, "once the log was read through 9", takeTail(t, x, 9), 10, 11)

	// The log was read past the tail's end (a commit not handed over yet):
	// what follows takes up after it.
	x.handOver(13, entriesFrom(12, 13))
	wantTail(t, "read through 12 elsewhere", takeTail(t, x, 12), 13, 13)

	// A commit whose last id the writer does not know.
	x.handOver(-1, nil)
	wantLog(t, x, 13)
	x.handOver(15, entriesFrom(14, 15))
	wantTail(t, "after a commit of unknown end", takeTail(t, x, 13), 14, 15)

	// A commit that appended nothing but whose log ends past the tail.
	x.handOver(16, nil)
	wantLog(t, x, 15)

	// Entries out of sequence within one commit.
	x.handOver(20, append(entriesFrom(17, 18), entriesFrom(20, 20)...))
	wantLog(t, x, 16)

	// Read a chunk at a time.
	x.handOver(21+2*searchChunk+10, entriesFrom(21, 21+2*searchChunk+10))
	wantTail(t, "first chunk", takeTail(t, x, 20), 21, 20+searchChunk)
	wantTail(t, "second chunk", takeTail(t, x, 20+searchChunk), 21+searchChunk, 20+2*searchChunk)
	wantTail(t, "rest", takeTail(t, x, 20+2*searchChunk), 21+2*searchChunk, 21+2*searchChunk+10)
	if x.tailBytes != 0 || x.tail != nil {
		t.Fatalf("an emptied tail counts %d bytes in %d entries, or keeps its array (capacity %d)", x.tailBytes, len(x.tail), cap(x.tail))
	}

	// Past maxTail entries, or maxTailBytes of bodies, the log is read.
	last := int64(21 + 2*searchChunk + 10)
	x.handOver(last+maxTail, entriesFrom(last+1, last+maxTail))
	x.handOver(last+maxTail+1, entriesFrom(last+maxTail+1, last+maxTail+1))
	wantLog(t, x, last)
	last += maxTail + 1
	big := entriesFrom(last+1, last+2)
	big[0].body = strings.Repeat("w", maxTailBytes)
	x.handOver(last+2, big)
	wantLog(t, x, last)
	if x.tailBytes != 0 || len(x.tail) != 0 {
		t.Fatalf("a given-up tail keeps %d bytes in %d entries", x.tailBytes, len(x.tail))
	}
}

// TestSearchTailSkipsChanged: an entry that an edit or a recall in the
// same batch changed is not written (refresh writes it as it stands), and
// recalled entries read from the log are not written.
func TestSearchTailSkipsChanged(t *testing.T) {
	es := entriesFrom(1, 4)
	es[2].of = 1       // 3 edits 1
	es[3].live = false // 4 was recalled since
	es = append(es, logEntry{id: 5, conv: 1, typ: "recall", of: 2, live: true})
	var docs docBatch
	changed := addDocs(es, &docs, []int64{99})
	if !slices.Equal(changed, []int64{99, 1, 2}) {
		t.Fatalf("changed = %v, want [99 1 2]", changed)
	}
	if docs.n != 1 || !strings.HasPrefix(string(docs.buf), "[[3,") {
		t.Fatalf("docs = %s (%d), want only entry 3's", docs.buf, docs.n)
	}
}

// TestSearchTailSnapshot: a search may use the tail only when it holds
// everything after the index's committed progress, and what it was given
// stays as it was while the tail is appended to, trimmed and dropped.
func TestSearchTailSnapshot(t *testing.T) {
	x := &indexer{tailFrom: -1}
	if _, _, ok := x.snapshot(); ok {
		t.Fatal("a tail that holds nothing vouches for the log")
	}
	x.handOver(4, entriesFrom(3, 4))
	if _, _, ok := x.snapshot(); ok {
		t.Fatal("a tail that starts after 2 vouches for entries after 0, the index's progress")
	}
	x.trim(2) // the index committed through 2, read from the log
	from, snap, ok := x.snapshot()
	if !ok || from != 2 || len(snap) != 2 {
		t.Fatalf("snapshot = %d, %d entries, %v; want 2, 2 entries, true", from, len(snap), ok)
	}
	want := slices.Clone(snap)
	x.handOver(6, entriesFrom(5, 6))
	takeTail(t, x, 2)
	x.handOver(7, entriesFrom(7, 7))
	x.dropTail(-1)
	x.handOver(9, entriesFrom(8, 9))
	if !slices.Equal(snap, want) {
		t.Fatalf("a search's snapshot changed under it: %v, was %v", snap, want)
	}
	if _, _, ok := x.snapshot(); ok {
		t.Fatal("a tail restarted after a gap vouches for entries before it")
	}
}
