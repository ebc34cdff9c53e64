package demodata

import (
	"context"
)

// table is one COPY target: its columns, how many rows a day holds and how
// to fill row i of a day.
type table struct {
	name    string
	columns []string
	rows    func(dd *dayData) int
	fill    func(dd *dayData, i int, row []any)
	count   func(r *Result) *int64
}

// tables in load order (bills first: the others refer to them).
var tables = []table{
	{
		name:    "bills",
		columns: []string{"id", "bill_number", "billed_at", "status", "subtotal", "discount", "cgst", "sgst", "tip"},
		rows:    func(dd *dayData) int { return len(dd.bills) },
		fill: func(dd *dayData, i int, row []any) {
			b := &dd.bills[i]
			status := "paid"
			if b.void {
				status = "void"
			}
			row[0], row[1], row[2], row[3] = b.id, billNumber(dd.date, b.seq), b.at, status
			row[4], row[5], row[6], row[7], row[8] = b.subtotal, b.discount, b.cgst, b.sgst, b.tip
		},
		count: func(r *Result) *int64 { return &r.Bills },
	},
	{
		name:    "bill_items",
		columns: []string{"bill_id", "kind", "name", "quantity", "unit_price", "unit_cost"},
		rows:    func(dd *dayData) int { return len(dd.items) },
		fill: func(dd *dayData, i int, row []any) {
			it := &dd.items[i]
			kind, entry := "service", services[it.idx].item
			if it.product {
				kind, entry = "product", products[it.idx].item
			}
			row[0], row[1], row[2], row[3], row[4], row[5] = it.billID, kind, entry.name, it.qty, entry.price, entry.cost
		},
		count: func(r *Result) *int64 { return &r.Items },
	},
	{
		name:    "payments",
		columns: []string{"bill_id", "method", "amount", "paid_at"},
		rows:    func(dd *dayData) int { return len(dd.payments) },
		fill: func(dd *dayData, i int, row []any) {
			p := &dd.payments[i]
			row[0], row[1], row[2], row[3] = p.billID, p.method, p.amount, p.at
		},
		count: func(r *Result) *int64 { return &r.Payments },
	},
	{
		name:    "refunds",
		columns: []string{"bill_id", "refunded_at", "method", "amount", "cgst", "sgst"},
		rows:    func(dd *dayData) int { return len(dd.refunds) },
		fill: func(dd *dayData, i int, row []any) {
			f := &dd.refunds[i]
			row[0], row[1], row[2], row[3], row[4], row[5] = f.billID, f.at, f.method, f.amount, f.cgst, f.sgst
		},
		count: func(r *Result) *int64 { return &r.Refunds },
	},
	{
		name:    "expenses",
		columns: []string{"spent_on", "category", "amount"},
		rows:    func(dd *dayData) int { return len(dd.expenses) },
		fill: func(dd *dayData, i int, row []any) {
			e := &dd.expenses[i]
			row[0], row[1], row[2] = dd.date, e.category, e.amount
		},
		count: func(r *Result) *int64 { return &r.Expenses },
	},
}

// source streams one table's rows day by day (pgx.CopyFromSource),
// regenerating each day; the day is generated ahead in a goroutine so that
// generation overlaps the server's work.
type source struct {
	ctx  context.Context
	stop context.CancelFunc
	t    table
	days <-chan *dayData
	cur  *dayData
	i    int
	row  []any
	err  error
}

func newSource(ctx context.Context, g *generator, t table) *source {
	ctx, stop := context.WithCancel(ctx)
	ch := make(chan *dayData, 8)
	go func() {
		defer close(ch)
		for d := range g.days {
			select {
			case ch <- g.day(d):
			case <-ctx.Done():
				return
			}
		}
	}()
	return &source{ctx: ctx, stop: stop, t: t, days: ch, row: make([]any, len(t.columns))}
}

// close stops the generating goroutine (COPY may end early on an error).
func (s *source) close() { s.stop() }

// Next moves to the next row, fetching days as needed.
func (s *source) Next() bool {
	for s.cur == nil || s.i >= s.t.rows(s.cur) {
		select {
		case dd, ok := <-s.days:
			if !ok {
				return false
			}
			s.cur, s.i = dd, 0
		case <-s.ctx.Done():
			s.err = s.ctx.Err()
			return false
		}
	}
	s.t.fill(s.cur, s.i, s.row)
	s.i++
	return true
}

// Values is the current row; pgx encodes it before calling Next again.
func (s *source) Values() ([]any, error) { return s.row, nil }

// Err is the context's error if it ended the stream.
func (s *source) Err() error { return s.err }
