package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestValues(t *testing.T) {
	got := seed(t).Values()
	want := "1,branch-andheri,Salon Name,2026-02-16,2026-02-16T21:45:00+05:30,true,INR," +
		"42,1,12500000,500000,200000,11800000,1062000,1062000,2124000,7000000,4800000," +
		"2000000,1500000,3500000,1500000,8300000,6800000,350000"
	if len(got) != len(FieldNames) {
		t.Fatalf("%d values for %d fields", len(got), len(FieldNames))
	}
	if strings.Join(got, ",") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, ","), want)
	}
}

func TestDerive(t *testing.T) {
	want := seed(t)
	d := want
	d.NetRevenue, d.TotalTax, d.TotalCOGS, d.GrossProfit, d.NetProfit = 0, 0, 0, 0, 0
	d.Derive()
	if d != want {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGeneratedTimeAndOffset(t *testing.T) {
	tests := []struct {
		in     string
		offset time.Duration
		utc    string
	}{
		{"2026-02-16T21:45:00+05:30", 5*time.Hour + 30*time.Minute, "2026-02-16T16:15:00Z"},
		{"2026-02-16T21:45:00Z", 0, "2026-02-16T21:45:00Z"},
		{"2026-02-16T21:45:00-05:00", -5 * time.Hour, "2026-02-17T02:45:00Z"},
		{"2026-02-16T21:45:00+00:00", 0, "2026-02-16T21:45:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := Document{GeneratedAt: tt.in}
			tm, err := d.GeneratedTime()
			if err != nil {
				t.Fatal(err)
			}
			if got := tm.UTC().Format(time.RFC3339); got != tt.utc {
				t.Errorf("UTC %s, want %s", got, tt.utc)
			}
			off, err := d.UTCOffset()
			if err != nil || off != tt.offset {
				t.Errorf("UTCOffset = %v, %v; want %v", off, err, tt.offset)
			}
		})
	}
	if _, err := (Document{GeneratedAt: "yesterday"}).UTCOffset(); err == nil {
		t.Error("UTCOffset accepted garbage")
	}
}

func TestFormatGeneratedAt(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tm := time.Date(2026, 2, 16, 21, 45, 0, 123, ist)
	if got := FormatGeneratedAt(tm); got != "2026-02-16T21:45:00+05:30" {
		t.Fatalf("got %s", got)
	}
}

func TestFigures(t *testing.T) {
	d := Document{TotalBills: 3, RefundCount: 1, GrossRevenue: 1000, TotalTips: 7}
	d.Derive()
	f := d.Figures()
	if len(f) != len(FigureNames) || FigureNames[0] != "total_bills" || FigureNames[len(FigureNames)-1] != "total_tips" {
		t.Fatalf("FigureNames = %v, Figures = %v", FigureNames, f)
	}
	for name, want := range map[string]int64{"total_bills": 3, "refund_count": 1, "gross_revenue": 1000, "net_revenue": 1000, "total_tips": 7} {
		if f[name] != want {
			t.Errorf("%s = %d, want %d", name, f[name], want)
		}
	}
}
