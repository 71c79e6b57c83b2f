package parley

import "testing"

func TestValidateEmoji(t *testing.T) {
	ok := []string{
		"", "👍", "❤️", "❤", "👍🏽", "🇫🇷", "1️⃣", "#⃣",
		"👨‍👩‍👧‍👦", "🧑🏿‍🚀", "🏳️‍🌈", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "😀", "🫠",
	}
	for _, s := range ok {
		if err := ValidateEmoji(s); err != nil {
			t.Errorf("ValidateEmoji(%q) = %v, want nil", s, err)
		}
	}
	bad := []string{
		"a", "1", "ok", "👍👍", "👍 ", " 👍", "🇫", "🇫🇷🇩🇪", "👍a", "\u200d", "👍\u200d", "🏽",
		"\ufe0f", "1\ufe0f", "\xff", "👨‍", "🏴󠁧󠁢", string(make([]byte, 65)),
	}
	for _, s := range bad {
		if err := ValidateEmoji(s); ErrorCode(err) != EINVALID {
			t.Errorf("ValidateEmoji(%q) = %v, want invalid", s, err)
		}
	}
}
