package dashboard

import (
	"net/url"
	"strconv"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/safetext"
	"github.com/branchwatch/branchwatch/web/view"
)

// This file turns the service's answers into the web module's view models:
// times into the zone they are shown in, dates into midnight UTC, states
// into view states.

func (d *Dashboard) syncStatus(st service.SyncStatus) view.SyncStatus {
	v := view.SyncStatus{Error: st.LastError, Problem: st.Problem}
	if !st.LastSuccess.IsZero() {
		v.Last = st.LastSuccess.In(d.loc)
	}
	return v
}

func state(s freshness.State) view.CheckState { return view.CheckState(s) }

func check(c freshness.Check) view.Check {
	return view.Check{State: state(c.State), Detail: c.Reason}
}

// businessDate reads a YYYY-MM-DD into midnight UTC; zero when malformed
// (the index only holds validated dates).
func businessDate(s string) time.Time {
	t, err := layout.ParseDate(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// inZone is t in loc, keeping the zero time zero.
func inZone(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() || loc == nil {
		return t
	}
	return t.In(loc)
}

// aggregatorName stands for the branch of the aggregator's own alerts
// (its syncs of the bucket), which carry no branch id.
const aggregatorName = "Aggregator (bucket sync)"

func problem(id, name, checkName string, s freshness.State, since time.Time, reason string, loc *time.Location) view.Problem {
	if id == "" {
		name = aggregatorName
	}
	return view.Problem{BranchID: id, BranchName: name, Check: checkName, State: state(s), Since: inZone(since, loc), Detail: reason}
}

// BackupsShown is how many of a branch's newest backups its page lists
// unless asked for all (?backups=all): restores nearly always want a recent
// one, and ninety rows would bury the rest of the page on a phone.
const BackupsShown = 30

func (d *Dashboard) branchModel(b service.BranchDetail, q url.Values) view.BranchPage {
	now := d.svc.Now()
	loc := b.Location
	if loc == nil {
		loc = d.loc
	}
	r := view.ParseRange(q, now.In(loc))
	p := view.BranchPage{
		Now: now, Sync: d.syncStatus(d.svc.LastSync()), ID: b.ID, Name: b.Name,
		Zone: now.In(loc).Format("-07:00"), Metrics: check(b.Metrics), Backup: check(b.Backup),
		Range: r, CSVURL: csvURL(r, b.ID),
	}
	p.Days = make([]view.DayRow, 0, r.Len())
	for day, doc := range d.svc.EachFigures(b.ID, r.From, r.To) {
		p.Days = append(p.Days, view.DayRow{Date: day, Doc: doc})
	}
	p.Grouping = view.ParseGrouping(q)
	p.GroupingURLs = map[view.Grouping]string{}
	for _, g := range view.Groupings {
		gq := r.Query()
		if g != view.ByDay {
			gq.Set("rows", string(g))
		}
		p.GroupingURLs[g] = view.BranchPath(b.ID) + "?" + gq.Encode() + "#daily"
	}
	p.Previous = d.previous(b.ID, r, p.Days)
	list := b.BackupList
	p.BackupsTotal = len(list)
	if len(list) > BackupsShown && q.Get("backups") != "all" {
		list = list[:BackupsShown]
		all := url.Values{"backups": {"all"}}
		for k, v := range r.Query() {
			all[k] = v
		}
		p.AllBackupsURL = view.BranchPath(b.ID) + "?" + all.Encode() + "#backups"
	}
	p.Backups = make([]view.Backup, 0, len(list))
	for _, bk := range list {
		vb := view.Backup{Name: bk.Name, Taken: inZone(bk.Time, loc), Size: bk.Size, SHA256: bk.SHA256, DownloadURL: downloadURL(b.ID, bk.Name)}
		if m := bk.Manifest; m != nil {
			vb.Manifest = &view.BackupManifest{Tables: len(m.Tables), Rows: m.Rows}
		}
		p.Backups = append(p.Backups, vb)
	}
	proofModel(&p, b, loc)
	for _, bd := range b.Bad {
		p.BadDocs = append(p.BadDocs, view.BadDocument{Key: bd.Key, Date: bd.Date, Reason: bd.Reason})
	}
	p.Instances = check(b.Instances)
	if len(b.FutureObjects) > 0 {
		p.FutureDated = check(b.FutureDated)
		for _, f := range b.FutureObjects {
			p.FutureObjects = append(p.FutureObjects, f.Key)
		}
	}
	return p
}

// compareModel compares the branches picked by ?branch= (repeatable; none,
// or none known, compares every branch) over the range of q.
func (d *Dashboard) compareModel(q url.Values) view.ComparePage {
	now := d.svc.Now()
	r := view.ParseRange(q, now.In(d.loc))
	p := view.ComparePage{Now: now, Sync: d.syncStatus(d.svc.LastSync()), Range: r}
	statuses := d.svc.Branches()
	known := make(map[string]bool, len(statuses))
	for _, b := range statuses {
		known[b.ID] = true
	}
	picked := map[string]bool{}
	for _, id := range q["branch"] {
		switch {
		case id == "" || picked[id]:
		case known[id]:
			picked[id] = true
		default:
			p.Ignored++
		}
	}
	p.Selection = len(picked) > 0
	var selected []string
	p.Choices = make([]view.BranchChoice, 0, len(statuses))
	rows := make(map[string]*view.CompareRow, len(statuses))
	p.Rows = make([]view.CompareRow, 0, len(statuses))
	for _, b := range statuses {
		p.Choices = append(p.Choices, view.BranchChoice{ID: b.ID, Name: b.Name, Selected: picked[b.ID]})
		if p.Selection && !picked[b.ID] {
			continue
		}
		if p.Selection {
			selected = append(selected, b.ID)
		}
		p.Rows = append(p.Rows, view.CompareRow{ID: b.ID, Name: b.Name})
	}
	for i := range p.Rows {
		rows[p.Rows[i].ID] = &p.Rows[i]
	}
	p.CSVURL = csvURL(r, selected...)
	branch := ""
	if len(selected) == 1 {
		branch = selected[0]
	}
	for doc := range d.svc.EachMetric(branch, r.From, r.To) {
		// A provisional day is left out of sums, averages and days
		// reported unless the range asks for it.
		if row := rows[doc.BranchID]; row != nil && r.Counts(doc.IsFinal) {
			row.Add(doc)
		}
	}
	for _, row := range p.Rows {
		p.Total.AddRow(row)
	}
	view.RankRows(p.Rows)
	return p
}

func (d *Dashboard) alertsModel() view.AlertsPage {
	current, history := d.svc.Alerts()
	p := view.AlertsPage{Now: d.svc.Now(), Sync: d.syncStatus(d.svc.LastSync())}
	// A problem's since is shown in its branch's zone, as on the overview;
	// a branch the index no longer knows falls back to the aggregator's.
	zones := map[string]*time.Location{}
	if len(current) > 0 {
		for _, b := range d.svc.Branches() {
			zones[b.ID] = b.Location
		}
	}
	for _, pr := range current {
		loc := zones[pr.Branch]
		if loc == nil {
			loc = d.loc
		}
		p.Problems = append(p.Problems, problem(pr.Branch, pr.BranchName, pr.Check, pr.State, pr.Since, pr.Reason, loc))
	}
	for _, rec := range history {
		p.History = append(p.History, alertEvent(rec, d.loc))
	}
	return p
}

func alertEvent(r alert.Record, loc *time.Location) view.AlertEvent {
	e := view.AlertEvent{
		At: inZone(r.Time, loc), Kind: string(r.Kind), BranchID: r.Branch, BranchName: safetext.Display(r.BranchName), Check: r.Check,
		From: state(r.Previous), To: state(r.State), Text: safetext.Display(r.Text), Delivery: r.Status, // (records from older versions)
	}
	if r.Branch == "" {
		e.BranchName = aggregatorName
	}
	if len(r.Deliveries) == 0 {
		e.Delivery = "not sent: no alert channel configured"
	}
	for _, d := range r.Deliveries {
		vd := view.Delivery{Channel: d.Channel, Error: d.LastError}
		switch d.Status {
		case alert.StatusDelivered:
			vd.State = "delivered"
			if !d.DeliveredAt.IsZero() {
				vd.State += " " + d.DeliveredAt.In(loc).Format("2006-01-02 15:04 -07:00")
			}
			vd.Error = ""
		case alert.StatusNotConfigured:
			vd.State = "not sent: channel no longer configured"
		case alert.StatusFailed:
			vd.State, vd.Failed = "failed, not retried ("+plural(d.Attempts, "attempt")+")", true
		default:
			vd.State = d.Status
			if d.Attempts > 0 {
				vd.State += ", " + plural(d.Attempts, "attempt")
				vd.Failed = d.LastError != ""
			}
		}
		e.Failed = e.Failed || vd.Failed
		e.Deliveries = append(e.Deliveries, vd)
	}
	return e
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// previous compares the range's days with the same number of days just
// before it (days that count only: see Range.Counts).
func (d *Dashboard) previous(id string, r view.Range, days []view.DayRow) view.Comparison {
	n := r.Len()
	c := view.Comparison{From: r.From.AddDate(0, 0, -n), To: r.From.AddDate(0, 0, -1)}
	for _, day := range days {
		if r.Counts(day.Doc.IsFinal) {
			c.Days++
			c.Current.Add(day.Doc)
		}
	}
	for _, doc := range d.svc.EachFigures(id, c.From, c.To) {
		if r.Counts(doc.IsFinal) {
			c.PrevDays++
			c.Previous.Add(doc)
		}
	}
	return c
}
