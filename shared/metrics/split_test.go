package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
)

// sameAsEncodingJSON fails unless splitObject either declines data or
// splits it exactly as json.Unmarshal into a map[string]json.RawMessage.
func sameAsEncodingJSON(t *testing.T, data []byte) (split bool) {
	t.Helper()
	got, ok := splitObject(data)
	var want map[string]json.RawMessage
	err := json.Unmarshal(data, &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("splitObject accepted what encoding/json refuses (%v): %q", err, data)
	}
	if len(got) != len(want) {
		t.Fatalf("%d members, encoding/json %d: %q", len(got), len(want), data)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
			t.Fatalf("member %q: %q, encoding/json %q (in %q)", k, g, v, data)
		}
	}
	return true
}

func TestSplitObject(t *testing.T) {
	cases := []struct {
		data  string
		split bool // splitObject reads it itself
	}{
		{`{}`, true},
		{` { } `, true},
		{`{"a":1}`, true},
		{"{\n  \"a\" : -1.5e3 ,\t\"b\":\"x,}]\\\"y\" }\n", true},
		{`{"a":{"b":[1,{"c":"}"}],"d":null},"e":[],"f":true,"g":false}`, true},
		{`{"a":1,"a":2}`, true}, // the last wins, as with encoding/json
		{`{"a":"\u00e9\\"}`, true},
		{`{"a":[[[]]],"b":{}}`, true},
		{`{"é":1}`, false},    // non-ASCII name: encoding/json decides
		{`{"a\"b":1}`, false}, // escaped name
		{`{"a":1,}`, false},   // invalid
		{`{"a":1} x`, false},  // trailing data
		{`null`, false},       // not an object
		{`[1]`, false},        // not an object
		{`{"a":"` + "\xff" + `"}`, true},
	}
	for _, tc := range cases {
		if got := sameAsEncodingJSON(t, []byte(tc.data)); got != tc.split {
			t.Errorf("%q: split by splitObject %t, want %t", tc.data, got, tc.split)
		}
	}
	for _, path := range globFixtures(t, "*/*.json") {
		sameAsEncodingJSON(t, readFixture(t, path))
	}
}

// FuzzSplitObject: whatever the input, splitObject declines it or agrees
// with encoding/json.
func FuzzSplitObject(f *testing.F) {
	for _, path := range globFixtures(f, "*/*.json") {
		f.Add(readFixture(f, path))
	}
	f.Add([]byte(`{"a":{"b":[1,{"c":"}"}],"d":null},"e":[],"f":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsEncodingJSON(t, data)
	})
}
