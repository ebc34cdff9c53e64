package chart

import (
	"bytes"
	"context"
	"io"
	"math"
	"strconv"
	"sync"

	"github.com/a-h/templ"
)

// marks draws a plot's bars or dots, each with a <title> tooltip. It is
// written in Go rather than templ because a year's chart has 365 marks of
// four or five numeric attributes each, and a templ attribute expression
// formats every number through fmt. Everything written is markup from
// constants here, numbers formatted here, and the tooltip text, which goes
// through templ's own escaping. TestMarksMatchTempl compares the output
// with the same marks written in templ.
func marks(p Plot) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		bp := markBuffers.Get().(*[]byte)
		defer markBuffers.Put(bp)
		b := (*bp)[:0]
		var title []byte
		for _, m := range p.Marks {
			if p.Kind == Bars {
				b = append(b, `<rect x="`...)
				b = appendFloat(b, m.X)
				b = append(b, `" y="`...)
				b = appendFloat(b, m.Y)
				b = append(b, `" width="`...)
				b = appendFloat(b, m.W)
				b = append(b, `" height="`...)
				b = appendFloat(b, m.H)
				b = append(b, `" class="bar`...)
			} else {
				b = append(b, `<circle cx="`...)
				b = appendFloat(b, m.X)
				b = append(b, `" cy="`...)
				b = appendFloat(b, m.Y)
				b = append(b, `" r="2.5" class="dot`...)
			}
			if m.Negative {
				b = append(b, ` neg`...)
			}
			if m.Provisional {
				b = append(b, ` provisional`...)
			}
			b = append(b, `"><title>`...)
			title = m.Date.AppendFormat(title[:0], "2006-01-02")
			title = p.appendValue(append(title, ": "...), m.Value)
			if m.Provisional {
				title = append(title, " (provisional)"...)
			}
			// A tooltip is a date and a figure: nothing to escape, mostly.
			if bytes.ContainsAny(title, `<>&'"`) {
				b = append(b, templ.EscapeString(string(title))...)
			} else {
				b = append(b, title...)
			}
			if p.Kind == Bars {
				b = append(b, `</title></rect>`...)
			} else {
				b = append(b, `</title></circle>`...)
			}
		}
		*bp = b
		_, err := w.Write(b)
		return err
	})
}

var markBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// appendFloat writes a coordinate as templ writes a float attribute
// (strconv's shortest 'f' form). Layout rounds coordinates to tenths: such
// a value is written from its whole number of tenths, which is what
// strconv would write and a fifth of its cost; any other goes to strconv.
func appendFloat(b []byte, v float64) []byte {
	n := math.Round(v * 10)
	if v == 0 || math.Abs(n) >= 1<<53 || n/10 != v {
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	tenths := int64(n)
	if tenths < 0 {
		b = append(b, '-')
		tenths = -tenths
	}
	b = strconv.AppendInt(b, tenths/10, 10)
	if d := tenths % 10; d != 0 {
		b = append(b, '.', byte('0'+d))
	}
	return b
}

func markGroupClass(k Kind) string {
	if k == Bars {
		return "bars"
	}
	return "dots"
}

// MarkTitle is a mark's tooltip text, as marks writes it (before escaping).
func (p Plot) MarkTitle(m Mark) string {
	if m.Provisional {
		return p.markTitle(m) + " (provisional)"
	}
	return p.markTitle(m)
}

func (p Plot) markTitle(m Mark) string {
	b := m.Date.AppendFormat(nil, "2006-01-02")
	return string(p.appendValue(append(b, ": "...), m.Value))
}

// markClass is the classes a mark adds to "bar" or "dot".
func markClass(m Mark) string {
	c := ""
	if m.Negative {
		c += " neg"
	}
	if m.Provisional {
		c += " provisional"
	}
	return c
}
