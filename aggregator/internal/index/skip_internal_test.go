package index

import (
	"encoding/binary"
	"testing"
)

// TestSkipVarintsAgreesWithBinary: skipVarints takes exactly the varints
// binary.Varint reads and refuses the ones it refuses.
func TestSkipVarintsAgreesWithBinary(t *testing.T) {
	var ok []byte
	for _, v := range []int64{0, -1, 63, -64, 64, 1 << 40, -1 << 63, 1<<63 - 1} {
		ok = binary.AppendVarint(ok, v)
	}
	overlong := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00} // 11 bytes
	tenthTooBig := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}
	cases := []struct {
		name string
		b    []byte
		n    int
	}{
		{"eight values", ok, 8},
		{"fewer than there are", ok, 3},
		{"more than there are", ok, 9},
		{"truncated", ok[:len(ok)-1], 8},
		{"overlong", overlong, 1},
		{"tenth byte over 1", tenthTooBig, 1},
		{"empty", nil, 1},
		{"none", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// What binary.Varint reads.
			b, want := c.b, true
			for range c.n {
				_, k := binary.Varint(b)
				if k <= 0 {
					want = false
					break
				}
				b = b[k:]
			}
			rest, got := skipVarints(c.b, c.n)
			if got != want || (got && len(rest) != len(b)) {
				t.Fatalf("skipVarints = %v with %d bytes left; binary.Varint: %v with %d", got, len(rest), want, len(b))
			}
		})
	}
}
