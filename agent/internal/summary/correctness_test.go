package summary_test

import (
	"context"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// fixture is a small branch, hand-written so that every figure below can be
// checked with pencil and paper. Timestamps carry their offset (+05:30 is
// the branch's zone, Asia/Kolkata), so they mean the same instant whatever
// the server's TimeZone.
const fixture = `
INSERT INTO bills (id, bill_number, billed_at, status, subtotal, discount, cgst, sgst, tip) VALUES
  -- B1, 15 Feb: 1000.00 less a 100.00 discount, GST 81 + 81
  (1, 'B1', '2026-02-15 11:00:00+05:30', 'paid', 100000, 10000, 8100, 8100, 0),
  -- B2, the last second of 16 Feb in the branch's zone (18:29:59 UTC)
  (2, 'B2', '2026-02-16 23:59:59+05:30', 'paid',  50000,     0, 4500, 4500, 2000),
  -- B3, the first second of 17 Feb in the branch's zone (still 16 Feb in UTC and New York)
  (3, 'B3', '2026-02-17 00:00:00+05:30', 'paid',  20000,  2000, 1620, 1620, 0),
  -- B4, void: counts nowhere, nor do its payment and refund
  (4, 'B4', '2026-02-16 12:00:00+05:30', 'void',  99999,     0, 9000, 9000, 500),
  (5, 'B5', '2026-02-16 15:00:00+05:30', 'paid',  80000,     0, 7200, 7200, 5000);

INSERT INTO bill_items (bill_id, kind, name, quantity, unit_price, unit_cost) VALUES
  (1, 'service', 'Hair colour', 1, 100000, 5000),
  (2, 'service', 'Haircut',     1,  30000, 2000),
  (2, 'product', 'Shampoo',     2,  10000, 6000),
  (3, 'service', 'Threading',   1,  20000, 1500),
  (4, 'service', 'Facial',      1,  99999, 7777),
  (5, 'service', 'Manicure',    2,  40000, 3000);

INSERT INTO payments (bill_id, method, amount, paid_at) VALUES
  (1, 'card',  106200, '2026-02-15 11:02:00+05:30'),
  (2, 'cash',   40000, '2026-02-16 23:59:59+05:30'),
  -- the rest of B2 is paid after midnight: it belongs to 17 Feb
  (2, 'upi',    21000, '2026-02-17 00:00:30+05:30'),
  (3, 'cash',   21240, '2026-02-17 00:01:00+05:30'),
  (4, 'cash',    5000, '2026-02-16 12:01:00+05:30'),
  (5, 'wallet', 99400, '2026-02-16 15:05:00+05:30');

INSERT INTO refunds (bill_id, refunded_at, method, amount, cgst, sgst) VALUES
  -- a cash refund on 16 Feb of B1, a bill of 15 Feb
  (1, '2026-02-16 16:00:00+05:30', 'cash', 30000, 2700, 2700),
  -- 18 Feb has refunds only: card for B5 (16 Feb), cash for B3 (17 Feb)
  (5, '2026-02-18 12:00:00+05:30', 'card', 20000, 1800, 1800),
  (3, '2026-02-18 13:00:00+05:30', 'cash',  5000,  450,  450),
  -- against the void bill: ignored
  (4, '2026-02-16 17:00:00+05:30', 'cash',  1000,   90,   90);

INSERT INTO expenses (spent_on, category, amount) VALUES
  ('2026-02-16', 'Tea and snacks', 15000),
  ('2026-02-16', 'Restock',       200000),
  -- 19 Feb has expenses only
  ('2026-02-19', 'Electricity',   900000);
`

// expected figures per business date, worked out by hand from the fixture
// (derived ones too: the test does not use Derive to compute them).
var expected = []struct {
	date string
	want metrics.Document
}{
	{"2026-02-15", metrics.Document{
		TotalBills: 1, GrossRevenue: 100000, DiscountAmount: 10000, NetRevenue: 90000,
		CGSTCollected: 8100, SGSTCollected: 8100, TotalTax: 16200,
		DigitalCollected: 106200, ActualServiceCOGS: 5000, TotalCOGS: 5000,
		GrossProfit: 85000, NetProfit: 85000,
	}},
	{"2026-02-16", metrics.Document{
		TotalBills: 2, RefundCount: 1, GrossRevenue: 130000, RefundAmount: 30000, NetRevenue: 100000,
		CGSTCollected: 9000, SGSTCollected: 9000, TotalTax: 18000,
		CashCollected: 4600, DigitalCollected: 99400, // 40000 - (30000+2700+2700); wallet 99400
		ActualServiceCOGS: 8000, ActualProductCOGS: 12000, TotalCOGS: 20000,
		TotalExpenses: 215000, GrossProfit: 80000, NetProfit: -135000, TotalTips: 7000,
	}},
	{"2026-02-17", metrics.Document{
		TotalBills: 1, GrossRevenue: 20000, DiscountAmount: 2000, NetRevenue: 18000,
		CGSTCollected: 1620, SGSTCollected: 1620, TotalTax: 3240,
		CashCollected: 21240, DigitalCollected: 21000,
		ActualServiceCOGS: 1500, TotalCOGS: 1500, GrossProfit: 16500, NetProfit: 16500,
	}},
	{"2026-02-18", metrics.Document{ // refunds only: negative revenue
		RefundCount: 2, RefundAmount: 25000, NetRevenue: -25000,
		CGSTCollected: -2250, SGSTCollected: -2250, TotalTax: -4500,
		CashCollected: -5900, DigitalCollected: -23600,
		GrossProfit: -25000, NetProfit: -25000,
	}},
	{"2026-02-19", metrics.Document{ // expenses only
		TotalExpenses: 900000, NetProfit: -900000,
	}},
	{"2026-02-20", metrics.Document{}}, // empty: all zeros
}

// figuresOf clears a document's identity fields, leaving the figures.
func figuresOf(d metrics.Document) metrics.Document {
	d.SchemaVersion, d.BranchID, d.BranchName, d.SummaryDate, d.GeneratedAt, d.IsFinal, d.Currency = 0, "", "", "", "", false, ""
	return d
}

// TestFiguresToThePaisa checks every figure of every fixture date, with the
// database server's TimeZone in several zones and the host's zone changed
// too: not one figure may move.
func TestFiguresToThePaisa(t *testing.T) {
	hostZone := time.Local
	time.Local = mustLoad("America/Los_Angeles") // the agent must never use the host's zone
	t.Cleanup(func() { time.Local = hostZone })

	for _, serverTZ := range []string{"UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"} {
		t.Run("server in "+serverTZ, func(t *testing.T) {
			ctx := context.Background()
			pool := newDB(t, serverTZ)
			exec(t, pool, fixture)
			clock := &fixedClock{ist("2026-03-01 10:00:00")}
			s := newSummarizer(t, pool, clock, nil)
			for _, e := range expected {
				t.Run(e.date, func(t *testing.T) {
					out, err := s.Summarize(ctx, date(e.date), false)
					if err != nil {
						t.Fatal(err)
					}
					if got := figuresOf(out.Document); got != e.want {
						t.Errorf("figures differ\n got %+v\nwant %+v", got, e.want)
					}
					d := out.Document
					if d.SummaryDate != e.date || !d.IsFinal || d.GeneratedAt != "2026-03-01T10:00:00+05:30" ||
						d.BranchID != "branch-andheri" || d.BranchName != "Andheri — सैलून" || d.Currency != "INR" || d.SchemaVersion != 1 {
						t.Errorf("identity fields wrong: %+v", d)
					}
					// What was stored reads back identically.
					back, st, found, err := s.Document(ctx, date(e.date))
					if err != nil || !found || back != d || !st.Final || st.Pushed {
						t.Errorf("stored summary = %+v %+v %v %v, want %+v", back, st, found, err, d)
					}
				})
			}
		})
	}
}

// TestBusinessDayFollowsTheBranchZone checks the bounds of business days in
// zones with daylight saving time: a 23-hour and a 25-hour day, and a bill
// just before local midnight.
func TestBusinessDayFollowsTheBranchZone(t *testing.T) {
	london := mustLoad("Europe/London")
	cases := []struct {
		name  string
		date  string
		hours float64
	}{
		{"spring forward", "2026-03-29", 23},
		{"fall back", "2026-10-25", 25},
		{"plain day", "2026-06-01", 24},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start, next := summary.DayBounds(date(c.date), london)
			if got := next.Sub(start).Hours(); got != c.hours {
				t.Errorf("day length = %vh, want %vh", got, c.hours)
			}
			if start.In(london).Format("2006-01-02 15:04") != c.date+" 00:00" {
				t.Errorf("start = %s", start.In(london))
			}
		})
	}

	ctx := context.Background()
	pool := newDB(t, "Asia/Tokyo")
	exec(t, pool, `
		INSERT INTO bills (id, bill_number, billed_at, status, subtotal) VALUES
		  (1, 'a', '2026-03-29 00:30:00+00', 'paid', 100),  -- 00:30 GMT, the first hour of the short day
		  (2, 'b', '2026-03-29 23:30:00+01', 'paid', 200),  -- 23:30 BST, its last hour
		  (3, 'c', '2026-03-30 00:00:00+01', 'paid', 400);  -- the next day`)
	s := newSummarizer(t, pool, &fixedClock{time.Date(2026, 4, 2, 12, 0, 0, 0, london)}, func(c *summary.Config) { c.Location = london })
	out, err := s.Summarize(ctx, date("2026-03-29"), false)
	if err != nil {
		t.Fatal(err)
	}
	if out.Document.TotalBills != 2 || out.Document.GrossRevenue != 300 {
		t.Errorf("29 March in London: %d bills, %d gross; want 2 and 300", out.Document.TotalBills, out.Document.GrossRevenue)
	}
	if out.Document.GeneratedAt != "2026-04-02T12:00:00+01:00" {
		t.Errorf("generated_at = %s, want the branch's summer offset", out.Document.GeneratedAt)
	}
}
