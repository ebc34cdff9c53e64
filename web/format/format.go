// Package format turns the dashboard's numbers into text: money in rupees
// with Indian digit grouping, byte sizes, ages and dates. It returns plain
// strings; templ escapes them where they are rendered.
package format

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Minus is the sign of a negative amount: U+2212, wider and clearer than a
// hyphen, so a loss is visibly a loss.
const Minus = "\u2212"

// Rupee is the currency sign of INR amounts.
const Rupee = "₹"

// Money formats paise as rupees with Indian digit grouping and two decimals:
// 11800000 gives "₹1,18,000.00", -200000 gives "−₹2,000.00".
func Money(paise int64) string {
	var buf [48]byte
	return string(AppendMoney(buf[:0], paise))
}

// AppendMoney appends Money(paise) to b: the dashboard formats thousands
// of amounts per page, and this way they need no allocation of their own.
func AppendMoney(b []byte, paise int64) []byte {
	// Work on the magnitude as uint64 so that math.MinInt64 does not overflow.
	mag := uint64(paise)
	if paise < 0 {
		b = append(b, Minus...)
		mag = uint64(-(paise + 1)) + 1
	}
	b = append(b, Rupee...)
	b = appendIndian(b, mag/100)
	frac := mag % 100
	return append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// MoneyShort formats paise as a short rupee figure for chart axes, in lakhs
// (L, 1,00,000) and crores (Cr, 1,00,00,000): "₹1.2L", "−₹3.5Cr", "₹850".
func MoneyShort(paise int64) string {
	sign := ""
	r := float64(paise) / 100
	if r < 0 {
		sign = Minus
		r = -r
	}
	switch {
	case r >= 1e7:
		return sign + Rupee + trimZero(strconv.FormatFloat(r/1e7, 'f', 1, 64)) + "Cr"
	case r >= 1e5:
		return sign + Rupee + trimZero(strconv.FormatFloat(r/1e5, 'f', 1, 64)) + "L"
	case r >= 1e3:
		return sign + Rupee + trimZero(strconv.FormatFloat(r/1e3, 'f', 1, 64)) + "K"
	default:
		return sign + Rupee + strconv.FormatFloat(math.Round(r), 'f', 0, 64)
	}
}

// IsNegative reports whether an amount is below zero; components use it to
// add the "neg" CSS class beside the minus sign.
func IsNegative(paise int64) bool { return paise < 0 }

// Count formats a whole number with Indian digit grouping: 123456 gives
// "1,23,456".
func Count(n int64) string {
	var buf [32]byte
	return string(AppendCount(buf[:0], n))
}

// AppendCount appends Count(n) to b.
func AppendCount(b []byte, n int64) []byte {
	if n < 0 {
		return appendIndian(append(b, Minus...), uint64(-(n+1))+1)
	}
	return appendIndian(b, uint64(n))
}

// GroupIndian writes n with the Indian grouping: the last three digits, then
// groups of two (1,00,00,000 is one crore).
func GroupIndian(n uint64) string {
	var buf [32]byte
	return string(appendIndian(buf[:0], n))
}

func appendIndian(out []byte, n uint64) []byte {
	var digits [20]byte
	s := strconv.AppendUint(digits[:0], n, 10)
	if len(s) <= 3 {
		return append(out, s...)
	}
	head, tail := s[:len(s)-3], s[len(s)-3:]
	if len(head)%2 == 1 {
		out = append(out, head[0], ',')
		head = head[1:]
	}
	for i := 0; i < len(head); i += 2 {
		out = append(out, head[i], head[i+1], ',')
	}
	return append(out, tail...)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// Bytes formats a size in binary units: "512 B", "1.5 KiB", "2.0 GiB".
func Bytes(n int64) string {
	if n < 0 {
		return Minus + Bytes(-n)
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Age formats how long ago something happened, in words, to the two
// largest units: "just now", "45 seconds", "12 minutes", "3 hours 20
// minutes", "2 days 4 hours". A time in the future (a clock skew between
// hosts) reads "in the future".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return Duration(d.Truncate(time.Second))
	case d < 24*time.Hour:
		return Duration(d.Truncate(time.Minute))
	default:
		return Duration(d.Truncate(time.Hour))
	}
}

// Ago is Age(now − t) followed by " ago", or "never" for the zero time.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	a := Age(now.Sub(t))
	if a == "just now" || a == "in the future" {
		return a
	}
	return a + " ago"
}

// DateTime formats a time in its own zone (pass it in the branch's zone):
// "2026-02-16 22:00 +05:30". The zero time is "—".
func DateTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format(DateTimeLayout)
}

// DateTimeLayout is the layout DateTime writes a time in.
const DateTimeLayout = "2006-01-02 15:04 -07:00"

// Date formats a business date as YYYY-MM-DD; the zero time is "—".
func Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("2006-01-02")
}

// Percent formats a ratio (0.25) as "25.0%".
func Percent(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
}

// Day formats a business date for people: "Sun 30 Nov 2026"; the zero
// time is "—".
func Day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("Mon 2 Jan 2006")
}

// DayRange formats a run of dates: "Sun 30 Nov 2026" for one date, else
// "Mon 24 Nov – Sun 30 Nov 2026" (the first year shown only when the
// years differ).
func DayRange(from, to time.Time) string {
	if from.Equal(to) {
		return Day(to)
	}
	first := "Mon 2 Jan"
	if from.Year() != to.Year() {
		first = "Mon 2 Jan 2006"
	}
	return from.Format(first) + " – " + Day(to)
}

// Change formats a ratio of change as an arrow, a percentage and a word,
// so it reads without colour: "▲ 12.5% up", "▼ 3.0% down", "● no change".
func Change(r float64) string {
	switch {
	case r < 0.0005 && r > -0.0005:
		return "● no change"
	case r > 0:
		return "▲ " + strconv.FormatFloat(r*100, 'f', 1, 64) + "% up"
	default:
		return "▼ " + strconv.FormatFloat(-r*100, 'f', 1, 64) + "% down"
	}
}

// Duration formats a span for people, in its largest whole units: "2
// hours", "1 hour 30 minutes", "3 days", "45 seconds".
func Duration(d time.Duration) string {
	if d < 0 {
		return Minus + Duration(-d)
	}
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	var parts []string
	for _, u := range units {
		if n := int64(d / u.size); n > 0 && len(parts) < 2 {
			parts = append(parts, countNoun(n, u.name))
			d -= time.Duration(n) * u.size
		} else if len(parts) > 0 {
			break
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, " ")
}

func countNoun(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

// ShortDay is a date without the year, "Sun 30 Nov"; "" for the zero time.
func ShortDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("Mon 2 Jan")
}
