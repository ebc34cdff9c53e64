package components

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"github.com/branchwatch/branchwatch/shared/metrics"
	"github.com/branchwatch/branchwatch/web/format"
	"github.com/branchwatch/branchwatch/web/view"
)

// figureCells renders the eighteen figure cells of one row of the daily
// table. It is the one component written in Go rather than templ: a 90-day
// page has 1,620 of these cells, and going through a templ expression per
// cell (fmt.Sprint, an attribute expression and escaping each) made up a
// third of the page's cost. What it writes is only markup from constants
// in this file, the field names, labels and classes of dailyColumns (letters, '-', '_' and
// spaces), and figures
// formatted here (digits, ',', '.', '₹', '−'): no text from the bucket, so
// there is nothing to escape. TestFigureCellsMatchTempl checks the output
// against the same cells written in templ.
func figureCells(d *metrics.Document) templ.Component { return totalFigureCells(d, nil) }

// totalFigureCells is figureCells for a row of sums: the figures named in
// unavailable (metrics-v1 field names) overflowed and show as unavailable,
// with view.OverflowReason (a constant) as the title.
func totalFigureCells(d *metrics.Document, unavailable map[string]bool) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		bp := rowBuffers.Get().(*[]byte)
		defer rowBuffers.Put(bp)
		b := appendFigureCells((*bp)[:0], d, unavailable)
		*bp = b
		_, err := w.Write(b)
		return err
	})
}

// appendFigureCells appends the cells totalFigureCells writes.
func appendFigureCells(b []byte, d *metrics.Document, unavailable map[string]bool) []byte {
	for _, c := range dailyColumns {
		v := c.get(d)
		b = append(b, `<td class="`...)
		b = append(b, c.class...)
		b = append(b, `" data-testid="`...)
		b = append(b, c.field...)
		b = append(b, `" data-label="`...)
		b = append(b, c.label...)
		b = append(b, `">`...)
		switch {
		case unavailable[c.field]:
			b = append(b, `<span class="unavailable" data-testid="unavailable" title="`...)
			b = append(b, view.OverflowReason...)
			b = append(b, `">unavailable</span>`...)
		case !c.money:
			b = format.AppendCount(b, v)
		case v < 0:
			b = append(b, `<span class="money neg">`...)
			b = append(format.AppendMoney(b, v), `</span>`...)
		default:
			b = append(b, `<span class="money">`...)
			b = append(format.AppendMoney(b, v), `</span>`...)
		}
		b = append(b, `</td>`...)
	}
	return b
}

// dayRows renders the daily table's rows of days, one a day: the date
// (escaped as templ escapes it, though a document's date is YYYY-MM-DD,
// checked against its key when read), a provisional tag, the figure
// cells. Written in Go for the reason figureCells is: 90 rows of a templ
// attribute, a text expression and a component call each cost a tenth
// of the page. TestDayRowsMatchTempl checks it against dayRowsTempl.
func dayRows(days []view.DayRow) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		return writeRows(w, len(days), func(b []byte, i int) []byte {
			d := &days[i]
			b = append(b, `<tr data-testid="day-row" data-date="`...)
			b = appendEscaped(b, d.Doc.SummaryDate)
			b = append(b, `"><th scope="row" class="nowrap">`...)
			b = appendEscaped(b, d.Doc.SummaryDate)
			b = append(b, ' ')
			if !d.Doc.IsFinal {
				b = append(b, `<span class="tag" data-testid="provisional">provisional</span>`...)
			}
			b = append(b, `</th>`...)
			return append(appendFigureCells(b, &d.Doc, nil), `</tr>`...)
		})
	})
}

// writeRows writes n rows, each appended by row to a recycled buffer and
// written on its own.
func writeRows(w io.Writer, n int, row func(b []byte, i int) []byte) error {
	bp := rowBuffers.Get().(*[]byte)
	defer rowBuffers.Put(bp)
	for i := range n {
		b := row((*bp)[:0], i)
		*bp = b
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// appendEscaped appends s escaped as templ escapes text and attributes.
func appendEscaped(b []byte, s string) []byte {
	if strings.ContainsAny(s, `<>&'"`) {
		return append(b, templ.EscapeString(s)...)
	}
	return append(b, s...)
}

// rowBuffers recycles the buffers figureCells builds a row in.
var rowBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// backupRows renders the backups table's rows, one a backup, as
// backupRowsTempl does (TestBackupRowsMatchTempl): written in Go because
// a row of templ expressions and a Timestamp call costs two dozen
// allocations. Names, hashes and sizes are escaped as templ escapes them;
// the download link goes through templ's URL sanitising.
func backupRows(bs []view.Backup) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		return writeRows(w, len(bs), func(b []byte, i int) []byte {
			bk := &bs[i]
			b = append(b, `<tr data-testid="backup-row" data-name="`...)
			b = appendEscaped(b, bk.Name)
			b = append(b, `"><td data-testid="backup-taken" data-label="Taken">`...)
			if bk.Taken.IsZero() {
				b = append(b, `<span class="muted">never</span>`...)
			} else {
				b = append(b, `<time datetime="`...)
				b = bk.Taken.AppendFormat(b, time.RFC3339)
				b = append(b, `">`...)
				b = bk.Taken.AppendFormat(b, format.DateTimeLayout)
				b = append(b, `</time>`...)
			}
			b = append(b, `<div class="muted small">`...)
			b = appendEscaped(b, bk.Name)
			b = append(b, `</div></td><td class="num" data-testid="backup-size" data-label="Size">`...)
			b = appendEscaped(b, format.Bytes(bk.Size))
			b = append(b, `</td><td class="hash" data-testid="backup-sha256" data-label="SHA-256">`...)
			if bk.SHA256 == "" {
				b = append(b, `<span class="muted">—</span>`...)
			} else {
				b = appendEscaped(b, bk.SHA256)
			}
			b = append(b, `</td><td class="num" data-testid="backup-rows" data-label="Rows">`...)
			if bk.Manifest == nil {
				b = append(b, `<span class="muted">—</span>`...)
			} else {
				b = format.AppendCount(b, bk.Manifest.Rows)
				b = append(b, ` <span class="muted small">in `...)
				b = strconv.AppendInt(b, int64(bk.Manifest.Tables), 10)
				b = append(b, ` tables</span>`...)
			}
			b = append(b, `</td><td data-label="Restore">`...)
			if bk.DownloadURL != "" {
				b = append(b, `<a href="`...)
				b = appendEscaped(b, string(templ.URL(bk.DownloadURL)))
				b = append(b, `" data-testid="backup-download" rel="nofollow">Download</a>`...)
			}
			return append(b, `</td></tr>`...)
		})
	})
}
