package realtime

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func TestCreatedAt(t *testing.T) {
	at := time.Date(2026, 12, 6, 3, 4, 5, 123456789, time.UTC)
	m := &parley.Message{ID: 1, ConversationID: 2, Seq: 3, Body: `"created_at":"1999-01-01T00:00:00Z"`, Media: &parley.Media{CreatedAt: at.Add(-time.Hour)}, CreatedAt: at}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := createdAt(data); !got.Equal(at) {
		t.Errorf("createdAt = %v, want %v (from %s)", got, at, data)
	}
	if got := createdAt([]byte(`{"id":"1"}`)); !got.IsZero() {
		t.Errorf("createdAt without the field = %v", got)
	}
}
