package simulation_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

// results are what the final checks counted, for the figures table.
type results struct {
	docs, docsExpected     int
	nights, nightsExpected int
	backups                int
	lost                   int
	restores               int
	alerts                 []string
}

// check is the end of the month: every document, every backup, nothing
// partial or temporary left, a sample of backups restored, and the
// aggregator's view and alerts.
func (m *month) check(t *testing.T) {
	t.Helper()
	objects := readBucket(t, m.owner)
	m.res.docs, m.res.docsExpected = m.checkDocuments(t, objects)
	m.checkBackups(t, objects)
	if keys := unfinishedUploads(t, m.owner); len(keys) > 0 {
		t.Errorf("unfinished multipart uploads left in the bucket: %v", keys)
	}
	for _, b := range m.branches {
		filepath.WalkDir(b.Dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".tmp") {
				t.Errorf("%s: temporary file %s left in BACKUP_DIR", b.ID, path)
			}
			return nil
		})
	}
	for _, k := range m.agents.Uploads() {
		if _, ok := objects[k]; !ok {
			m.res.lost++
			t.Errorf("%s was reported stored and is not in the bucket", k)
		}
	}
	m.restoreSample(t, objects)
	m.checkAlerts(t)
}

// checkDocuments compares every expected document with a recomputation
// from its branch's database.
func (m *month) checkDocuments(t *testing.T, objects map[string]bucketObject) (found, expected int) {
	t.Helper()
	ctx := context.Background()
	first := m.date(-min(m.p.HistoryDays, 14))
	for _, b := range m.branches {
		for d := first; !d.After(m.date(m.p.Nights - 1)); d = d.AddDate(0, 0, 1) {
			expected++
			key, _ := layout.MetricsKey(b.ID, d)
			doc, err := m.document(objects, key)
			if err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			found++
			want, err := recompute(ctx, b.URL, d, m.ist)
			if err != nil {
				t.Fatal(err)
			}
			if diffs := sameFigures(doc, want); len(diffs) > 0 {
				t.Errorf("%s differs from its database: %s", key, strings.Join(diffs, "; "))
			}
			if !doc.IsFinal || doc.BranchID != b.ID || doc.BranchName != b.Name || doc.SummaryDate != d.Format(layout.DateFormat) {
				t.Errorf("%s: final %v, branch %q (%q), date %s", key, doc.IsFinal, doc.BranchID, doc.BranchName, doc.SummaryDate)
			}
		}
	}
	return found, expected
}

// document reads a stored document.
func (m *month) document(objects map[string]bucketObject, key string) (metrics.Document, error) {
	if _, ok := objects[key]; !ok {
		return metrics.Document{}, fmt.Errorf("missing from the bucket")
	}
	rc, _, err := m.owner.Get(context.Background(), key)
	if err != nil {
		return metrics.Document{}, err
	}
	defer rc.Close()
	doc, err := metrics.Decode(rc)
	if err == nil {
		err = doc.Validate()
	}
	return doc, err
}

// checkBackups checks each stored dump's metadata against its content,
// and that every branch has a backup of every night its database was up
// (and none of the night it was down).
func (m *month) checkBackups(t *testing.T, objects map[string]bucketObject) {
	t.Helper()
	nights := map[string]bool{}
	for key, o := range objects {
		branch, night, ok := backupNight(key, m.ist)
		if !ok {
			continue
		}
		m.res.backups++
		if problem := backupProblem(o); problem != "" {
			t.Errorf("%s: %s", key, problem)
			continue
		}
		nights[branch+" "+night] = true
	}
	for i, b := range m.branches {
		for n := range m.p.Nights {
			night := m.date(n).Format(layout.DateFormat)
			down := i == m.p.OutageBranch && n == m.p.OutageNight
			if !down {
				m.res.nightsExpected++
			}
			switch {
			case down && nights[b.ID+" "+night]:
				t.Errorf("%s has a backup of %s, when its database was down", b.ID, night)
			case !down && !nights[b.ID+" "+night]:
				t.Errorf("%s has no good backup of the night of %s", b.ID, night)
			case !down:
				m.res.nights++
			}
		}
	}
}

// restoreSample restores a few backups (the killed night's, the night
// after the outage, the first and the last) into new databases through
// the faulty bucket, and recomputes every day they hold: each must equal
// the document in the bucket.
func (m *month) restoreSample(t *testing.T, objects map[string]bucketObject) {
	t.Helper()
	var keys []string
	for k := range objects {
		if _, _, ok := backupNight(k, m.ist); ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	p := m.p
	want := []struct{ branch, night int }{{p.KillBranch, p.KillNight}, {p.OutageBranch, p.OutageNight + 1}, {0, 0}, {p.Branches - 1, p.Nights - 1}}
	for len(want) < p.Restores {
		want = append(want, struct{ branch, night int }{len(want) % p.Branches, (len(want) * 7) % p.Nights})
	}
	for _, w := range want[:min(p.Restores, len(want))] {
		b, night := m.branches[w.branch], m.date(w.night)
		i := slices.IndexFunc(keys, func(k string) bool {
			br, n, _ := backupNight(k, m.ist)
			return br == b.ID && n == night.Format(layout.DateFormat)
		})
		if i < 0 {
			continue // reported by checkBackups
		}
		target := m.pg.CreateDatabase(t)
		r := &branch{ID: b.ID, Env: map[string]string{}}
		for k, v := range b.Env {
			r.Env[k] = v
		}
		r.Env["BACKUP_DIR"] = t.TempDir() // no local copy: the dump comes from the bucket
		r.Env["RESTORE_TARGET_URL"] = m.pg.URL(target)
		res := m.agents.run(context.Background(), r, m.at(p.Nights, 10, 0, 0), nil, "restore", "--key", dumpName(keys[i]))
		if res.Exit != 0 || !strings.Contains(res.Stdout, "bucket") {
			t.Errorf("restore %s: %s", keys[i], res)
			continue
		}
		m.res.restores++
		for d := m.date(-p.HistoryDays); !d.After(night); d = d.AddDate(0, 0, 1) {
			key, _ := layout.MetricsKey(b.ID, d)
			doc, err := m.document(objects, key)
			if err != nil {
				continue // reported by checkDocuments
			}
			got, err := recompute(context.Background(), m.pg.URL(target), d, m.ist)
			if err != nil {
				t.Fatal(err)
			}
			if diffs := sameFigures(doc, got); len(diffs) > 0 {
				t.Errorf("%s restored from %s differs from %s: %s", d.Format(layout.DateFormat), keys[i], key, strings.Join(diffs, "; "))
			}
		}
	}
}

// checkAlerts waits for every alert to be delivered: exactly one down and
// one recovery per check that the outage took down, nothing else; and the
// API shows every branch up with no bad document.
func (m *month) checkAlerts(t *testing.T) {
	t.Helper()
	m.agg.waitAlertsDelivered(t)
	var want []string
	for _, k := range mapsKeys(m.outageDown) {
		want = append(want, k+" "+"down", k+" "+"recovered")
	}
	got := m.agg.Hook.alerts()
	m.res.alerts = got
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("alerts delivered: %v\nwant exactly: %v", got, want)
	}
	for _, k := range mapsKeys(m.outageDown) {
		if slices.Index(got, k+" recovered") < slices.Index(got, k+" down") {
			t.Errorf("%s: recovery delivered before the outage: %v", k, got)
		}
	}
	if m.agg.Hook.duplicate > 0 {
		t.Errorf("%d alerts delivered twice", m.agg.Hook.duplicate)
	}
	if len(m.outageDown) == 0 {
		t.Error("the outage took nothing down: the alert check proves nothing")
	}
	for id, s := range m.agg.apiStates(t) {
		if s != string(freshness.Up)+"/"+string(freshness.Up)+" bad=0" {
			t.Errorf("at the end, /api/v1/branches shows %s as %s", id, s)
		}
	}
}

func numCPU() int { return runtime.NumCPU() }

func mapsKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// printFigures prints the month's figures.
func (m *month) printFigures(t *testing.T, took time.Duration) {
	t.Helper()
	ag, gg := m.faults.Counts(agentAccessKey), m.faults.Counts(aggregatorAccessKey)
	var b strings.Builder
	fmt.Fprintf(&b, "simulated month: %d branches x %d nights (%s to %s), %d cores, %s\n", m.p.Branches, m.p.Nights,
		m.date(0).Format(time.DateOnly), m.date(m.p.Nights-1).Format(time.DateOnly), numCPU(), took.Round(time.Second))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(name string, agents, aggregator any) { fmt.Fprintf(w, "%s\t%v\t%v\t\n", name, agents, aggregator) }
	row("", "agents", "aggregator")
	row("S3 requests made", ag.Requests.Load(), gg.Requests.Load())
	row("faults injected (500 / 503 / dropped mid-body)", fmt.Sprintf("%d (%d / %d / %d)", ag.faults(), ag.Status500.Load(), ag.Status503.Load(), ag.Dropped.Load()),
		fmt.Sprintf("%d (%d / %d / %d)", gg.faults(), gg.Status500.Load(), gg.Status503.Load(), gg.Dropped.Load()))
	row("requests delayed", ag.Delayed.Load(), gg.Delayed.Load())
	row("retries seen by the server", ag.Retries.Load(), gg.Retries.Load())
	row("commands run / failed / run again", fmt.Sprintf("%d / %d / %d", m.agents.runs.Load(), m.agents.failures.Load(), m.agents.reruns.Load()), "")
	row("syncs / syncs retried", "", fmt.Sprintf("%d / %d", m.agg.Syncs, m.agg.SyncRetries))
	row("PostgreSQL restarts / agents killed mid-upload", fmt.Sprintf("%d / 1", m.restarts), "")
	row("nights backed up / expected", fmt.Sprintf("%d / %d", m.res.nights, m.res.nightsExpected), "")
	row("backup objects (size and SHA-256 checked)", m.res.backups, "")
	row("backups restored and recomputed", m.res.restores, "")
	row("documents pushed / expected (each recomputed)", fmt.Sprintf("%d / %d", m.res.docs, m.res.docsExpected), "")
	row("objects lost", m.res.lost, "")
	row("alerts delivered (webhook POSTs)", "", fmt.Sprintf("%d (%d)", len(m.res.alerts), m.agg.Hook.Posts()))
	w.Flush()
	fmt.Print(b.String())
	t.Log("\n" + b.String())
}
