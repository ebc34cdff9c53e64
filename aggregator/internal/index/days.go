package index

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// Days is one branch's good metrics documents in date order, stored by
// column so that 5,000 branches × 3 years fit in well under a gibibyte:
// a date column (for searching), a row offset column, and one byte slice
// of rows, each row the document's figures as varints. Strings (branch
// id, branch names, currencies, and any ETag or generated_at that does
// not round-trip through its compact form) are interned once per branch.
// Derived figures are recomputed on reading (metrics.Document.Derive)
// unless a document's own disagree, in which case the row keeps them.
// There is no per-document map or pointer. A Days is immutable: it is
// built by a DaysBuilder and shared by the indexes that did not change it.
type Days struct {
	date []int32  // days since 1970-01-01, ascending
	off  []uint32 // start of each row in rows
	rows []byte
	strs []string // strs[0] is the branch id
}

// NewDays builds the Days of branch id from docs (sorted by date here).
func NewDays(id string, docs []Doc) Days {
	b := NewDaysBuilder(id, nil)
	for _, d := range docs {
		b.Add(d)
	}
	return b.Build()
}

// Len is the number of documents.
func (d *Days) Len() int { return len(d.date) }

// Date is the summary date of document i, YYYY-MM-DD.
func (d *Days) Date(i int) string { return dayString(d.date[i]) }

// Search is the first document whose date is on or after date.
func (d *Days) Search(date string) int {
	day, ok := parseDay(date)
	if !ok {
		// Not a date: compare as strings, as the index always did.
		lo, _ := slices.BinarySearchFunc(d.date, date, func(x int32, s string) int {
			return strings.Compare(dayString(x), s)
		})
		return lo
	}
	i, _ := slices.BinarySearch(d.date, day)
	return i
}

// At is document i, with its listing facts.
func (d *Days) At(i int) Doc { return d.decode(i, true) }

// Figures is document i without its listing facts (size, ETag), its
// instance or its generated_at: what a page of figures reads, decoded
// for less.
func (d *Days) Figures(i int) metrics.Document { return d.decode(i, false).Document }

// Instance is the agent instance id of document i ("" for none) and,
// with one, when the document was generated (zero if unreadable): what
// the instances check reads, without decoding the document.
func (d *Days) Instance(i int) (string, time.Time) {
	r := rowReader{b: d.rows[d.off[i]:d.end(i)]}
	flags := r.uvarint()
	if flags&flagInstance == 0 {
		return "", time.Time{}
	}
	r.varint()  // schema version
	r.uvarint() // name
	r.uvarint() // currency
	var at time.Time
	if flags&flagGenString != 0 {
		doc := metrics.Document{GeneratedAt: d.strs[r.uvarint()]}
		at, _ = doc.GeneratedTime()
	} else {
		sec := int64(d.date[i])*86400 + r.varint()
		zone := r.varint() * 60
		at = time.Unix(sec, 0).In(fixedZone(int(zone)))
	}
	r.skipListing(flags)
	return d.strs[r.uvarint()], at
}

// FinalNet is document i's is_final and net revenue, read from its row
// without the rest: the business series' prefix sums read every document
// of every branch after a restart, and need no more.
func (d *Days) FinalNet(i int) (final bool, net int64) {
	r := rowReader{b: d.rows[d.off[i]:d.end(i)]}
	flags := r.uvarint()
	r.varint()  // schema_version
	r.uvarint() // branch name
	r.uvarint() // currency
	if flags&flagGenString != 0 {
		r.uvarint()
	} else {
		r.varint()
		r.varint()
	}
	r.skipListing(flags)
	if flags&flagInstance != 0 {
		r.uvarint()
	}
	// The base figures start total_bills, refund_count, gross_revenue,
	// discount_amount, refund_amount (baseFields); net_revenue is the
	// first derived one (derivedFields).
	var base [5]int64
	for k := range base {
		base[k] = r.varint()
	}
	if flags&flagDerivedKept == 0 {
		return flags&flagFinal != 0, base[2] - base[3] - base[4]
	}
	r.b, _ = skipVarints(r.b, 13-len(base))
	return flags&flagFinal != 0, r.varint()
}

// Day is the summary date of document i, midnight UTC.
func (d *Days) Day(i int) time.Time { return time.Unix(int64(d.date[i])*86400, 0).UTC() }

func (d *Days) decode(i int, full bool) Doc {
	r := rowReader{b: d.rows[d.off[i]:d.end(i)]}
	var x Doc
	flags := r.uvarint()
	x.SchemaVersion = int(r.varint())
	x.BranchID = d.strs[0]
	x.SummaryDate = dayString(d.date[i])
	x.BranchName = d.strs[r.uvarint()]
	x.Currency = d.strs[r.uvarint()]
	if flags&flagGenString != 0 {
		gen := d.strs[r.uvarint()]
		if full {
			x.GeneratedAt = gen
		}
	} else {
		sec := int64(d.date[i])*86400 + r.varint()
		zone := r.varint() * 60
		if full {
			x.GeneratedAt = metrics.FormatGeneratedAt(time.Unix(sec, 0).In(fixedZone(int(zone))))
		}
	}
	x.IsFinal = flags&flagFinal != 0
	x.Size = r.varint()
	switch {
	case flags&flagETagString != 0:
		x.ETag = d.strs[r.uvarint()]
	case flags&flagETagMD5 != 0:
		b := r.next(16)
		if full {
			h := hex.EncodeToString(b)
			if flags&flagETagQuoted != 0 {
				h = `"` + h + `"`
			}
			x.ETag = h
		}
	}
	if flags&flagInstance != 0 {
		x.Instance = d.strs[r.uvarint()]
	}
	for _, p := range baseFields(&x.Document) {
		*p = r.varint()
	}
	if flags&flagDerivedKept != 0 {
		for _, p := range derivedFields(&x.Document) {
			*p = r.varint()
		}
	} else {
		x.Derive()
	}
	if !full {
		x.Size, x.ETag, x.Instance = 0, "", ""
	}
	return x
}

// Slice is documents lo to hi-1, sharing d's columns.
func (d *Days) Slice(lo, hi int) Days {
	if lo >= hi {
		return Days{strs: d.strs}
	}
	return Days{date: d.date[lo:hi:hi], off: d.off[lo:hi:hi], rows: d.rows[:d.end(hi-1)], strs: d.strs}
}

// SameAs reports whether document i of d and of o have the same date
// and the same row: the same figures, ETag and size (rows built from one
// another share their string indices; otherwise a difference in those is
// reported as a change, which only costs a rebuilt branch).
func (d *Days) SameAs(i int, o *Days) bool {
	return i < o.Len() && d.date[i] == o.date[i] && bytes.Equal(d.rows[d.off[i]:d.end(i)], o.rows[o.off[i]:o.end(i)])
}

// Equal reports whether d and o hold the same documents: the same dates,
// rows and strings. It is quick when they share their storage (a branch
// a sync left as it was), and compares row by row otherwise (a sync that
// listed the branch again copies its rows).
func (d *Days) Equal(o *Days) bool {
	if d.Len() != o.Len() || len(d.rows) != len(o.rows) || !slices.Equal(d.strs, o.strs) {
		return false
	}
	if d.Len() == 0 || &d.date[0] == &o.date[0] && &d.off[0] == &o.off[0] && &d.rows[0] == &o.rows[0] {
		return true
	}
	return slices.Equal(d.date, o.date) && slices.Equal(d.off, o.off) && bytes.Equal(d.rows, o.rows)
}

func (d *Days) end(i int) uint32 {
	if i+1 < len(d.off) {
		return d.off[i+1]
	}
	return uint32(len(d.rows))
}

// Bytes is the memory the Days holds, for reports.
func (d *Days) Bytes() int {
	n := 4*cap(d.date) + 4*cap(d.off) + cap(d.rows) + 16*cap(d.strs)
	for _, s := range d.strs {
		n += len(s)
	}
	return n
}

const (
	flagFinal = 1 << iota
	flagGenString
	flagETagMD5
	flagETagQuoted
	flagETagString
	flagDerivedKept
	flagInstance // an interned agent instance id follows the ETag
)

func baseFields(d *metrics.Document) []*int64 {
	return []*int64{&d.TotalBills, &d.RefundCount, &d.GrossRevenue, &d.DiscountAmount, &d.RefundAmount,
		&d.CGSTCollected, &d.SGSTCollected, &d.CashCollected, &d.DigitalCollected,
		&d.ActualServiceCOGS, &d.ActualProductCOGS, &d.TotalExpenses, &d.TotalTips}
}

func derivedFields(d *metrics.Document) []*int64 {
	return []*int64{&d.NetRevenue, &d.TotalTax, &d.TotalCOGS, &d.GrossProfit, &d.NetProfit}
}

// A DaysBuilder collects a branch's documents, in any order, into a Days.
type DaysBuilder struct {
	src    *Days // rows copied from src keep its string indices
	strs   []string
	strIdx map[string]uint64
	buf    []byte
	rows   []pending
}

type pending struct {
	date       int32
	start, end uint32
}

// NewDaysBuilder starts the Days of branch id. With prev (the branch's
// previous Days, or nil), AddFrom copies prev's rows without decoding them.
func NewDaysBuilder(id string, prev *Days) *DaysBuilder {
	b := &DaysBuilder{src: prev, strIdx: map[string]uint64{}}
	if prev != nil && len(prev.strs) > 0 && prev.strs[0] == id {
		b.strs = slices.Clone(prev.strs)
	} else {
		b.strs = []string{id}
		b.src = nil
	}
	for i, s := range b.strs {
		if _, ok := b.strIdx[s]; !ok {
			b.strIdx[s] = uint64(i)
		}
	}
	return b
}

func (b *DaysBuilder) intern(s string) uint64 {
	if i, ok := b.strIdx[s]; ok {
		return i
	}
	b.strs = append(b.strs, s)
	b.strIdx[s] = uint64(len(b.strs) - 1)
	return uint64(len(b.strs) - 1)
}

// Len is the number of documents added so far.
func (b *DaysBuilder) Len() int { return len(b.rows) }

// Add adds one document. A document whose summary date does not parse is
// kept with date 0 (1970-01-01): the index only holds validated ones.
func (b *DaysBuilder) Add(x Doc) {
	day, _ := parseDay(x.SummaryDate)
	start := uint32(len(b.buf))
	var flags uint64
	if x.IsFinal {
		flags |= flagFinal
	}
	var genSec, genZone int64
	if t, err := time.Parse(time.RFC3339, x.GeneratedAt); err == nil {
		_, off := t.Zone()
		genSec, genZone = t.Unix()-int64(day)*86400, int64(off/60)
		if off%60 != 0 || metrics.FormatGeneratedAt(time.Unix(t.Unix(), 0).In(fixedZone(off))) != x.GeneratedAt {
			flags |= flagGenString
		}
	} else {
		flags |= flagGenString
	}
	var md5 []byte
	etag := x.ETag
	quoted := len(etag) == 34 && etag[0] == '"' && etag[33] == '"'
	if quoted {
		etag = etag[1:33]
	}
	if h, err := hex.DecodeString(etag); err == nil && len(h) == 16 && hex.EncodeToString(h) == etag {
		md5 = h
		flags |= flagETagMD5
		if quoted {
			flags |= flagETagQuoted
		}
	} else if x.ETag != "" {
		flags |= flagETagString
	}
	if x.Instance != "" {
		flags |= flagInstance
	}
	derived := x.Document
	derived.Derive()
	if derived != x.Document {
		flags |= flagDerivedKept
	}
	b.buf = binary.AppendUvarint(b.buf, flags)
	b.buf = binary.AppendVarint(b.buf, int64(x.SchemaVersion))
	b.buf = binary.AppendUvarint(b.buf, b.intern(x.BranchName))
	b.buf = binary.AppendUvarint(b.buf, b.intern(x.Currency))
	if flags&flagGenString != 0 {
		b.buf = binary.AppendUvarint(b.buf, b.intern(x.GeneratedAt))
	} else {
		b.buf = binary.AppendVarint(b.buf, genSec)
		b.buf = binary.AppendVarint(b.buf, genZone)
	}
	b.buf = binary.AppendVarint(b.buf, x.Size)
	switch {
	case flags&flagETagString != 0:
		b.buf = binary.AppendUvarint(b.buf, b.intern(x.ETag))
	case md5 != nil:
		b.buf = append(b.buf, md5...)
	}
	if flags&flagInstance != 0 {
		b.buf = binary.AppendUvarint(b.buf, b.intern(x.Instance))
	}
	doc := x.Document
	for _, p := range baseFields(&doc) {
		b.buf = binary.AppendVarint(b.buf, *p)
	}
	if flags&flagDerivedKept != 0 {
		for _, p := range derivedFields(&doc) {
			b.buf = binary.AppendVarint(b.buf, *p)
		}
	}
	b.rows = append(b.rows, pending{date: day, start: start, end: uint32(len(b.buf))})
}

// AddFrom adds document i of the builder's prev without decoding it; it
// decodes and re-adds when src is not that prev.
func (b *DaysBuilder) AddFrom(src *Days, i int) {
	if src != b.src || src == nil {
		b.Add(src.At(i))
		return
	}
	start := uint32(len(b.buf))
	b.buf = append(b.buf, src.rows[src.off[i]:src.end(i)]...)
	b.rows = append(b.rows, pending{date: src.date[i], start: start, end: uint32(len(b.buf))})
}

// AddRange adds documents lo to hi-1 of src (see AddFrom).
func (b *DaysBuilder) AddRange(src *Days, lo, hi int) {
	for i := lo; i < hi; i++ {
		b.AddFrom(src, i)
	}
}

// Build returns the Days, its rows sorted by date (stably: documents of
// the same date keep the order they were added in).
func (b *DaysBuilder) Build() Days {
	rows := b.rows
	if !slices.IsSortedFunc(rows, cmpPending) {
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, cmpPending)
	}
	d := Days{date: make([]int32, len(rows)), off: make([]uint32, len(rows)), strs: slices.Clip(b.strs)}
	size := 0
	for _, r := range rows {
		size += int(r.end - r.start)
	}
	d.rows = make([]byte, 0, size)
	for i, r := range rows {
		d.date[i] = r.date
		d.off[i] = uint32(len(d.rows))
		d.rows = append(d.rows, b.buf[r.start:r.end]...)
	}
	if len(rows) == 0 {
		d = Days{strs: d.strs}
	}
	return d
}

func cmpPending(a, b pending) int { return int(a.date) - int(b.date) }

// GobEncode writes the columns as they are.
func (d Days) GobEncode() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(16 + 8*len(d.date) + len(d.rows))
	w := func(v uint64) { buf.Write(binary.AppendUvarint(nil, v)) }
	w(1) // the encoding's version
	w(uint64(len(d.date)))
	for _, x := range d.date {
		_ = binary.Write(&buf, binary.LittleEndian, x)
	}
	for _, x := range d.off {
		_ = binary.Write(&buf, binary.LittleEndian, x)
	}
	w(uint64(len(d.rows)))
	buf.Write(d.rows)
	w(uint64(len(d.strs)))
	for _, s := range d.strs {
		w(uint64(len(s)))
		buf.WriteString(s)
	}
	return buf.Bytes(), nil
}

var errDays = errors.New("index snapshot: malformed document columns")

// GobDecode reads what GobEncode wrote, checking every length.
func (d *Days) GobDecode(p []byte) error {
	r := rowReader{b: p}
	if r.uvarint() != 1 {
		return errDays
	}
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b))/8 {
		return errDays
	}
	cols := r.next(int(n) * 8)
	date, off := make([]int32, n), make([]uint32, n)
	for i := range date {
		date[i] = int32(binary.LittleEndian.Uint32(cols[4*i:]))
		off[i] = binary.LittleEndian.Uint32(cols[4*int(n)+4*i:])
	}
	rl := r.uvarint()
	if r.bad || rl > uint64(len(r.b)) {
		return errDays
	}
	rows := slices.Clone(r.next(int(rl)))
	ns := r.uvarint()
	if r.bad || ns > uint64(len(r.b))+1 {
		return errDays
	}
	strs := make([]string, ns)
	for i := range strs {
		l := r.uvarint()
		if r.bad || l > uint64(len(r.b)) {
			return errDays
		}
		strs[i] = string(r.next(int(l)))
	}
	for i := range off {
		if off[i] > uint32(len(rows)) || (i > 0 && (off[i] < off[i-1] || date[i] < date[i-1])) {
			return errDays
		}
	}
	if r.bad || len(r.b) != 0 || (n > 0 && ns == 0) {
		return errDays
	}
	*d = Days{date: date, off: off, rows: rows, strs: strs}
	if n == 0 {
		d.date, d.off, d.rows = nil, nil, nil
	}
	return d.check()
}

// check decodes every row once, so that a damaged snapshot is refused at
// load rather than found while serving.
func (d *Days) check() (err error) {
	defer func() {
		if recover() != nil {
			err = errDays
		}
	}()
	for i := range d.date {
		r := rowReader{b: d.rows[d.off[i]:d.end(i)]}
		flags := r.uvarint()
		r.varint()
		for _, idx := range []uint64{r.uvarint(), r.uvarint()} {
			if idx >= uint64(len(d.strs)) {
				return errDays
			}
		}
		if flags&flagGenString != 0 {
			if r.uvarint() >= uint64(len(d.strs)) {
				return errDays
			}
		} else {
			r.varint()
			r.varint()
		}
		r.varint()
		switch {
		case flags&flagETagString != 0:
			if r.uvarint() >= uint64(len(d.strs)) {
				return errDays
			}
		case flags&flagETagMD5 != 0:
			r.next(16)
		}
		if flags&flagInstance != 0 && r.uvarint() >= uint64(len(d.strs)) {
			return errDays
		}
		n := 13
		if flags&flagDerivedKept != 0 {
			n += 5
		}
		if rest, ok := skipVarints(r.b, n); r.bad || !ok || len(rest) != 0 {
			return fmt.Errorf("%w (row %d)", errDays, i)
		}
	}
	return nil
}

// skipVarints skips n varints at the start of b, refusing what
// binary.Varint would (a truncated or overlong one): at 5.48 M rows of 13
// figures each, a tight loop rather than n decodes counts at load.
func skipVarints(b []byte, n int) (rest []byte, ok bool) {
	for ; n > 0; n-- {
		i := 0
		for {
			if i == len(b) {
				return nil, false
			}
			c := b[i]
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return nil, false
			}
			i++
			if c < 0x80 {
				break
			}
		}
		b = b[i:]
	}
	return b, true
}

// skipListing skips a row's size and ETag (as flags has it).
func (r *rowReader) skipListing(flags uint64) {
	r.varint() // size
	switch {
	case flags&flagETagString != 0:
		r.uvarint()
	case flags&flagETagMD5 != 0:
		r.next(16)
	}
}

// rowReader reads varints from b; bad says it ran past the end.
type rowReader struct {
	b   []byte
	bad bool
}

func (r *rowReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rowReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rowReader) next(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return make([]byte, n)
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

var zones sync.Map // int offset → *time.Location

var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func parseDay(s string) (int32, bool) {
	t, err := layout.ParseDate(s)
	if err != nil {
		return 0, false
	}
	return int32(t.Sub(epoch).Hours() / 24), true
}

func dayString(day int32) string {
	y, m, dd := epoch.AddDate(0, 0, int(day)).Date()
	if y < 0 || y > 9999 {
		return epoch.AddDate(0, 0, int(day)).Format(layout.DateFormat)
	}
	b := [10]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + int(m)/10), byte('0' + int(m)%10), '-', byte('0' + dd/10), byte('0' + dd%10)}
	return string(b[:])
}

// fixedZone returns a zone of offset seconds, shared per offset: the
// documents of a branch have one or two offsets, and time.FixedZone
// allocates.
func fixedZone(offset int) *time.Location {
	if z, ok := zones.Load(offset); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return z.(*time.Location)
}
