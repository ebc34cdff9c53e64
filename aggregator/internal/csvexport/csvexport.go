// Package csvexport writes metrics documents as CSV (RFC 4180, through
// encoding/csv): the header is the metrics-v1 field names, one row per
// document, streamed with flat memory.
//
// Text cells that start with '=', '+', '-', '@', a tab or a carriage
// return are prefixed with a single quote, so that a spreadsheet does not
// run them as formulas (CSV injection: branch_name comes from the
// branches). Numbers are never altered: a negative figure stays a number.
package csvexport

import (
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Units selects how money is written.
type Units int

const (
	// Paise writes money as integer paise, as the documents hold it.
	Paise Units = iota
	// Rupees writes money as decimal rupees with two decimals (1234.50).
	Rupees
)

// Labels are the column headings for people, by metrics-v1 field name:
// the owner's download (headers=labels) uses them with money in rupees.
var Labels = map[string]string{
	"schema_version": "Schema version", "branch_id": "Branch ID", "branch_name": "Branch",
	"summary_date": "Date", "generated_at": "Generated at", "is_final": "Final",
	"currency": "Currency", "total_bills": "Bills", "refund_count": "Refunds",
	"gross_revenue": "Gross revenue (₹)", "discount_amount": "Discounts (₹)", "refund_amount": "Refunds (₹)",
	"net_revenue": "Net revenue (₹)", "cgst_collected": "CGST (₹)", "sgst_collected": "SGST (₹)",
	"total_tax": "Total tax (₹)", "cash_collected": "Cash (₹)", "digital_collected": "Digital (₹)",
	"actual_service_cogs": "Service cost (₹)", "actual_product_cogs": "Product cost (₹)",
	"total_cogs": "Cost of sales (₹)", "total_expenses": "Expenses (₹)", "gross_profit": "Gross profit (₹)",
	"net_profit": "Net profit (₹)", "total_tips": "Tips (₹)",
}

// ParseHeaders reads ?headers=: "" or "names" (the metrics-v1 field
// names, for scripts) and "labels" (Labels, for people).
func ParseHeaders(s string) (labels bool, err error) {
	switch s {
	case "", "names":
		return false, nil
	case "labels":
		return true, nil
	}
	return false, fmt.Errorf("headers %q: want names or labels", s)
}

// ParseUnits reads "paise" (or "") and "rupees".
func ParseUnits(s string) (Units, error) {
	switch s {
	case "", "paise":
		return Paise, nil
	case "rupees":
		return Rupees, nil
	}
	return Paise, fmt.Errorf("units %q: want paise or rupees", s)
}

type cellKind int

const (
	money cellKind = iota
	text
	plain // counts, version, booleans: written as they are
)

// column is one CSV column: the Document field it reads and its kind.
type column struct {
	field int // index of the struct field
	kind  cellKind
}

// columns follow metrics.FieldNames, matched to the struct's fields by
// their JSON names, so that the order cannot drift from the schema's.
var columns = func() []column {
	special := map[string]cellKind{
		"branch_id": text, "branch_name": text, "summary_date": text, "generated_at": text, "currency": text,
		"schema_version": plain, "is_final": plain, "total_bills": plain, "refund_count": plain,
	}
	t := reflect.TypeFor[metrics.Document]()
	byName := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		byName[name] = i
	}
	cols := make([]column, len(metrics.FieldNames))
	for i, name := range metrics.FieldNames {
		f, ok := byName[name]
		if !ok {
			panic("csvexport: no Document field for " + name)
		}
		cols[i] = column{field: f, kind: special[name]}
	}
	return cols
}()

// Encoder writes documents as CSV rows. Each row is formatted into one
// reused buffer and handed to encoding/csv as substrings of one string:
// one small allocation per row, whatever the number of columns.
type Encoder struct {
	w       *csv.Writer
	out     io.Writer
	units   Units
	labels  bool
	started bool
	doc     metrics.Document
	docv    reflect.Value // &doc, dereferenced
	buf     []byte
	row     []string
	ends    []int
}

// NewEncoder returns an Encoder writing to w, money in paise.
func NewEncoder(w io.Writer) *Encoder {
	e := &Encoder{w: csv.NewWriter(w), out: w, row: make([]string, len(columns)), ends: make([]int, len(columns))}
	e.docv = reflect.ValueOf(&e.doc).Elem()
	return e
}

// SetUnits selects paise or rupees; call before the first Encode.
func (e *Encoder) SetUnits(u Units) { e.units = u }

// SetLabels writes the file for people: a UTF-8 byte order mark (so a
// spreadsheet reads ₹ right), the Labels as headings, and "yes"/"no" for
// booleans. Call before the first Encode.
func (e *Encoder) SetLabels(on bool) { e.labels = on }

// Encode writes one document as a row (the header first, once).
func (e *Encoder) Encode(d metrics.Document) error {
	if err := e.header(); err != nil {
		return err
	}
	e.doc = d
	b := e.buf[:0]
	for i, c := range columns {
		f := e.docv.Field(c.field)
		switch f.Kind() {
		case reflect.String:
			v := f.String()
			if c.kind == text && NeedsNeutralising(v) {
				b = append(b, '\'')
			}
			b = append(b, v...)
		case reflect.Bool:
			switch {
			case !e.labels:
				b = strconv.AppendBool(b, f.Bool())
			case f.Bool():
				b = append(b, "yes"...)
			default:
				b = append(b, "no"...)
			}
		default: // the integers
			if c.kind == money && e.units == Rupees {
				b = appendRupees(b, f.Int())
			} else {
				b = strconv.AppendInt(b, f.Int(), 10)
			}
		}
		e.ends[i] = len(b)
	}
	e.buf = b
	all := string(b)
	start := 0
	for i, end := range e.ends {
		e.row[i] = all[start:end]
		start = end
	}
	if err := e.w.Write(e.row); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	return nil
}

func (e *Encoder) header() error {
	if e.started {
		return nil
	}
	e.started = true
	names := metrics.FieldNames
	if e.labels {
		names = make([]string, len(metrics.FieldNames))
		for i, n := range metrics.FieldNames {
			names[i] = Labels[n]
		}
		e.w.Flush()
		if _, err := e.out.Write([]byte("\uFEFF")); err != nil {
			return fmt.Errorf("write csv header: %w", err)
		}
	}
	if err := e.w.Write(names); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	return nil
}

// Flush writes buffered rows to the underlying writer.
func (e *Encoder) Flush() error {
	e.w.Flush()
	if err := e.w.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// Close writes the header if no row was written, and flushes. It does not
// close the underlying writer.
func (e *Encoder) Close() error {
	if err := e.header(); err != nil {
		return err
	}
	return e.Flush()
}

// NeedsNeutralising reports whether a spreadsheet would take the text
// cell s as a formula.
func NeedsNeutralising(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// Neutralise prefixes a text cell that a spreadsheet would take as a
// formula with a single quote.
func Neutralise(s string) string {
	if NeedsNeutralising(s) {
		return "'" + s
	}
	return s
}

// appendRupees appends paise as rupees with two decimals.
func appendRupees(b []byte, n int64) []byte {
	u := uint64(n)
	if n < 0 {
		b = append(b, '-')
		u = -u // two's complement: right for math.MinInt64 too
	}
	b = strconv.AppendUint(b, u/100, 10)
	c := u % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}
