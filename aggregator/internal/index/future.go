package index

import "time"

// FutureSlack is how far past the aggregator's clock a branch's object may
// be dated: anything later was written under a clock that jumped ahead.
// Such objects are flagged, and left out of the freshness checks and of
// where a refresh starts listing, so that one dump dated 2031 cannot
// switch a branch's alerts off until 2031.
const FutureSlack = 24 * time.Hour

// Future is what a branch holds dated more than FutureSlack past the clock.
type Future struct {
	Docs    []Doc    // good documents whose summary date starts after the limit
	Bad     []BadDoc // bad documents whose key date does
	Backups []Backup // dumps whose name's time is after the limit
}

// Len counts the future-dated objects.
func (f Future) Len() int { return len(f.Docs) + len(f.Bad) + len(f.Backups) }

// Present splits the branch at now+FutureSlack: it returns the branch
// without its future-dated objects (b itself when it has none, else a
// shallow copy sharing b's columns and arrays) and those objects. Dates are read in
// loc, the branch's zone: a document is future-dated when its business
// date begins after now+FutureSlack there.
func (b *Branch) Present(now time.Time, loc *time.Location) (*Branch, Future) {
	limit := now.Add(FutureSlack).In(loc)
	lastDate := DateString(limit)
	var f Future
	nd := b.Docs.Len()
	for nd > 0 && b.Docs.Date(nd-1) > lastDate {
		nd--
	}
	for i := nd; i < b.Docs.Len(); i++ {
		f.Docs = append(f.Docs, b.Docs.At(i))
	}
	nb := len(b.Backups)
	for nb > 0 && b.Backups[nb-1].Taken(loc).After(limit) {
		nb--
	}
	f.Backups = b.Backups[nb:len(b.Backups):len(b.Backups)]
	for _, bd := range b.Bad {
		if bd.Date > lastDate {
			f.Bad = append(f.Bad, bd)
		}
	}
	if f.Len() == 0 {
		return b, Future{}
	}
	p := *b
	p.Docs, p.Backups = b.Docs.Slice(0, nd), b.Backups[:nb:nb]
	if len(f.Bad) > 0 {
		p.Bad = make([]BadDoc, 0, len(b.Bad)-len(f.Bad))
		for _, bd := range b.Bad {
			if bd.Date <= lastDate {
				p.Bad = append(p.Bad, bd)
			}
		}
	}
	return &p, f
}
