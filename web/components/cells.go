package components

import (
	"context"
	"io"
	"sync"

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
		b := (*bp)[:0]
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
		*bp = b
		_, err := w.Write(b)
		return err
	})
}

// rowBuffers recycles the buffers figureCells builds a row in.
var rowBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}
