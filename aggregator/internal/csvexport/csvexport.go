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
	"strconv"

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

// kinds is the kind of each column, in metrics.FieldNames order.
var kinds = func() []cellKind {
	special := map[string]cellKind{
		"branch_id": text, "branch_name": text, "summary_date": text, "generated_at": text, "currency": text,
		"schema_version": plain, "is_final": plain, "total_bills": plain, "refund_count": plain,
	}
	ks := make([]cellKind, len(metrics.FieldNames))
	for i, name := range metrics.FieldNames {
		if k, ok := special[name]; ok {
			ks[i] = k
		}
	}
	return ks
}()

// Encoder writes documents as CSV rows.
type Encoder struct {
	w       *csv.Writer
	units   Units
	started bool
}

// NewEncoder returns an Encoder writing to w, money in paise.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: csv.NewWriter(w)}
}

// SetUnits selects paise or rupees; call before the first Encode.
func (e *Encoder) SetUnits(u Units) { e.units = u }

// Encode writes one document as a row (the header first, once).
func (e *Encoder) Encode(d metrics.Document) error {
	if err := e.header(); err != nil {
		return err
	}
	row := d.Values()
	for i, v := range row {
		switch kinds[i] {
		case text:
			row[i] = Neutralise(v)
		case money:
			if e.units == Rupees {
				row[i] = rupees(v)
			}
		}
	}
	if err := e.w.Write(row); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	return nil
}

func (e *Encoder) header() error {
	if e.started {
		return nil
	}
	e.started = true
	if err := e.w.Write(metrics.FieldNames); err != nil {
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

// Neutralise prefixes a text cell that a spreadsheet would take as a
// formula with a single quote.
func Neutralise(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// rupees turns a decimal paise figure into rupees with two decimals.
func rupees(paise string) string {
	n, err := strconv.ParseInt(paise, 10, 64)
	if err != nil {
		return paise
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u // two's complement: right for math.MinInt64 too
	}
	b := make([]byte, 0, 24)
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, u/100, 10)
	b = append(b, '.')
	c := u % 100
	b = append(b, byte('0'+c/10), byte('0'+c%10))
	return string(b)
}
