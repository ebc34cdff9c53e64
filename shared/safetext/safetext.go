// Package safetext makes untrusted text (a branch name from the bucket)
// safe to show to a person: in a page, a table, a chat message, an email
// or a Telegram message. It is the one place that decides which characters
// a name may carry on screen.
package safetext

import (
	"strings"
	"unicode"
)

// Display returns s without the characters that let a name disguise what
// is shown around it: the bidirectional controls (U+202A-U+202E,
// U+2066-U+2069, U+200E, U+200F, U+061C), which can reverse the rest of an
// alert sentence, and every other control or format character (C0, C1,
// DEL, soft hyphens, invisible operators, the BOM), which can break lines or
// hide text. ZWJ and ZWNJ stay: Indic scripts need them. Each run of them becomes nothing; tabs and line breaks become
// one space, so a name stays on one line. Letters of every script are kept.
func Display(s string) string {
	clean := true
	for _, r := range s {
		if drop(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		case drop(r):
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// drop reports whether r is a control, a format character (the bidi
// controls are format characters) or a line or paragraph separator.
func drop(r rune) bool {
	if r == 0x200C || r == 0x200D {
		return false // ZWNJ and ZWJ shape Indic conjuncts and emoji: kept
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029
}
