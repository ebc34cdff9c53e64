package components

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/view"
)

func TestFigureCellsMatchTempl(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 42, 11800000, -200000, math.MaxInt64, math.MinInt64} {
		t.Run(strconv.FormatInt(v, 10), func(t *testing.T) {
			d := doc("b", today, v, v, v, v, v, v)
			d.TotalBills, d.RefundCount, d.TotalTips = v, -v, v
			var fast, slow bytes.Buffer
			if err := figureCells(&d).Render(context.Background(), &fast); err != nil {
				t.Fatal(err)
			}
			if err := figureCellsTempl(d).Render(context.Background(), &slow); err != nil {
				t.Fatal(err)
			}
			if fast.String() != slow.String() {
				t.Errorf("cells differ:\ngo:    %s\ntempl: %s", fast.String(), slow.String())
			}
		})
	}
}

// TestDayRowsMatchTempl: the rows written in Go are those written in
// templ, provisional days and dates that need escaping included.
func TestDayRowsMatchTempl(t *testing.T) {
	final := doc("b", today, 30, 12500000, 500000, 200000, 3500000, 1500000)
	provisional := doc("b", today.AddDate(0, 0, 1), -4, -200000, 0, 1, math.MaxInt64, math.MinInt64)
	provisional.IsFinal = false
	odd := final
	odd.SummaryDate = `2026-02-<b>"&'`
	tests := []struct {
		name string
		days []metrics.Document
	}{
		{"none", nil},
		{"final", []metrics.Document{final}},
		{"final and provisional", []metrics.Document{final, provisional}},
		{"escaped date", []metrics.Document{odd}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var days []view.DayRow
			for _, d := range tt.days {
				days = append(days, view.DayRow{Doc: d})
			}
			var fast, slow bytes.Buffer
			if err := dayRows(days).Render(context.Background(), &fast); err != nil {
				t.Fatal(err)
			}
			if err := dayRowsTempl(days).Render(context.Background(), &slow); err != nil {
				t.Fatal(err)
			}
			if fast.String() != slow.String() {
				t.Errorf("rows differ:\ngo:    %s\ntempl: %s", fast.String(), slow.String())
			}
		})
	}
}

// figureCells writes field names and labels without escaping: they must
// need none.
func TestDailyColumnFieldsNeedNoEscaping(t *testing.T) {
	ok := regexp.MustCompile(`^[a-z_]+$`)
	label := regexp.MustCompile(`^[A-Za-z ]+$`)
	for _, c := range dailyColumns {
		if !ok.MatchString(c.field) {
			t.Errorf("field %q", c.field)
		}
		if !label.MatchString(c.label) {
			t.Errorf("label %q", c.label)
		}
	}
}
