package business

import (
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// series builds a branch with final days from..to (net = rupees*100), and
// the listed provisional dates.
func series(id string, from, to string, net int64, provisional ...string) *Branch {
	var days DaySlice
	for t := date(from); !t.After(date(to)); t = t.AddDate(0, 0, 1) {
		days = append(days, Day{Date: t, Final: true, NetRevenue: net})
	}
	for _, p := range provisional {
		days = append(days, Day{Date: date(p), NetRevenue: 0})
	}
	return &Branch{ID: id, Name: id, Days: days}
}

func TestHeadlineDate(t *testing.T) {
	stale := series("stale", "2026-10-01", "2026-11-20", 100)
	stale.Excluded = true
	tests := []struct {
		name     string
		branches []*Branch
		want     string // "" means no date
	}{
		{"all agree", []*Branch{series("a", "2026-11-01", "2026-11-30", 1), series("b", "2026-11-01", "2026-11-30", 1)}, "2026-11-30"},
		{"one behind holds the date back", []*Branch{series("a", "2026-11-01", "2026-12-01", 1), series("b", "2026-11-01", "2026-11-28", 1)}, "2026-11-28"},
		{"a stale (down) branch does not hold it back", []*Branch{series("a", "2026-11-01", "2026-11-30", 1), stale}, "2026-11-30"},
		{"a provisional day is not final", []*Branch{series("a", "2026-11-01", "2026-11-30", 1, "2026-12-01"), series("b", "2026-11-01", "2026-12-01", 1)}, "2026-11-30"},
		{"a hole in one branch moves past it", []*Branch{
			{ID: "a", Days: DaySlice{{Date: date("2026-11-28"), Final: true}, {Date: date("2026-11-30"), Final: true}}},
			series("b", "2026-11-01", "2026-11-29", 1)}, "2026-11-28"},
		{"a branch with nothing final", []*Branch{series("a", "2026-11-01", "2026-11-30", 1), {ID: "b"}}, ""},
		{"all excluded: newest final of any", []*Branch{stale, func() *Branch { b := series("x", "2026-11-01", "2026-11-25", 1); b.Excluded = true; return b }()}, "2026-11-25"},
		{"none", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := HeadlineDate(tc.branches)
			got := ""
			if ok {
				got = d.Format("2006-01-02")
			}
			if got != tc.want {
				t.Fatalf("HeadlineDate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSummarizeNeverMixesDates(t *testing.T) {
	a := series("a", "2026-11-01", "2026-12-01", 100) // reports 1 Dec
	b := series("b", "2026-11-01", "2026-11-28", 10)  // down, last final 28 Nov
	b.Excluded = true
	s := Summarize([]*Branch{a, b}, time.Time{})
	if !s.OK || !s.Date.Equal(date("2026-12-01")) {
		t.Fatalf("date %v ok %v", s.Date, s.OK)
	}
	if s.Net != 100 || s.Reported != 1 {
		t.Fatalf("net %d reported %d: want only a's 1 Dec", s.Net, s.Reported)
	}
	if m := s.Missing(); len(m) != 1 || m[0].ID != "b" {
		t.Fatalf("missing = %+v", m)
	}
}

func TestPeriodOf(t *testing.T) {
	tests := []struct {
		kind     Kind
		d        string
		from, to string
	}{
		{DayKind, "2026-11-30", "2026-11-30", "2026-11-30"},
		{WeekKind, "2026-11-30", "2026-11-30", "2026-11-30"}, // a Monday
		{WeekKind, "2026-11-29", "2026-11-23", "2026-11-29"}, // a Sunday
		{WeekKind, "2026-01-02", "2025-12-29", "2026-01-02"}, // across a year
		{MonthKind, "2026-03-31", "2026-03-01", "2026-03-31"},
		{FYKind, "2026-03-31", "2025-04-01", "2026-03-31"}, // last day of FY 2025-26
		{FYKind, "2026-04-01", "2026-04-01", "2026-04-01"}, // first day of FY 2026-27
		{FYKind, "2027-01-15", "2026-04-01", "2027-01-15"},
	}
	for _, tc := range tests {
		p := PeriodOf(tc.kind, date(tc.d))
		if !p.From.Equal(date(tc.from)) || !p.To.Equal(date(tc.to)) {
			t.Errorf("PeriodOf(%s, %s) = %s..%s, want %s..%s", tc.kind, tc.d, p.From.Format(time.DateOnly), p.To.Format(time.DateOnly), tc.from, tc.to)
		}
	}
}

func TestCompared(t *testing.T) {
	tests := []struct {
		kind     Kind
		d        string
		shift    Shift
		from, to string
	}{
		{DayKind, "2026-12-01", WeekBefore, "2026-11-24", "2026-11-24"},
		{DayKind, "2026-03-31", MonthBefore, "2026-02-28", "2026-02-28"}, // clamped
		{DayKind, "2028-03-31", MonthBefore, "2028-02-29", "2028-02-29"}, // leap year
		{DayKind, "2028-02-29", YearBefore, "2027-02-28", "2027-02-28"},  // leap day
		{WeekKind, "2026-12-03", WeekBefore, "2026-11-23", "2026-11-26"}, // Mon..Thu last week
		{MonthKind, "2026-03-31", MonthBefore, "2026-02-01", "2026-02-28"},
		{MonthKind, "2026-01-10", MonthBefore, "2025-12-01", "2025-12-10"},
		{MonthKind, "2026-12-03", WeekBefore, "2026-11-01", "2026-11-26"}, // MTD as it stood a week before
		{FYKind, "2026-04-03", WeekBefore, "2025-04-01", "2026-03-27"},    // a week before is last FY
		{FYKind, "2026-11-30", YearBefore, "2025-04-01", "2025-11-30"},
		{FYKind, "2028-02-29", YearBefore, "2026-04-01", "2027-02-28"},
	}
	for _, tc := range tests {
		p := Compared(tc.kind, date(tc.d), tc.shift)
		if !p.From.Equal(date(tc.from)) || !p.To.Equal(date(tc.to)) {
			t.Errorf("Compared(%s, %s, %s) = %s..%s, want %s..%s", tc.kind, tc.d, tc.shift, p.From.Format(time.DateOnly), p.To.Format(time.DateOnly), tc.from, tc.to)
		}
	}
}

func TestTilesExcludeProvisional(t *testing.T) {
	a := series("a", "2026-11-01", "2026-11-30", 100, "2026-12-01")
	a.Days.(DaySlice)[a.Days.Len()-1].NetRevenue = 999999 // provisional figures must not count
	tiles := Tiles([]*Branch{a}, date("2026-12-01"))
	for _, tl := range tiles {
		if tl.Kind == DayKind && (tl.Net != 0 || tl.Days != 0) {
			t.Fatalf("day tile counts a provisional day: %+v", tl)
		}
		if tl.Kind == MonthKind && tl.Days != 0 {
			t.Fatalf("month tile: %+v", tl)
		}
	}
	tiles = Tiles([]*Branch{a}, date("2026-11-30"))
	m := tiles[2]
	if m.Kind != MonthKind || m.Net != 3000 || m.Days != 30 {
		t.Fatalf("November to date = %+v, want 3000 over 30 days", m)
	}
	// A week before: 1..23 Nov = 23 days of 100.
	if c := m.Changes[0]; !c.OK || c.Prev != 2300 {
		t.Fatalf("vs week before = %+v", c)
	}
	// A month before has no final day: no comparison.
	if c := m.Changes[1]; c.OK {
		t.Fatalf("vs month before with no data = %+v", c)
	}
	if c := tiles[0].Changes[0]; !c.OK || c.Ratio != 0 {
		t.Fatalf("day vs week before = %+v", c)
	}
}

func TestUnusualDay(t *testing.T) {
	d := date("2026-11-30")
	mk := func(today int64, weeks ...int64) *Branch {
		var days DaySlice
		for i := len(weeks); i >= 1; i-- {
			days = append(days, Day{Date: d.AddDate(0, 0, -7*i), Final: true, NetRevenue: weeks[i-1]})
		}
		days = append(days, Day{Date: d, Final: true, NetRevenue: today})
		return &Branch{ID: "x", Days: days}
	}
	tests := []struct {
		name    string
		b       *Branch
		flag    bool
		low     bool
		samples int
	}{
		{"usual", mk(100, 100, 90, 110, 100), false, false, 4},
		{"below half", mk(49, 100, 100, 100, 100), true, true, 4},
		{"exactly half is not unusual", mk(50, 100, 100, 100, 100), false, false, 4},
		{"above double", mk(201, 100, 100, 100, 100, 100, 100, 100, 100), true, false, 8},
		{"too little history", mk(1, 100, 100, 100), false, false, 3},
		{"only 8 weeks count", mk(1000, 100, 100, 100, 100, 100, 100, 100, 100, 900, 900, 900), true, false, 8},
		{"a provisional week is no sample", func() *Branch { b := mk(10, 100, 100, 100, 100); b.Days.(DaySlice)[0].Final = false; return b }(), false, false, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.b.UnusualDay(d)
			if u.Flag != tc.flag || u.Low != tc.low || u.Samples != tc.samples {
				t.Fatalf("UnusualDay = %+v, want flag %v low %v samples %d", u, tc.flag, tc.low, tc.samples)
			}
		})
	}
}

func TestSparklineMarksProvisionalAndMissing(t *testing.T) {
	b := &Branch{ID: "x", Days: DaySlice{
		{Date: date("2026-11-28"), Final: true, NetRevenue: 5},
		{Date: date("2026-11-30"), NetRevenue: 1},
	}}
	sp := b.Sparkline(date("2026-11-30"), 3)
	if len(sp) != 3 || !sp[0].Final || !sp[1].Missing || sp[2].Final || sp[2].Missing {
		t.Fatalf("sparkline = %+v", sp)
	}
}
