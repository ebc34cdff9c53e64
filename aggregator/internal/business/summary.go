package business

import "time"

// SparkDays is how many dates a branch's sparkline covers.
const SparkDays = 30

// BranchDay is one branch's reading of the headline date.
type BranchDay struct {
	ID, Name string
	// Reported is false when the branch has no final document for the
	// date: it is then listed as missing, and its figures are zero.
	Reported    bool
	Day         Day
	SameWeekday Change
	Unusual     Unusual
	Spark       []Spark
}

// Summary is the chain on its headline date.
type Summary struct {
	// Date is the headline date; OK is false when there is none.
	Date time.Time
	OK   bool
	// Net, Profit and Bills sum the branches that reported Date, and
	// only those.
	Net, Profit, Bills int64
	Reported           int
	Branches           []BranchDay // in the order given
	Tiles              []Tile
}

// Missing lists the branches without a final document for Date.
func (s Summary) Missing() []BranchDay {
	var out []BranchDay
	for _, b := range s.Branches {
		if !b.Reported {
			out = append(out, b)
		}
	}
	return out
}

// Unusual lists the branches whose day is flagged.
func (s Summary) Unusual() []BranchDay {
	var out []BranchDay
	for _, b := range s.Branches {
		if b.Unusual.Flag {
			out = append(out, b)
		}
	}
	return out
}

// Branch finds a branch's reading by id.
func (s Summary) Branch(id string) (BranchDay, bool) {
	for _, b := range s.Branches {
		if b.ID == id {
			return b, true
		}
	}
	return BranchDay{}, false
}

// Summarize reads the branches on date d (the headline date when d is
// zero).
func Summarize(branches []*Branch, d time.Time) Summary {
	var s Summary
	if d.IsZero() {
		d, s.OK = HeadlineDate(branches)
	} else {
		s.OK = true
	}
	if !s.OK {
		for _, b := range branches {
			s.Branches = append(s.Branches, BranchDay{ID: b.ID, Name: b.Name})
		}
		return s
	}
	s.Date = d
	for _, b := range branches {
		bd := BranchDay{ID: b.ID, Name: b.Name, Spark: b.Sparkline(d, SparkDays)}
		if day, ok := b.Final(d); ok {
			bd.Reported, bd.Day = true, day
			bd.SameWeekday = b.SameWeekday(d)
			bd.Unusual = b.UnusualDay(d)
			s.Net += day.NetRevenue
			s.Profit += day.NetProfit
			s.Bills += day.Bills
			s.Reported++
		}
		s.Branches = append(s.Branches, bd)
	}
	s.Tiles = Tiles(branches, d)
	return s
}
