package parley

import "unicode/utf8"

// MaxEmojiBytes bounds a reaction: the longest emoji sequences (families
// joined with zero-width joiners, subdivision flags) stay well under it.
const MaxEmojiBytes = 64

// ValidateEmoji checks that s is a reaction: "" (no reaction) or exactly
// one emoji grapheme cluster. An emoji grapheme is one of
//   - a flag: two regional indicator letters;
//   - a keycap: 0-9, # or *, an optional U+FE0F, then U+20E3;
//   - one or more emoji joined by U+200D (zero-width joiner), each a
//     pictographic code point optionally followed by U+FE0F and/or a skin
//     tone modifier (U+1F3FB–U+1F3FF); the sequence may end with a tag
//     sequence (U+E0020–U+E007E, then U+E007F), as subdivision flags do.
//
// Anything else (letters, digits alone, two emoji, text around one) is
// refused with EINVALID.
func ValidateEmoji(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxEmojiBytes || !utf8.ValidString(s) || !isEmojiGrapheme([]rune(s)) {
		return Errorf(EINVALID, "emoji must be a single emoji (or empty to remove the reaction)")
	}
	return nil
}

func isEmojiGrapheme(rs []rune) bool {
	switch {
	case len(rs) == 2 && isRegionalIndicator(rs[0]) && isRegionalIndicator(rs[1]):
		return true
	case len(rs) >= 2 && rs[len(rs)-1] == 0x20E3 && isKeycapBase(rs[0]):
		return len(rs) == 2 || (len(rs) == 3 && rs[1] == 0xFE0F)
	}
	i := 0
	for {
		// One element: a pictograph, then its presentation selector and
		// modifier.
		if i >= len(rs) || !isPictographic(rs[i]) {
			return false
		}
		i++
		if i < len(rs) && rs[i] == 0xFE0F {
			i++
		}
		if i < len(rs) && isSkinTone(rs[i]) {
			i++
		}
		if i < len(rs) && rs[i] == 0xFE0F {
			i++
		}
		if i == len(rs) {
			return true
		}
		if rs[i] == 0x200D {
			i++
			continue
		}
		// A tag sequence ends the cluster.
		n := 0
		for i < len(rs) && rs[i] >= 0xE0020 && rs[i] <= 0xE007E {
			i++
			n++
		}
		return n > 0 && i == len(rs)-1 && rs[i] == 0xE007F
	}
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

func isSkinTone(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }

func isKeycapBase(r rune) bool { return r >= '0' && r <= '9' || r == '#' || r == '*' }

// isPictographic approximates Unicode's Extended_Pictographic property:
// the emoji blocks of the supplementary plane and the symbols of the basic
// plane that have emoji forms.
func isPictographic(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF:
		return !isRegionalIndicator(r) && !isSkinTone(r)
	case r >= 0x1FC00 && r <= 0x1FFFD:
		return true
	case r >= 0x2600 && r <= 0x27BF: // miscellaneous symbols, dingbats
		return true
	case r >= 0x2194 && r <= 0x2199, r >= 0x21A9 && r <= 0x21AA, r >= 0x231A && r <= 0x231B,
		r >= 0x23E9 && r <= 0x23F3, r >= 0x23F8 && r <= 0x23FA, r >= 0x25AA && r <= 0x25AB,
		r >= 0x25FB && r <= 0x25FE, r >= 0x2934 && r <= 0x2935, r >= 0x2B05 && r <= 0x2B07,
		r >= 0x2B1B && r <= 0x2B1C:
		return true
	}
	switch r {
	case 0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x2328, 0x23CF, 0x24C2, 0x25B6, 0x25C0,
		0x2B50, 0x2B55, 0x3030, 0x303D, 0x3297, 0x3299:
		return true
	}
	return false
}
