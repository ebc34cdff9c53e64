package components

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"
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
