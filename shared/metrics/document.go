// Package metrics is the daily metrics document, schema version 1
// (spec/metrics-v1.md): the contract between branch agents and the aggregator.
//
// A document is decoded strictly (every field required, exact JSON types,
// unknown extra fields ignored), checked with [Document.Validate] and, when
// read from the bucket, with [Document.CheckKey]. Encoding is stable: fields
// in spec order, two-space indent, trailing newline.
//
// # Currency
//
// The schema allows any ISO 4217 code in currency, but every figure is
// summed as paise: Branchwatch supports INR only. A document in another
// currency is valid against the schema yet refused by
// [Document.CheckCurrency] with the reason "currency USD: only INR is
// supported" (for USD): the aggregator lists it as a bad document and never
// adds it to rupee totals, rather than showing dollars as rupees. Totals
// per currency were the alternative; no branch reports in another
// currency, so the simpler, safe rule was chosen.
//
// Sums of figures over days or branches use [CheckedAdd]: a sum beyond
// int64 is reported as an overflow, never wrapped to a wrong value.
package metrics

import (
	"strconv"
	"time"
)

const (
	// SchemaVersion is the schema_version this package reads and writes.
	SchemaVersion = 1
	// CurrentMajor is the schema major version this package understands;
	// a document of any other major version is refused with
	// [ErrUnsupportedVersion].
	CurrentMajor = SchemaVersion
	// MaxDocumentBytes is the largest encoded document Decode and Unmarshal
	// accept; a real one is under 1 KiB.
	MaxDocumentBytes = 64 << 10
	// DefaultCurrency is the currency of a branch that does not set one.
	DefaultCurrency = "INR"
)

// Document is one branch's figures for one business date. Money is in
// paise (1/100 INR); figures may be negative (a day with only refunds).
// Field order is the spec's order and the order of the encoded JSON.
type Document struct {
	SchemaVersion int    `json:"schema_version"`
	BranchID      string `json:"branch_id"`
	BranchName    string `json:"branch_name"`
	// SummaryDate is the business date, YYYY-MM-DD.
	SummaryDate string `json:"summary_date"`
	// GeneratedAt is RFC 3339 with the branch's UTC offset, kept as written
	// so that it round-trips byte for byte; see GeneratedTime and UTCOffset.
	GeneratedAt       string `json:"generated_at"`
	IsFinal           bool   `json:"is_final"`
	Currency          string `json:"currency"`
	TotalBills        int64  `json:"total_bills"`
	RefundCount       int64  `json:"refund_count"`
	GrossRevenue      int64  `json:"gross_revenue"`
	DiscountAmount    int64  `json:"discount_amount"`
	RefundAmount      int64  `json:"refund_amount"`
	NetRevenue        int64  `json:"net_revenue"`
	CGSTCollected     int64  `json:"cgst_collected"`
	SGSTCollected     int64  `json:"sgst_collected"`
	TotalTax          int64  `json:"total_tax"`
	CashCollected     int64  `json:"cash_collected"`
	DigitalCollected  int64  `json:"digital_collected"`
	ActualServiceCOGS int64  `json:"actual_service_cogs"`
	ActualProductCOGS int64  `json:"actual_product_cogs"`
	TotalCOGS         int64  `json:"total_cogs"`
	TotalExpenses     int64  `json:"total_expenses"`
	GrossProfit       int64  `json:"gross_profit"`
	NetProfit         int64  `json:"net_profit"`
	TotalTips         int64  `json:"total_tips"`
}

// field pairs a JSON name with a pointer into a Document: one table drives
// decoding, FieldNames and Values, so they cannot disagree.
type field struct {
	name string
	ptr  any // *int, *int64, *string or *bool
}

func (d *Document) fields() []field {
	return []field{
		{"schema_version", &d.SchemaVersion},
		{"branch_id", &d.BranchID},
		{"branch_name", &d.BranchName},
		{"summary_date", &d.SummaryDate},
		{"generated_at", &d.GeneratedAt},
		{"is_final", &d.IsFinal},
		{"currency", &d.Currency},
		{"total_bills", &d.TotalBills},
		{"refund_count", &d.RefundCount},
		{"gross_revenue", &d.GrossRevenue},
		{"discount_amount", &d.DiscountAmount},
		{"refund_amount", &d.RefundAmount},
		{"net_revenue", &d.NetRevenue},
		{"cgst_collected", &d.CGSTCollected},
		{"sgst_collected", &d.SGSTCollected},
		{"total_tax", &d.TotalTax},
		{"cash_collected", &d.CashCollected},
		{"digital_collected", &d.DigitalCollected},
		{"actual_service_cogs", &d.ActualServiceCOGS},
		{"actual_product_cogs", &d.ActualProductCOGS},
		{"total_cogs", &d.TotalCOGS},
		{"total_expenses", &d.TotalExpenses},
		{"gross_profit", &d.GrossProfit},
		{"net_profit", &d.NetProfit},
		{"total_tips", &d.TotalTips},
	}
}

// FieldNames lists every field of the document in spec order; it is the
// header of the CSV export. Callers must not modify it.
var FieldNames = func() []string {
	fs := new(Document).fields()
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}()

// Values returns the document's fields as text in FieldNames order: integers
// in decimal (money in paise), is_final as true or false, strings as stored.
func (d Document) Values() []string {
	fs := d.fields()
	vals := make([]string, len(fs))
	for i, f := range fs {
		switch p := f.ptr.(type) {
		case *int:
			vals[i] = strconv.Itoa(*p)
		case *int64:
			vals[i] = strconv.FormatInt(*p, 10)
		case *string:
			vals[i] = *p
		case *bool:
			vals[i] = strconv.FormatBool(*p)
		}
	}
	return vals
}

// Derive fills the derived figures (net_revenue, total_tax, total_cogs,
// gross_profit, net_profit) from the base ones. Validate reports an
// overflow, which Derive cannot.
func (d *Document) Derive() {
	d.NetRevenue = d.GrossRevenue - d.DiscountAmount - d.RefundAmount
	d.TotalTax = d.CGSTCollected + d.SGSTCollected
	d.TotalCOGS = d.ActualServiceCOGS + d.ActualProductCOGS
	d.GrossProfit = d.NetRevenue - d.TotalCOGS
	d.NetProfit = d.GrossProfit - d.TotalExpenses
}

// FormatGeneratedAt formats t for generated_at: RFC 3339 in t's own zone,
// whole seconds, so pass the time in the branch's zone.
func FormatGeneratedAt(t time.Time) string {
	return t.Format(time.RFC3339)
}

// GeneratedTime parses generated_at; the result carries the document's UTC
// offset as its zone.
func (d Document) GeneratedTime() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, d.GeneratedAt)
	if err != nil {
		return time.Time{}, fieldErr("generated_at", "%q is not RFC 3339 with a UTC offset", d.GeneratedAt)
	}
	return t, nil
}

// UTCOffset is the branch's UTC offset as written in generated_at
// (+05:30 gives 5h30m).
func (d Document) UTCOffset() (time.Duration, error) {
	t, err := d.GeneratedTime()
	if err != nil {
		return 0, err
	}
	_, secs := t.Zone()
	return time.Duration(secs) * time.Second, nil
}

// firstFigure is the index in fields of total_bills: the figures follow
// the identity fields.
const firstFigure = 7

// FigureNames lists the figures (total_bills to total_tips) in spec order.
// Callers must not modify it.
var FigureNames = FieldNames[firstFigure:]

// Figures returns the document's figures by name (money in paise).
func (d Document) Figures() map[string]int64 {
	fs := d.fields()[firstFigure:]
	out := make(map[string]int64, len(fs))
	for _, f := range fs {
		out[f.name] = *f.ptr.(*int64)
	}
	return out
}
