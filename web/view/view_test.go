package view

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

var today = time.Date(2026, 2, 17, 10, 0, 0, 0, time.FixedZone("IST", 19800))

func TestParseRange(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		from, to string
		days     int
		errHas   string
	}{
		{"default", "", "2026-01-19", "2026-02-17", 30, ""},
		{"preset 7", "days=7", "2026-02-11", "2026-02-17", 7, ""},
		{"preset 365", "days=365", "2025-02-18", "2026-02-17", 365, ""},
		{"preset wins over dates", "days=90&from=2026-01-01&to=2026-01-02", "2025-11-20", "2026-02-17", 90, ""},
		{"custom", "days=custom&from=2026-01-01&to=2026-01-31", "2026-01-01", "2026-01-31", 0, ""},
		{"custom without days", "from=2026-01-01&to=2026-01-01", "2026-01-01", "2026-01-01", 0, ""},
		{"not a preset", "days=8", "2026-01-19", "2026-02-17", 30, "days must be one of"},
		{"not a number", "days=x", "2026-01-19", "2026-02-17", 30, "days must be one of"},
		{"bad from", "from=2026-13-01&to=2026-01-02", "2026-01-19", "2026-02-17", 30, "from"},
		{"bad to", "from=2026-01-01&to=<script>", "2026-01-19", "2026-02-17", 30, "to"},
		{"reversed", "from=2026-02-01&to=2026-01-01", "2026-01-19", "2026-02-17", 30, "ends before it starts"},
		{"too long", "from=2000-01-01&to=2026-01-01", "2026-01-19", "2026-02-17", 30, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			r := ParseRange(q, today)
			if r.FromText() != tt.from || r.ToText() != tt.to || r.Days != tt.days {
				t.Errorf("got %s..%s days=%d, want %s..%s days=%d", r.FromText(), r.ToText(), r.Days, tt.from, tt.to, tt.days)
			}
			if (tt.errHas == "") != (r.Error == "") || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("error = %q, want one containing %q", r.Error, tt.errHas)
			}
		})
	}
}

func TestRangeLenAndQuery(t *testing.T) {
	tests := []struct {
		name  string
		r     Range
		len   int
		query string
	}{
		{"preset", PresetRange(today, 7), 7, "days=7"},
		{"custom", Range{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)}, 31, "from=2026-01-01&to=2026-01-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.Len() != tt.len {
				t.Errorf("Len = %d, want %d", tt.r.Len(), tt.len)
			}
			if got := tt.r.Query().Encode(); got != tt.query {
				t.Errorf("Query = %q, want %q", got, tt.query)
			}
		})
	}
}

func rowsFixture() []BranchRow {
	d := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	return []BranchRow{
		{ID: "a", Name: "bravo", Metrics: Check{State: StateUp}, Backup: Check{State: StateUp}, Latest: d, Reported: true, NetRevenue: 100, Bills: 1, NetProfit: 10},
		{ID: "b", Name: "Alpha", Metrics: Check{State: StateUp}, Backup: Check{State: StateDown}, Latest: d, Reported: true, NetRevenue: 300, Bills: 3, NetProfit: -30, BadDocs: 1},
		{ID: "c", Name: "charlie", Metrics: Check{State: StateNever}, Backup: Check{State: StateNever}},
		{ID: "d", Name: "delta", Metrics: Check{State: StateLate}, Backup: Check{State: StateUp}, Latest: d, Reported: true, NetRevenue: -50, Bills: 0, NetProfit: -60, BadDocs: 2},
	}
}

func TestSortRows(t *testing.T) {
	tests := []struct {
		key  SortKey
		want string
	}{
		{SortName, "b,a,c,d"},
		{SortRevenue, "b,a,d,c"},
		{SortState, "b,c,d,a"},
	}
	for _, tt := range tests {
		t.Run(string(tt.key), func(t *testing.T) {
			rows := rowsFixture()
			SortRows(rows, tt.key)
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			if got := strings.Join(ids, ","); got != tt.want {
				t.Errorf("order = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseSortKey(t *testing.T) {
	tests := []struct {
		in   string
		want SortKey
	}{
		{"name", SortName}, {"revenue", SortRevenue}, {"state", SortState}, {"", SortState}, {"<x>", SortState},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ParseSortKey(tt.in); got != tt.want {
				t.Errorf("ParseSortKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSum(t *testing.T) {
	tot := Sum(rowsFixture())
	tests := []struct {
		name      string
		got, want int64
	}{
		{"branches", int64(tot.Branches), 4},
		{"reporting", int64(tot.Reporting), 3},
		{"net revenue", tot.NetRevenue.Value, 350},
		{"bills", tot.Bills.Value, 4},
		{"net profit", tot.NetProfit.Value, -80},
		{"bad docs", int64(tot.BadDocs), 3},
		{"down", int64(tot.ByState[StateDown]), 1},
		{"never", int64(tot.ByState[StateNever]), 1},
		{"late", int64(tot.ByState[StateLate]), 1},
		{"up", int64(tot.ByState[StateUp]), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
			}
		})
	}
}

func TestRankRows(t *testing.T) {
	rows := []CompareRow{
		{ID: "a", NetRevenue: TotalOf(10)}, {ID: "b", NetRevenue: TotalOf(30)}, {ID: "c", NetRevenue: TotalOf(30)}, {ID: "d", NetRevenue: TotalOf(-5)},
	}
	RankRows(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.ID+":"+string(rune('0'+r.Rank)))
	}
	if want := []string{"b:1", "c:1", "a:3", "d:4"}; !slices.Equal(got, want) {
		t.Errorf("ranks = %v, want %v", got, want)
	}
}

func TestCheckState(t *testing.T) {
	tests := []struct {
		s    CheckState
		word string
		key  string
	}{
		{StateUp, "Up", "up"},
		{StateLate, "Late", "late"},
		{StateDown, "Down", "down"},
		{StateNever, "Never seen", "never"},
		{CheckState("x\" onclick=\""), "Unknown", "unknown"},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			if tt.s.Word() != tt.word || tt.s.Key() != tt.key {
				t.Errorf("got %q %q, want %q %q", tt.s.Word(), tt.s.Key(), tt.word, tt.key)
			}
		})
	}
	if Worst(StateUp, StateDown) != StateDown || Worst(StateNever, StateLate) != StateNever {
		t.Error("Worst picks the wrong state")
	}
}

func TestBranchPath(t *testing.T) {
	tests := []struct {
		id, want string
	}{
		{"branch-andheri", "/branches/branch-andheri"},
		{"../etc/passwd", "/branches/..%2Fetc%2Fpasswd"},
		{"<x> y", "/branches/%3Cx%3E%20y"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := BranchPath(tt.id); got != tt.want {
				t.Errorf("BranchPath(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}
