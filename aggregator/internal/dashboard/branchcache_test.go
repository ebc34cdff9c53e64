package dashboard

import (
	"bytes"
	"testing"
)

// TestBranchCacheBounds: the cache keeps pages of the current data and
// minute only, at most max bytes of them, the oldest going first.
func TestBranchCacheBounds(t *testing.T) {
	minute := func(m int64) cacheKey { return cacheKey{syncs: 1, minute: m} }
	key := func(m int64, id string) branchKey { return branchKey{data: minute(m), id: id, query: "days=90"} }
	page := bytes.Repeat([]byte("x"), 1000) // counted as 1,100 bytes
	tests := []struct {
		name string
		max  int64
		put  []branchKey
		kept []branchKey
		gone []branchKey
	}{
		{"all fit", 3300, []branchKey{key(1, "a"), key(1, "b"), key(1, "c")}, []branchKey{key(1, "a"), key(1, "b"), key(1, "c")}, nil},
		{"oldest evicted", 2200, []branchKey{key(1, "a"), key(1, "b"), key(1, "c")}, []branchKey{key(1, "b"), key(1, "c")}, []branchKey{key(1, "a")}},
		{"new minute drops the old", 3300, []branchKey{key(1, "a"), key(1, "b"), key(2, "a")}, []branchKey{key(2, "a")}, []branchKey{key(1, "a"), key(1, "b")}},
		{"a late page of the old minute is not kept", 3300, []branchKey{key(2, "a"), key(1, "b")}, []branchKey{key(2, "a")}, []branchKey{key(1, "b")}},
		{"too large for the bound is not kept", 1000, []branchKey{key(1, "a")}, nil, []branchKey{key(1, "a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bc := branchCache{max: tt.max}
			for _, k := range tt.put {
				if p := bc.put(k, page); !bytes.Equal(p.raw, page) {
					t.Fatalf("put %v returned another page", k)
				}
			}
			for _, k := range tt.kept {
				if bc.get(k) == nil {
					t.Errorf("%v not kept", k)
				}
			}
			for _, k := range tt.gone {
				if bc.get(k) != nil {
					t.Errorf("%v kept", k)
				}
			}
			if bc.size > tt.max {
				t.Errorf("%d bytes kept, bound %d", bc.size, tt.max)
			}
		})
	}
}
