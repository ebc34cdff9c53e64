package view

import (
	"math"
	"slices"
	"testing"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// TestTotal: sums are exact until they overflow, then unavailable for
// good (never wrapped to a negative figure), averages included.
func TestTotal(t *testing.T) {
	tests := []struct {
		name   string
		adds   []int64
		want   int64
		over   bool
		perDay Total // over 2 days
	}{
		{"none", nil, 0, false, Total{}},
		{"small", []int64{100, -30}, 70, false, Total{Value: 35}},
		{"two 5e18", []int64{5e18, 5e18}, 0, true, Total{Overflow: true}},
		{"overflow then back in range stays unavailable", []int64{math.MaxInt64, 1, -5}, 0, true, Total{Overflow: true}},
		{"negative overflow", []int64{math.MinInt64, -1}, 0, true, Total{Overflow: true}},
		{"at the top", []int64{math.MaxInt64 - 1, 1}, math.MaxInt64, false, Total{Value: math.MaxInt64 / 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tot Total
			for _, v := range tt.adds {
				tot.Add(v)
			}
			if tot.Overflow != tt.over || tot.Value != tt.want {
				t.Errorf("total %+v, want %d overflow %v", tot, tt.want, tt.over)
			}
			if got := tot.PerDay(2); got != tt.perDay {
				t.Errorf("per day %+v, want %+v", got, tt.perDay)
			}
		})
	}
	var sum Total
	sum.AddTotal(TotalOf(5))
	sum.AddTotal(Total{Overflow: true})
	sum.AddTotal(TotalOf(5))
	if !sum.Overflow {
		t.Error("a total of an unavailable total is available")
	}
}

// TestRankRowsWithOverflow: a row whose revenue overflowed is not
// ranked (0) and comes last; the others rank as before.
func TestRankRowsWithOverflow(t *testing.T) {
	rows := []CompareRow{
		{ID: "a", NetRevenue: TotalOf(10)}, {ID: "x", NetRevenue: Total{Overflow: true}}, {ID: "b", NetRevenue: TotalOf(30)},
	}
	RankRows(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.ID+":"+string(rune('0'+r.Rank)))
	}
	if want := []string{"b:1", "a:2", "x:0"}; !slices.Equal(got, want) {
		t.Errorf("ranks = %v, want %v", got, want)
	}
}

// TestFigureTotals: each figure overflows on its own; the others keep
// their exact sums.
func TestFigureTotals(t *testing.T) {
	var ft FigureTotals
	for range 2 {
		ft.Add(metrics.Document{NetRevenue: 5e18, GrossRevenue: 5e18, TotalBills: 3, TotalTips: -7})
	}
	if !ft.Overflow["net_revenue"] || !ft.Overflow["gross_revenue"] || len(ft.Overflow) != 2 {
		t.Errorf("overflowed %v, want net_revenue and gross_revenue", ft.Overflow)
	}
	if ft.Doc.TotalBills != 6 || ft.Doc.TotalTips != -14 || ft.Doc.NetRevenue != 0 {
		t.Errorf("sums %+v", ft.Doc)
	}
}
