package demo

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/shared/store"
)

// checkBusiness reads what a running demo's healthy branches pushed to
// the bucket, as the dashboard does: each made a profit over its last 30
// final days; the 1st of the month among them is a loss day made by its
// expenses, which hold the rent (in the branch database); its weekends
// took more than its weekdays. The demo must hold at least 34 days.
func checkBusiness(t *testing.T, ctx context.Context, d *Demo) {
	t.Helper()
	st, err := store.NewS3(d.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	yesterday := d.now().AddDate(0, 0, -1)
	for _, b := range d.opts.Branches {
		if b.StaleDays > 0 {
			continue
		}
		var profit, weekend, weekday, nWeekend, nWeekday int64
		var first *metrics.Document
		// 34 days always hold a 1st; the last 30 are the month summed.
		for i := range 34 {
			date := yesterday.AddDate(0, 0, -i)
			key, err := layout.MetricsKey(b.ID, date)
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := st.Get(ctx, key)
			if err != nil {
				t.Fatalf("%s: %v", b.ID, err)
			}
			doc, err := metrics.Decode(r)
			r.Close()
			if err != nil || !doc.IsFinal {
				t.Fatalf("%s: %s: final %v, %v", b.ID, key, doc.IsFinal, err)
			}
			if date.Day() == 1 && first == nil { // the latest 1st
				first = &doc
			}
			if i >= 30 {
				continue
			}
			profit += doc.NetProfit
			if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
				weekend += doc.NetRevenue
				nWeekend++
			} else {
				weekday += doc.NetRevenue
				nWeekday++
			}
		}
		if profit <= 0 {
			t.Errorf("%s: net profit over its last 30 days %d paise, want a profit", b.ID, profit)
		}
		if weekend*nWeekday*5 < weekday*nWeekend*6 {
			t.Errorf("%s: mean weekend net revenue %d, weekday %d paise: want weekends at least 20%% higher", b.ID, weekend/nWeekend, weekday/nWeekday)
		}
		if first == nil {
			t.Fatalf("%s: no 1st of a month in 34 days", b.ID)
		}
		if first.NetProfit >= 0 || first.GrossProfit <= 0 {
			t.Errorf("%s: %s: gross profit %d, net profit %d; want a loss made by the month's bills", b.ID, first.SummaryDate, first.GrossProfit, first.NetProfit)
		}
		conn, err := pgx.Connect(ctx, d.pg.URL(b.ID))
		if err != nil {
			t.Fatal(err)
		}
		var rent int64
		err = conn.QueryRow(ctx, "SELECT coalesce(sum(amount), 0) FROM expenses WHERE spent_on = $1::date AND category = 'Rent'", first.SummaryDate).Scan(&rent)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rent <= 0 || first.TotalExpenses < rent {
			t.Errorf("%s: %s: rent %d paise, total expenses %d: the 1st does not carry the rent", b.ID, first.SummaryDate, rent, first.TotalExpenses)
		}
		t.Logf("%s: 30-day net profit ₹%d; weekend day ₹%d, weekday ₹%d net revenue; %s: expenses ₹%d (rent ₹%d), net profit ₹%d",
			b.ID, profit/100, weekend/nWeekend/100, weekday/nWeekday/100, first.SummaryDate, first.TotalExpenses/100, rent/100, first.NetProfit/100)
	}
}
