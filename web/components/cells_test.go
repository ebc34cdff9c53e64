package components

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

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

// TestBackupRowsMatchTempl: the backup rows written in Go are those
// written in templ, with and without each optional part, and with text
// that needs escaping or a link that needs sanitising.
func TestBackupRowsMatchTempl(t *testing.T) {
	taken := time.Date(2026, 2, 16, 22, 0, 5, 0, time.FixedZone("IST", 5*3600+1800))
	full := view.Backup{Name: "2026-02-16T163005Z.dump", Taken: taken, Size: 123456789, SHA256: "ab12", DownloadURL: "/api/v1/branches/b/backups/x.dump/download",
		Manifest: &view.BackupManifest{Tables: 12, Rows: 1234567}}
	tests := []struct {
		name string
		bs   []view.Backup
	}{
		{"none", nil},
		{"full", []view.Backup{full}},
		{"bare", []view.Backup{{Name: "x.dump", Size: 10}}},
		{"escaped", []view.Backup{{Name: `<x>&"'.dump`, Taken: taken, Size: -5, SHA256: `<b>`, DownloadURL: "javascript:alert(1)"}}},
		{"several", []view.Backup{full, {Name: "y.dump"}, full}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fast, slow bytes.Buffer
			if err := backupRows(tt.bs).Render(context.Background(), &fast); err != nil {
				t.Fatal(err)
			}
			if err := backupRowsTempl(tt.bs).Render(context.Background(), &slow); err != nil {
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
