package restore

import (
	"fmt"
	"io"
	"time"
)

// progressBar rewrites one terminal line ("\r...") as bytes pass through it,
// at most every 200 ms and on each whole percent.
type progressBar struct {
	w         io.Writer
	label     string
	total     int64
	done      int64
	lastPct   int64
	lastPrint time.Time
	now       func() time.Time
}

func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	p := &progressBar{w: w, label: label, total: total, lastPct: -1, now: time.Now}
	p.print()
	return p
}

// Write counts bytes; it never fails.
func (p *progressBar) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	pct := p.percent()
	if pct != p.lastPct && p.now().Sub(p.lastPrint) >= 200*time.Millisecond {
		p.print()
	}
	return len(b), nil
}

func (p *progressBar) percent() int64 {
	if p.total <= 0 {
		return 100
	}
	return min(100, p.done*100/p.total)
}

func (p *progressBar) print() {
	p.lastPct, p.lastPrint = p.percent(), p.now()
	fmt.Fprintf(p.w, "\r%s: %3d%% (%s of %s)", p.label, p.lastPct, mib(p.done), mib(p.total))
}

// finish prints the final state and ends the line. Safe on a nil bar.
func (p *progressBar) finish(ok bool) {
	if p == nil {
		return
	}
	p.print()
	if ok {
		fmt.Fprintln(p.w, " done")
	} else {
		fmt.Fprintln(p.w, " failed")
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
