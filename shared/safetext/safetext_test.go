package safetext

import "testing"

func TestDisplay(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Andheri West", "Andheri West"},
		{"devanagari with zwj kept", "सैलून क्\u200Dष", "सैलून क्\u200Dष"},
		{"right-to-left override", "evil\u202Egnp.exe", "evilgnp.exe"},
		{"every bidi control", "a\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061Cb", "ab"},
		{"line breaks become one space", "a\nb\r\nc\td", "a b  c d"},
		{"c0, c1 and del", "a\x00\x07\x1b[31mb\u0085c\x7f", "a[31mb c"},
		{"bom and soft hyphen", "\uFEFFa\u00ADb", "ab"},
		{"line separator", "a\u2028b", "a b"},
		{"html is left to the html encoder", "<b>&", "<b>&"},
		{"only controls", "\u202E\u202E", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Display(tc.in); got != tc.want {
				t.Errorf("Display(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
