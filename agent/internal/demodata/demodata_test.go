package demodata_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/demodata"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var kolkata = mustLoad("Asia/Kolkata")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	_, url := testenv.NewDatabase(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// fingerprint is a digest of every row that Generate writes, ids aside for
// the serial ones.
func fingerprint(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var s string
	err := conn.QueryRow(context.Background(), `
		SELECT md5(
		  (SELECT string_agg(concat_ws(',', id, bill_number, extract(epoch FROM billed_at), status, subtotal, discount, cgst, sgst, tip), ';' ORDER BY id) FROM bills) ||
		  (SELECT string_agg(concat_ws(',', bill_id, kind, name, quantity, unit_price, unit_cost), ';' ORDER BY id) FROM bill_items) ||
		  (SELECT string_agg(concat_ws(',', bill_id, method, amount, extract(epoch FROM paid_at)), ';' ORDER BY id) FROM payments) ||
		  coalesce((SELECT string_agg(concat_ws(',', bill_id, extract(epoch FROM refunded_at), method, amount, cgst, sgst), ';' ORDER BY id) FROM refunds), '') ||
		  (SELECT string_agg(concat_ws(',', spent_on, category, amount), ';' ORDER BY id) FROM expenses))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateIsDeterministic(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	gen := func(seed int64) string {
		conn := connect(t)
		if _, err := demodata.Generate(ctx, conn, demodata.Options{Days: 20, Seed: seed, End: end, Location: kolkata}); err != nil {
			t.Fatal(err)
		}
		return fingerprint(t, conn)
	}
	a, b, c := gen(7), gen(7), gen(8)
	if a != b {
		t.Errorf("same seed and end date gave different data: %s vs %s", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 gave the same data")
	}
}

func TestGenerateIsRealistic(t *testing.T) {
	ctx := context.Background()
	conn := connect(t)
	end := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	res, err := demodata.Generate(ctx, conn, demodata.Options{Days: 120, Seed: 1, End: end, Location: kolkata})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.From.Format(time.DateOnly), "2025-10-20"; got != want {
		t.Errorf("From = %s, want %s", got, want)
	}
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM bills").Scan(&n); err != nil || n != res.Bills {
		t.Fatalf("bills in table = %d (%v), Result says %d", n, err, res.Bills)
	}

	checks := []struct {
		name string
		sql  string // returns one boolean: true when the property holds
	}{
		{"every bill is in opening hours in the branch zone",
			`SELECT bool_and((billed_at AT TIME ZONE 'Asia/Kolkata')::time BETWEEN '10:00' AND '21:00') FROM bills`},
		{"expenses on (nearly) every business date of the range",
			`SELECT count(DISTINCT spent_on) >= 115 AND min(spent_on) = DATE '2025-10-20' AND max(spent_on) = DATE '2026-02-16' FROM expenses`},
		{"some bills are void and none of them is paid",
			`SELECT count(*) > 0 AND NOT EXISTS (SELECT 1 FROM payments p JOIN bills b ON b.id = p.bill_id WHERE b.status = 'void') FROM bills WHERE status = 'void'`},
		{"GST is 9 % + 9 % of the discounted subtotal",
			`SELECT bool_and(cgst = sgst AND cgst = ((subtotal - discount) * 9 + 50) / 100) FROM bills`},
		{"subtotal is the sum of the items",
			`SELECT bool_and(b.subtotal = s.total) FROM bills b JOIN (SELECT bill_id, sum(quantity * unit_price) AS total FROM bill_items GROUP BY bill_id) s ON s.bill_id = b.id`},
		{"paid bills are paid in full, tip included",
			`SELECT bool_and(b.subtotal - b.discount + b.cgst + b.sgst + b.tip = p.total) FROM bills b JOIN (SELECT bill_id, sum(amount) AS total FROM payments GROUP BY bill_id) p ON p.bill_id = b.id`},
		{"every paid bill has a payment",
			`SELECT NOT EXISTS (SELECT 1 FROM bills b WHERE status = 'paid' AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.bill_id = b.id))`},
		{"all four payment methods occur",
			`SELECT count(DISTINCT method) = 4 FROM payments`},
		{"some discounts, some tips, services and products",
			`SELECT (SELECT count(*) FROM bills WHERE discount > 0) > 0 AND (SELECT count(*) FROM bills WHERE tip > 0) > 0 AND (SELECT count(DISTINCT kind) FROM bill_items) = 2`},
		{"refunds come after their bill, some on a later day, some in cash and some not",
			`SELECT count(*) > 0 AND bool_and(r.refunded_at > b.billed_at)
			   AND bool_or((r.refunded_at AT TIME ZONE 'Asia/Kolkata')::date > (b.billed_at AT TIME ZONE 'Asia/Kolkata')::date)
			   AND bool_or(r.method = 'cash') AND bool_or(r.method <> 'cash')
			 FROM refunds r JOIN bills b ON b.id = r.bill_id`},
		{"refunds never exceed the bill",
			`SELECT bool_and(r.amount <= b.subtotal - b.discount AND r.cgst <= b.cgst AND r.sgst <= b.sgst) FROM refunds r JOIN bills b ON b.id = r.bill_id`},
		{"Saturdays are busier than Mondays",
			`SELECT avg(n) FILTER (WHERE dow = 6) > 1.5 * avg(n) FILTER (WHERE dow = 1) FROM (
			   SELECT extract(dow FROM (billed_at AT TIME ZONE 'Asia/Kolkata')::date) AS dow, count(*) AS n
			   FROM bills GROUP BY (billed_at AT TIME ZONE 'Asia/Kolkata')::date) d`},
		{"foreign keys are back",
			`SELECT count(*) = 3 FROM pg_constraint WHERE contype = 'f' AND confrelid = 'bills'::regclass`},
		{"the id sequence is past the generated ids",
			`SELECT (SELECT last_value FROM bills_id_seq) = (SELECT max(id) FROM bills)`},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			var ok *bool
			if err := conn.QueryRow(ctx, c.sql).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			if ok == nil || !*ok {
				t.Errorf("does not hold")
			}
		})
	}
}

func TestGenerateRefusesAFilledRangeAndBadOptions(t *testing.T) {
	ctx := context.Background()
	conn := connect(t)
	end := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	if _, err := demodata.Generate(ctx, conn, demodata.Options{Days: 3, Seed: 1, End: end, Location: kolkata}); err != nil {
		t.Fatal(err)
	}
	// A later range is fine and continues the ids.
	if _, err := demodata.Generate(ctx, conn, demodata.Options{Days: 2, Seed: 1, End: end.AddDate(0, 0, 2), Location: kolkata}); err != nil {
		t.Fatalf("adjacent range: %v", err)
	}
	cases := []struct {
		name string
		o    demodata.Options
		want string
	}{
		{"overlapping range", demodata.Options{Days: 2, Seed: 9, End: end, Location: kolkata}, "already holds bills"},
		{"no days", demodata.Options{Days: 0, Seed: 1, End: end, Location: kolkata}, "days must be at least 1"},
		{"no end", demodata.Options{Days: 1, Seed: 1, Location: kolkata}, "end date is required"},
		{"no location", demodata.Options{Days: 1, Seed: 1, End: end}, "location is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := demodata.Generate(ctx, conn, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT (billed_at AT TIME ZONE 'Asia/Kolkata')::date) FROM bills").Scan(&n); err != nil || n != 5 {
		t.Errorf("dates with bills = %d (%v), want 5: a refused run must write nothing", n, err)
	}
}
