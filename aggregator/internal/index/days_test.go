package index_test

import (
	"bytes"
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/fixture"
	"github.com/branchwatch/branchwatch/aggregator/internal/index"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// odd are documents whose facts do not fit the compact forms: each must
// still come back exactly as it went in.
func odd() []index.Doc {
	base := func(date string, seed int64) index.Doc {
		return index.Doc{Document: fixture.Doc("andheri", date, seed), ETag: `"0123456789abcdef0123456789abcdef"`, Size: 812}
	}
	var out []index.Doc
	add := func(date string, seed int64, edit func(*index.Doc)) {
		d := base(date, seed)
		edit(&d)
		out = append(out, d)
	}
	add("2026-01-05", 1, func(*index.Doc) {})                                                                // the usual: quoted MD5
	add("2026-01-01", 2, func(d *index.Doc) { d.ETag = "0123456789abcdef0123456789abcdef" })                 // unquoted MD5
	add("2026-01-02", 3, func(d *index.Doc) { d.ETag = `"0123456789ABCDEF0123456789ABCDEF"` })               // upper-case hex
	add("2026-01-03", 4, func(d *index.Doc) { d.ETag = `"d41d8cd98f00b204e9800998ecf8427e-3"` })             // multipart
	add("2026-01-04", 5, func(d *index.Doc) { d.ETag = "" })                                                 // none
	add("2026-01-06", 6, func(d *index.Doc) { d.GeneratedAt = "2026-01-06T16:15:00Z" })                      // UTC
	add("2026-01-07", 7, func(d *index.Doc) { d.GeneratedAt = "2026-01-07T16:15:00+00:00" })                 // UTC spelled out
	add("2026-01-08", 8, func(d *index.Doc) { d.GeneratedAt = "2026-01-08T21:45:00-03:30" })                 // west of UTC
	add("2026-01-09", 9, func(d *index.Doc) { d.GeneratedAt = "2026-01-10T01:05:00+12:45" })                 // next day, Chatham
	add("2026-01-10", 10, func(d *index.Doc) { d.IsFinal = false; d.BranchName = "Andheri West (new)" })     // renamed, not final
	add("2026-01-11", 11, func(d *index.Doc) { d.NetProfit++ })                                              // derived kept as written
	add("2026-01-12", 12, func(d *index.Doc) { d.GrossRevenue, d.RefundAmount = -5_000_000, 9_223_372_036 }) // large and negative
	add("2026-01-13", 13, func(d *index.Doc) { d.Currency = "AED"; d.Size = 1 << 40 })
	return out
}

func TestDaysRoundTrip(t *testing.T) {
	docs := odd()
	days := index.NewDays("andheri", docs)
	want := slices.Clone(docs)
	slices.SortStableFunc(want, func(a, b index.Doc) int { return strings.Compare(a.SummaryDate, b.SummaryDate) })
	if days.Len() != len(want) {
		t.Fatalf("%d documents, want %d", days.Len(), len(want))
	}
	check := func(t *testing.T, d *index.Days) {
		for i, w := range want {
			if got := d.At(i); got != w {
				t.Errorf("document %d:\n got %+v\nwant %+v", i, got, w)
			}
			if final, net := d.FinalNet(i); final != w.IsFinal || net != w.NetRevenue {
				t.Errorf("FinalNet %d = %v %d, want %v %d", i, final, net, w.IsFinal, w.NetRevenue)
			}
			if d.Date(i) != w.SummaryDate {
				t.Errorf("date %d = %s, want %s", i, d.Date(i), w.SummaryDate)
			}
		}
	}
	t.Run("built", func(t *testing.T) { check(t, &days) })
	t.Run("gob", func(t *testing.T) {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(days); err != nil {
			t.Fatal(err)
		}
		var back index.Days
		if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatal(err)
		}
		check(t, &back)
	})
	t.Run("copied rows", func(t *testing.T) {
		b := index.NewDaysBuilder("andheri", &days)
		for i := days.Len() - 1; i >= 0; i-- { // out of order: Build sorts
			b.AddFrom(&days, i)
		}
		again := b.Build()
		check(t, &again)
		for i := range again.Len() {
			if !again.SameAs(i, &days) {
				t.Errorf("row %d differs from the row it was copied from", i)
			}
		}
	})
	t.Run("slice", func(t *testing.T) {
		for _, span := range [][2]int{{0, len(want)}, {2, 5}, {0, 1}, {len(want) - 1, len(want)}, {3, 3}} {
			part := days.Slice(span[0], span[1])
			if part.Len() != span[1]-span[0] {
				t.Fatalf("Slice%v has %d documents", span, part.Len())
			}
			for i := range part.Len() {
				if got := part.At(i); got != want[span[0]+i] {
					t.Errorf("Slice%v document %d:\n got %+v\nwant %+v", span, i, got, want[span[0]+i])
				}
			}
		}
	})
	t.Run("other branch's rows are decoded", func(t *testing.T) {
		b := index.NewDaysBuilder("bandra", &days) // another id: no row copying
		b.AddRange(&days, 0, days.Len())
		other := b.Build()
		if got := other.At(0).BranchID; got != "bandra" {
			t.Fatalf("branch id %q, want bandra", got)
		}
	})
}

func TestDaysGobRefusesDamage(t *testing.T) {
	days := index.NewDays("andheri", odd())
	good, err := days.GobEncode()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":       {},
		"version":     append([]byte{2}, good[1:]...),
		"truncated":   good[:len(good)-3],
		"extra bytes": append(slices.Clone(good), 0),
		"row bytes":   flip(good, len(good)/2),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			var d index.Days
			if err := d.GobDecode(p); err == nil {
				// A flipped byte inside a figure is still a valid varint row;
				// then the row must at least still decode.
				if name != "row bytes" {
					t.Fatal("damaged columns accepted")
				}
				for i := range d.Len() {
					_ = d.At(i)
				}
			}
		})
	}
}

func flip(p []byte, i int) []byte {
	q := slices.Clone(p)
	q[i] ^= 0xff
	return q
}

func TestDocSpan(t *testing.T) {
	var docs []index.Doc
	for i := range 10 {
		docs = append(docs, index.Doc{Document: fixture.Doc("andheri", fixture.Date("2026-02-01", 2*i), int64(i))}) // every other day
	}
	b := &index.Branch{ID: "andheri", Docs: index.NewDays("andheri", docs)}
	cases := []struct {
		from, to string
		want     []string
	}{
		{"", "", []string{"2026-02-01", "2026-02-03", "2026-02-05", "2026-02-07", "2026-02-09", "2026-02-11", "2026-02-13", "2026-02-15", "2026-02-17", "2026-02-19"}},
		{"2026-02-03", "2026-02-07", []string{"2026-02-03", "2026-02-05", "2026-02-07"}},
		{"2026-02-02", "2026-02-06", []string{"2026-02-03", "2026-02-05"}},
		{"2026-02-18", "", []string{"2026-02-19"}},
		{"", "2026-01-31", nil},
		{"2026-02-10", "2026-02-10", nil},
		{"2026-02-09", "2026-02-09", []string{"2026-02-09"}},
	}
	for _, c := range cases {
		var got []string
		for _, d := range b.DocRange(c.from, c.to) {
			got = append(got, d.SummaryDate)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("DocRange(%q, %q) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	if d, ok := b.Doc("2026-02-05"); !ok || d.TotalBills != docs[2].TotalBills {
		t.Errorf("Doc(2026-02-05) = %+v, %v", d, ok)
	}
	if _, ok := b.Doc("2026-02-06"); ok {
		t.Error("Doc found a date with no document")
	}
	if l := b.Latest(); l == nil || l.SummaryDate != "2026-02-19" {
		t.Errorf("Latest = %+v", l)
	}
}

// TestSnapshotRoundTrip saves an index with documents, bad documents and
// backups and loads it back the same.
func TestSnapshotRoundTrip(t *testing.T) {
	now := time.Date(2026, 2, 17, 12, 0, 0, 0, time.UTC)
	x := fixture.Bucket{Branches: 3, Days: 20, Backups: 4, LastDate: "2026-02-16", BackupBytes: 100}.Index(now)
	x.Branches[1].Bad = []index.BadDoc{{Key: "branch-0001/metrics/2026-01-01.json", Date: "2026-01-01", Reason: "json", ETag: `"x"`, Size: 3}}
	x.Branches = append(x.Branches, &index.Branch{ID: "branch-empty", Expected: true})
	x.IgnoredPrefixes = []string{"tmp/"}
	dir := t.TempDir()
	if err := index.Save(dir, x); err != nil {
		t.Fatal(err)
	}
	y, err := index.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if y.Documents() != 60 || len(y.Branches) != 4 || !y.FullSyncAt.Equal(now) || !slices.Equal(y.IgnoredPrefixes, x.IgnoredPrefixes) {
		t.Fatalf("loaded %d documents in %d branches, synced %s, ignored %v", y.Documents(), len(y.Branches), y.FullSyncAt, y.IgnoredPrefixes)
	}
	for i, b := range x.Branches {
		c := y.Branches[i]
		if c.ID != b.ID || c.Expected != b.Expected || len(c.Bad) != len(b.Bad) || len(c.Backups) != len(b.Backups) {
			t.Fatalf("branch %d: %+v, want %+v", i, c, b)
		}
		if !slices.Equal(c.DocRange("", ""), b.DocRange("", "")) {
			t.Errorf("branch %s: documents differ after the round trip", b.ID)
		}
	}
	// The generated index holds the documents Seed would write.
	if d, _ := y.Branches[2].Doc("2026-02-10"); d == nil || d.Document != fixture.Doc(fixture.BranchID(2), "2026-02-10", 2*1000+13) {
		t.Errorf("generated document differs from fixture.Doc: %+v", d)
	}
	if err := os.WriteFile(filepath.Join(dir, index.SnapshotFile), []byte("not a gob"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := index.Load(dir); err == nil || errors.Is(err, index.ErrNoSnapshot) {
		t.Errorf("a damaged snapshot loaded with %v", err)
	}
}

// TestDaysKnowsEveryField: Days stores each field of metrics.Document by
// name (baseFields, derivedFields and the row header). A field added to
// the document must be added to Days too, or it would be lost here.
func TestDaysKnowsEveryField(t *testing.T) {
	const known = 25 // schema_version … total_tips, as Days stores them
	if n := reflect.TypeFor[metrics.Document]().NumField(); n != known {
		t.Fatalf("metrics.Document has %d fields, Days stores %d: update index.Days (row layout, At, Add, check)", n, known)
	}
}

// TestDaysFiguresAndEqual: Figures is At without the listing facts, the
// instance and generated_at, for every odd document; Instance is its
// instance and generated time; Day is its date;
// Equal tells the same documents (shared or copied) from changed ones.
func TestDaysFiguresAndEqual(t *testing.T) {
	docs := odd()
	for i := range docs {
		if i%2 == 0 {
			docs[i].Instance = "host-a/0123"
		}
	}
	days := index.NewDays("andheri", docs)
	for i := range days.Len() {
		full := days.At(i)
		id, at := days.Instance(i)
		wantAt, _ := full.GeneratedTime()
		if full.Instance == "" {
			wantAt = time.Time{}
		}
		if id != full.Instance || !at.Equal(wantAt) {
			t.Errorf("instance %d = %q at %s, want %q at %s", i, id, at, full.Instance, wantAt)
		}
		want := days.At(i).Document
		want.GeneratedAt = ""
		if got := days.Figures(i); got != want {
			t.Errorf("figures %d:\n got %+v\nwant %+v", i, got, want)
		}
		if got := days.Day(i).Format(time.DateOnly); got != days.At(i).SummaryDate || days.Day(i).Location() != time.UTC {
			t.Errorf("day %d = %s, want %s UTC", i, days.Day(i), days.At(i).SummaryDate)
		}
	}
	copied := index.NewDays("andheri", odd())
	changed := odd()
	changed[3].NetRevenue++
	other := index.NewDays("andheri", changed)
	shorter := index.NewDays("andheri", odd()[1:])
	for name, c := range map[string]struct {
		o    *index.Days
		want bool
	}{"itself": {&days, true}, "a copy": {&copied, true}, "a changed figure": {&other, false}, "one fewer": {&shorter, false}} {
		base := index.NewDays("andheri", odd())
		if name == "itself" {
			base = *c.o
		}
		if got := base.Equal(c.o); got != c.want {
			t.Errorf("%s: Equal = %v, want %v", name, got, c.want)
		}
	}
}
