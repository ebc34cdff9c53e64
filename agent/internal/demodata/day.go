package demodata

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Rows of one business day, as they go into the reference schema. Money in
// paise.
type (
	bill struct {
		id                                  int64
		seq                                 int // 1-based number within the day
		at                                  time.Time
		void                                bool
		subtotal, discount, cgst, sgst, tip int64
	}
	billItem struct {
		billID  int64
		product bool
		idx     int // into services or products
		qty     int32
	}
	payment struct {
		billID int64
		method string
		amount int64
		at     time.Time
	}
	refund struct {
		billID             int64
		at                 time.Time
		method             string
		amount, cgst, sgst int64
	}
	expense struct {
		category string
		amount   int64
	}
	dayData struct {
		date     time.Time // calendar date, UTC midnight
		bills    []bill
		items    []billItem
		payments []payment
		refunds  []refund // of this day's bills, dated this day or later
		expenses []expense
	}
)

// generator produces the data of each day of the range independently and
// deterministically: day d's rows depend only on the seed, d's date and
// the id of d's first bill, so COPY can stream one table at a time by
// regenerating days instead of holding millions of rows in memory.
type generator struct {
	seed    uint64
	loc     *time.Location
	first   time.Time // first calendar date, UTC midnight
	days    int
	mean    float64
	firstID []int64 // id of each day's first bill
	bills   int64   // bills in the whole range
}

func newGenerator(o Options, firstBillID int64) *generator {
	end := civil(o.End)
	g := &generator{
		seed:  uint64(o.Seed),
		loc:   o.Location,
		first: end.AddDate(0, 0, -(o.Days - 1)),
		days:  o.Days,
		mean:  float64(o.BillsPerDay),
	}
	g.firstID = make([]int64, o.Days)
	id := firstBillID
	for d := range o.Days {
		g.firstID[d] = id
		n := int64(g.count(g.rng(d), d))
		id += n
		g.bills += n
	}
	return g
}

// date is the calendar date of day d (UTC midnight).
func (g *generator) date(d int) time.Time { return g.first.AddDate(0, 0, d) }

// rng is day d's own random source, keyed by its date so that a day's data
// does not depend on how many days are generated.
func (g *generator) rng(d int) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, uint64(g.date(d).Unix()/86400)))
}

// count is the first draw of day d's source: how many bills it has. One day
// in ninety the salon is closed (a day with expenses only).
func (g *generator) count(r *rand.Rand, d int) int {
	closed := r.IntN(90) == 0
	noise := 0.85 + 0.3*r.Float64()
	if closed {
		return 0
	}
	return int(math.Round(g.mean * weekdayFactor[g.date(d).Weekday()] * noise))
}

// at is a wall-clock time of day d in the branch's zone.
func (g *generator) at(d, hour int, offset time.Duration) time.Time {
	t := g.date(d)
	return time.Date(t.Year(), t.Month(), t.Day(), hour, 0, 0, 0, g.loc).Add(offset)
}

// day generates day d. Refunds falling after the last day are left out.
func (g *generator) day(d int) *dayData {
	r := g.rng(d)
	n := g.count(r, d)
	dd := &dayData{date: g.date(d), bills: make([]bill, n)}

	// Open 10:00 to 21:00; the evening is busiest.
	offsets := make([]int, n)
	for i := range offsets {
		if r.IntN(10) < 4 {
			offsets[i] = 7*3600 + r.IntN(4*3600)
		} else {
			offsets[i] = r.IntN(11 * 3600)
		}
	}
	slices.Sort(offsets)

	for i := range dd.bills {
		b := &dd.bills[i]
		b.id = g.firstID[d] + int64(i)
		b.seq = i + 1
		b.at = g.at(d, 10, time.Duration(offsets[i])*time.Second)
		b.void = r.IntN(100) < 2
		g.items(r, dd, b)
		if r.IntN(100) < 22 { // a discount of 5 to 20 %, in whole rupees
			pct := int64(5 * (1 + r.IntN(4)))
			b.discount = b.subtotal * pct / 100 / 100 * 100
		}
		taxable := b.subtotal - b.discount
		b.cgst = gst(taxable)
		b.sgst = gst(taxable)
		if r.IntN(100) < 12 {
			b.tip = []int64{2000, 5000, 5000, 10000, 20000}[r.IntN(5)]
		}
		if b.void {
			continue // nothing was paid
		}
		method := g.payments(r, dd, b, taxable+b.cgst+b.sgst+b.tip)
		if r.IntN(1000) < 15 {
			g.refund(r, dd, d, b, taxable, method)
		}
	}
	dd.expenses = g.expenses(r, d, n > 0)
	return dd
}

// gst is 9 % of a taxable amount, rounded half up to the paisa.
func gst(taxable int64) int64 { return (taxable*9 + 50) / 100 }

// items adds 1 to 3 services and 0 to 2 products to b and sets its subtotal.
func (g *generator) items(r *rand.Rand, dd *dayData, b *bill) {
	ns := pickCount(r, 62, 30, 8) + 1
	np := pickCount(r, 72, 21, 7)
	for range ns {
		idx := pickCount(r, serviceWeights...)
		dd.items = append(dd.items, billItem{billID: b.id, idx: idx, qty: 1})
		b.subtotal += services[idx].price
	}
	for range np {
		idx := pickCount(r, productWeights...)
		qty := int32(1)
		if r.IntN(100) < 15 {
			qty = 2
		}
		dd.items = append(dd.items, billItem{billID: b.id, product: true, idx: idx, qty: qty})
		b.subtotal += int64(qty) * products[idx].price
	}
}

// payments settles total in one method, or one in eight times split between
// cash and a digital method; it returns the main method.
func (g *generator) payments(r *rand.Rand, dd *dayData, b *bill, total int64) string {
	paidAt := b.at.Add(time.Duration(60+r.IntN(240)) * time.Second)
	if r.IntN(8) == 0 && total >= 20000 {
		cash := total / 2 / 10000 * 10000
		other := []string{methodUPI, methodCard}[r.IntN(2)]
		dd.payments = append(dd.payments,
			payment{billID: b.id, method: methodCash, amount: cash, at: paidAt},
			payment{billID: b.id, method: other, amount: total - cash, at: paidAt.Add(20 * time.Second)})
		return other
	}
	method := pickMethod(r)
	dd.payments = append(dd.payments, payment{billID: b.id, method: method, amount: total, at: paidAt})
	return method
}

// refund returns all or part of b, the same day or up to a week later.
func (g *generator) refund(r *rand.Rand, dd *dayData, d int, b *bill, taxable int64, method string) {
	later := r.IntN(8)
	full := r.IntN(10) < 4
	share := int64(25 * (1 + r.IntN(2)))
	cashBack := r.IntN(10) < 3
	offset := time.Duration(r.IntN(11*3600)) * time.Second
	sameDay := time.Duration(30+r.IntN(150)) * time.Minute
	if d+later >= g.days {
		return // after the last day generated
	}
	amount := taxable
	if !full {
		amount = taxable * share / 100 / 100 * 100
	}
	if cashBack {
		method = methodCash
	}
	at := g.at(d+later, 10, offset)
	if later == 0 {
		at = b.at.Add(sameDay)
	}
	dd.refunds = append(dd.refunds, refund{
		billID: b.id, at: at, method: method, amount: amount,
		cgst: min(gst(amount), b.cgst), sgst: min(gst(amount), b.sgst),
	})
}

// Monthly costs scale with the branch's size (its mean bills on a plain
// weekday): a salon of 60 bills a day pays ₹90,000 rent and employs 12
// people at ₹26,000 a month. Both are paid on the 1st, which makes the 1st
// a loss day while the month as a whole is profitable, as at a real salon.
const (
	rentPerBill    = 150000  // paise of monthly rent per mean daily bill
	billsPerStaff  = 5       // mean daily bills one employee serves
	monthlySalary  = 2600000 // paise, per employee
	minimumStaff   = 2
	rentCategory   = "Rent"
	salaryCategory = "Staff salaries"
)

// rent is the monthly rent.
func (g *generator) rent() int64 { return int64(g.mean) * rentPerBill }

// salaries are the monthly salaries of the staff.
func (g *generator) salaries() int64 {
	staff := max(minimumStaff, (int64(g.mean)+billsPerStaff-1)/billsPerStaff)
	return staff * monthlySalary
}

// expenses are the day's outgoings: tea and snacks when open, restocking,
// laundry, and the monthly bills (rent and salaries on the 1st).
func (g *generator) expenses(r *rand.Rand, d int, open bool) []expense {
	date := g.date(d)
	var out []expense
	add := func(category string, lo, hi int64) {
		out = append(out, expense{category: category, amount: (lo + r.Int64N(hi-lo+1)) / 100 * 100})
	}
	if open {
		add("Tea and snacks", 15000, 40000)
	}
	switch date.Weekday() {
	case time.Monday, time.Thursday:
		add("Consumables restock", 200000, 600000)
	case time.Wednesday, time.Saturday:
		add("Laundry (towels)", 30000, 60000)
	}
	switch date.Day() {
	case 1:
		out = append(out, expense{category: rentCategory, amount: g.rent()}, expense{category: salaryCategory, amount: g.salaries()})
	case 10:
		add("Electricity", 900000, 1600000)
	case 15:
		out = append(out, expense{category: "Internet", amount: 120000})
	}
	return out
}

// pickCount draws an index with the given weights.
func pickCount(r *rand.Rand, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

func pickMethod(r *rand.Rand) string {
	x := r.IntN(100)
	for _, m := range methodWeights {
		if x < m.weight {
			return m.method
		}
		x -= m.weight
	}
	return methodCash
}

// billNumber is unique per branch: the date and the bill's number that day.
func billNumber(date time.Time, seq int) string {
	return fmt.Sprintf("%s-%05d", date.Format("20060102"), seq)
}

// civil is t's calendar date as UTC midnight.
func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
