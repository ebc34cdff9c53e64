package view

import "time"

// Headline is the overview's lead: one business date, the chain's total
// for it from the branches that reported it, and who is missing.
type Headline struct {
	// Date is the business date; zero when no date can be named (nothing
	// final yet).
	Date time.Time
	// Net is the net revenue of the branches that reported Date.
	Net      int64
	Reported int
	Branches int
	// Missing names the branches without a final document for Date.
	Missing []string
	Tiles   []Tile
	// Unusual lists the flagged branches' reasons, in words.
	Unusual []string
}

// Tile is one period's total with its comparisons.
type Tile struct {
	Label string
	// Range is the period in words ("Mon 24 Nov – Sun 30 Nov").
	Range   string
	Net     int64
	Changes []Change
}

// Change is a figure against an earlier one, for people: the arrow, the
// percentage and the words say it without colour.
type Change struct {
	// Against is what it is compared with ("a week before").
	Against string
	// OK is false when there is nothing to compare with.
	OK    bool
	Ratio float64
}

// Direction is "up", "down" or "flat" (within half a percent).
func (c Change) Direction() string {
	switch {
	case !c.OK || (c.Ratio < 0.005 && c.Ratio > -0.005):
		return "flat"
	case c.Ratio > 0:
		return "up"
	default:
		return "down"
	}
}

// SparkPoint is one day of a sparkline: a value, or a gap.
type SparkPoint struct {
	Date    time.Time
	Value   int64
	Final   bool
	Missing bool
}
