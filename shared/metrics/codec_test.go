package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func seed(tb testing.TB) Document {
	tb.Helper()
	d, err := Unmarshal(readFixture(tb, "testdata/good/seed-example.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestDecodeSeedFields(t *testing.T) {
	d := seed(t)
	want := Document{
		SchemaVersion: 1, BranchID: "branch-andheri", BranchName: "Salon Name",
		SummaryDate: "2026-02-16", GeneratedAt: "2026-02-16T21:45:00+05:30",
		IsFinal: true, Currency: "INR", TotalBills: 42, RefundCount: 1,
		GrossRevenue: 12500000, DiscountAmount: 500000, RefundAmount: 200000,
		NetRevenue: 11800000, CGSTCollected: 1062000, SGSTCollected: 1062000,
		TotalTax: 2124000, CashCollected: 7000000, DigitalCollected: 4800000,
		ActualServiceCOGS: 2000000, ActualProductCOGS: 1500000, TotalCOGS: 3500000,
		TotalExpenses: 1500000, GrossProfit: 8300000, NetProfit: 6800000, TotalTips: 350000,
	}
	if d != want {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
}

func TestDecodeReader(t *testing.T) {
	d, err := Decode(bytes.NewReader(readFixture(t, "testdata/good/seed-example.json")))
	if err != nil || d != seed(t) {
		t.Fatalf("Decode = %+v, %v", d, err)
	}
}

func TestDecodeTooLarge(t *testing.T) {
	// A valid document padded past the limit with an unknown field.
	var b bytes.Buffer
	b.WriteString(`{"pad": "`)
	b.WriteString(strings.Repeat("x", MaxDocumentBytes))
	b.WriteString(`", `)
	b.Write(bytes.TrimPrefix(readFixture(t, "testdata/good/seed-example.json"), []byte("{")))

	if _, err := Unmarshal(b.Bytes()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Unmarshal: %v, want ErrTooLarge", err)
	}
	if _, err := Decode(bytes.NewReader(b.Bytes())); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode: %v, want ErrTooLarge", err)
	}
	// Decode must not read an endless stream to the end.
	if _, err := Decode(iotest.OneByteReader(infinite{})); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Decode(endless): %v, want ErrTooLarge", err)
	}
	// Exactly at the limit is fine as far as size goes.
	atLimit := append(bytes.Repeat([]byte(" "), MaxDocumentBytes-2), '{', '}')
	if _, err := Unmarshal(atLimit); errors.Is(err, ErrTooLarge) {
		t.Errorf("Unmarshal(%d bytes): %v", len(atLimit), err)
	}
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Decode(iotest.ErrReader(boom))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "read metrics document") {
		t.Fatalf("got %v", err)
	}
}

// TestUnmarshalReportsEveryField: all missing and mistyped fields are
// listed, not just the first.
func TestUnmarshalReportsEveryField(t *testing.T) {
	_, err := Unmarshal([]byte(`{"schema_version": 1, "total_bills": "x"}`))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, name := range FieldNames[1:] {
		if !strings.Contains(msg, name+" is ") {
			t.Errorf("error does not name %s: %s", name, msg)
		}
	}
	if !strings.Contains(msg, `total_bills is a string "x", want an integer`) {
		t.Errorf("error does not name the type error: %s", msg)
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		not  []error
	}{
		{"syntax", `{`, ErrMalformed, []error{ErrUnsupportedVersion, ErrInvalid}},
		{"version 2", `{"schema_version": 2}`, ErrUnsupportedVersion, []error{ErrMalformed}},
		{"no version", `{}`, ErrUnsupportedVersion, []error{ErrMalformed}},
		{"missing field", `{"schema_version": 1}`, ErrMalformed, []error{ErrUnsupportedVersion}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, e := range tt.not {
				if errors.Is(err, e) {
					t.Errorf("%v also matches %v", err, e)
				}
			}
		})
	}
}

// TestDuplicateKeyLastWins pins the behaviour for a repeated field: the last
// value counts, as with encoding/json.
func TestDuplicateKeyLastWins(t *testing.T) {
	in := bytes.Replace(readFixture(t, "testdata/good/seed-example.json"),
		[]byte(`"total_tips": 350000`), []byte(`"total_tips": 1, "total_tips": 350000`), 1)
	d, err := Unmarshal(in)
	if err != nil || d.TotalTips != 350000 {
		t.Fatalf("got %d, %v", d.TotalTips, err)
	}
}

func TestEncodeUnescapedUnicode(t *testing.T) {
	d := seed(t)
	d.BranchName = "Hair & Co <Andheri> सैलून"
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"branch_name": "Hair & Co <Andheri> सैलून",`)) {
		t.Errorf("branch_name escaped:\n%s", out)
	}
	if !bytes.HasSuffix(out, []byte("}\n")) {
		t.Errorf("no trailing newline")
	}
	var w bytes.Buffer
	if err := d.Encode(&w); err != nil || !bytes.Equal(w.Bytes(), out) {
		t.Errorf("Encode differs from Marshal: %v", err)
	}
}

func TestEncodeWriteError(t *testing.T) {
	if err := seed(t).Encode(errWriter{}); err == nil {
		t.Fatal("want error")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestFieldNamesMatchSeed: FieldNames is the seed's key order, and the JSON
// tags of Document in struct order.
func TestFieldNamesMatchSeed(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(readFixture(t, "testdata/good/seed-example.json")))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(keys, ",") != strings.Join(FieldNames, ",") {
		t.Fatalf("FieldNames %v\nseed keys  %v", FieldNames, keys)
	}
	// Marshal uses the struct tags: a document with every field set must
	// come out with FieldNames as its keys, in order.
	var m []string
	out, _ := seed(t).Marshal()
	dec = json.NewDecoder(bytes.NewReader(out))
	dec.Token()
	for dec.More() {
		tok, _ := dec.Token()
		m = append(m, tok.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if strings.Join(m, ",") != strings.Join(FieldNames, ",") {
		t.Fatalf("Marshal keys %v\nFieldNames   %v", m, FieldNames)
	}
}

// TestDecodeFastAgreesWithJSON: wherever decodeFast takes a value, it
// decodes it as json.Unmarshal does; what it leaves is left to
// json.Unmarshal (escapes, invalid UTF-8, fractions, exponents, overflow,
// other types).
func TestDecodeFastAgreesWithJSON(t *testing.T) {
	cases := []struct {
		raw  string
		fast bool // decodeFast takes it (for at least one kind)
	}{
		{`0`, true}, {`-0`, true}, {`12500000`, true}, {`-9223372036854775808`, true}, {`9223372036854775807`, true},
		{`9223372036854775808`, false}, {`1.0`, false}, {`1e3`, false}, {`-1E2`, false},
		{`"Salon Andheri"`, true}, {`""`, true}, {`"नमस्ते ₹"`, true}, {`"a\"b"`, false}, {`"\u0041"`, false},
		{"\"\xff\"", false}, {"\"\xed\xa0\x80\"", false},
		{`true`, true}, {`false`, true}, {`{}`, false}, {`[1]`, false}, {`"12"`, true},
	}
	for _, c := range cases {
		took := false
		for _, kind := range []func() any{func() any { return new(int64) }, func() any { return new(string) }, func() any { return new(bool) }} {
			fast, slow := kind(), kind()
			ok := decodeFast(json.RawMessage(c.raw), fast)
			took = took || ok
			err := json.Unmarshal([]byte(c.raw), slow)
			if ok && (err != nil || !reflect.DeepEqual(fast, slow)) {
				t.Errorf("%s into %T: fast %v, json %v (%v)", c.raw, fast, reflect.ValueOf(fast).Elem(), reflect.ValueOf(slow).Elem(), err)
			}
		}
		if took != c.fast {
			t.Errorf("%s: decodeFast took it %v, want %v", c.raw, took, c.fast)
		}
	}
}
