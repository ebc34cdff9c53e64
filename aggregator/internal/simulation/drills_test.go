package simulation_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/shared/drill"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// drillCase is one branch of TestDrillsOnRealAgents: what spoils its
// drill, and the words the aggregator must show for it.
type drillCase struct {
	name      string
	encrypted bool
	// spoil runs between the backup and the drill; it may change the
	// drill's environment. It returns the words the drill check's reason
	// must hold ("" for the good branch).
	spoil func(t *testing.T, d *drillSim, b *branch, key string, env map[string]string) string
}

// drillSim is the shared part of TestDrillsOnRealAgents.
type drillSim struct {
	pg     *testenv.Postgres
	owner  *store.S3
	agents *agents
	keygen func(t *testing.T) (identityFile, recipient string)
}

// Backups at 22:30 on Saturday 7 March, drills at 03:00 on Sunday 8 March
// (VERIFY_SCHEDULE's default hour), the aggregator's look at 09:00.
var (
	drillBackupAt = time.Date(2026, 3, 7, 17, 0, 0, 0, time.UTC)
	drillAt       = time.Date(2026, 3, 7, 21, 30, 0, 0, time.UTC)
	drillLookAt   = time.Date(2026, 3, 8, 3, 30, 0, 0, time.UTC)
)

// TestDrillsOnRealAgents is the drills issue's end to end: each branch's
// real agent binary takes a real backup (pg_dump, manifest counted in the
// dump's snapshot) into a loopback S3 server and runs `agent verify`,
// which writes its drill record to that bucket. Four drills fail, each in
// its own way: the cloud object tampered with (checksum), a manifest
// count edited in the bucket, a database role without CREATEDB for the
// scratch database, the wrong identity file for an encrypted dump; one
// passes. The aggregator, syncing the same bucket with its real syncer,
// shows each failure as a `down` drill check whose reason says why, in the
// service's view and in /api/v1, and the good one `up`.
func TestDrillsOnRealAgents(t *testing.T) {
	cases := []drillCase{
		{name: "passes"},
		{name: "tampered cloud object", spoil: tamperObject},
		{name: "manifest count edited", spoil: editManifestCount},
		{name: "role without CREATEDB", spoil: noCreateDB},
		{name: "wrong identity file", encrypted: true, spoil: wrongIdentity},
	}
	ctx := context.Background()
	s3 := testenv.StartS3(t)
	d := &drillSim{pg: testenv.PG(t), owner: s3.Store(t), agents: &agents{bin: buildAgent(t)}, keygen: ageKeygen(t)}
	var ids []string
	want, keys := map[string]string{}, map[string]string{}
	for i, tc := range cases {
		b := newBranch(t, d.pg, i, s3.Env())
		ids = append(ids, b.ID)
		var identity string
		if tc.encrypted {
			var recipient string
			identity, recipient = d.keygen(t)
			b.Env["BACKUP_ENCRYPTION_RECIPIENTS"] = recipient
			b.Env["VERIFY_IDENTITY_FILE"] = identity
		}
		for _, args := range [][]string{
			{"demo-data", "--days", "3", "--end", "2026-03-07", "--seed", itoa(i + 1), "--bills-per-day", "20"},
			{"backup"},
		} {
			if r := d.agents.run(ctx, b, drillBackupAt, nil, args...); r.Exit != 0 {
				t.Fatalf("%s: %s", tc.name, r)
			}
		}
		key := d.newestBackup(t, b)
		env := maps.Clone(b.Env)
		words := ""
		if tc.spoil != nil {
			words = tc.spoil(t, d, b, key, env)
		}
		run := d.agents.run(ctx, &branch{ID: b.ID, Env: env}, drillAt, nil, "verify")
		if tc.spoil == nil && run.Exit != 0 || tc.spoil != nil && run.Exit == 0 {
			t.Fatalf("%s: %s", tc.name, run)
		}
		rec := d.record(t, b)
		if rec.OK != (tc.spoil == nil) || rec.BackupKey != key || !strings.Contains(rec.Error, words) {
			t.Fatalf("%s: the agent's drill record says ok=%v backup=%s error=%q; want ok=%v, backup %s, an error naming %q",
				tc.name, rec.OK, rec.BackupKey, rec.Error, tc.spoil == nil, key, words)
		}
		want[b.ID], keys[b.ID] = words, key
	}

	clock := &simClock{}
	clock.Set(drillLookAt)
	ag := startAggregator(t, s3.Env(), ids, clock)
	ag.syncAt(t, drillLookAt)
	checks := map[string]freshness.Check{}
	for _, st := range ag.App.Service.Branches() {
		checks[st.ID] = st.Drill
	}
	api := map[string]freshness.Check{}
	for _, b := range ag.apiBranches(t) {
		api[b.ID] = b.Drill
	}
	for i, tc := range cases {
		id := ids[i]
		for _, view := range []struct {
			name string
			c    freshness.Check
		}{{"service", checks[id]}, {"/api/v1/branches", api[id]}} {
			c := view.c
			if tc.spoil == nil {
				if c.State != freshness.Up || !strings.Contains(c.Reason, "the restore drill of 2026-03-08 passed") {
					t.Errorf("%s (%s), %s: drill check %s %q, want up, passed", tc.name, id, view.name, c.State, c.Reason)
				}
				continue
			}
			if c.State != freshness.Down || !strings.Contains(c.Reason, "the restore drill of 2026-03-08 failed: ") || !strings.Contains(c.Reason, want[id]) {
				t.Errorf("%s (%s), %s: drill check %s %q, want down with a reason naming %q", tc.name, id, view.name, c.State, c.Reason, want[id])
			}
		}
		// The branch page: the drill in its history, and no document of
		// the real agent's refused by the aggregator's validation.
		detail, _ := ag.App.Service.Branch(id)
		if len(detail.Drills) != 1 || detail.Drills[0].OK != (tc.spoil == nil) || detail.Drills[0].BackupKey != keys[id] ||
			!strings.Contains(detail.Drills[0].Error, want[id]) || len(detail.Bad) != 0 {
			t.Errorf("%s (%s): branch page drills %+v, bad documents %+v", tc.name, id, detail.Drills, detail.Bad)
		}
		// The branch page a person reads says why too.
		if page := ag.page(t, "/branches/"+id); !strings.Contains(page, html.EscapeString(want[id])) {
			t.Errorf("%s (%s): the branch page does not say %q", tc.name, id, want[id])
		}
		t.Logf("%-22s %s: %s", tc.name, checks[id].State, checks[id].Reason)
	}
}

// tamperObject flips one byte in the middle of the cloud copy, keeping
// its metadata (the checksum the agent recorded).
func tamperObject(t *testing.T, d *drillSim, _ *branch, key string, _ map[string]string) string {
	ctx := context.Background()
	rc, info, err := d.owner.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 0xff
	if _, err := d.owner.Put(ctx, key, bytes.NewReader(body), store.PutOptions{Size: int64(len(body)), Metadata: info.Metadata, ContentType: info.ContentType}); err != nil {
		t.Fatal(err)
	}
	return "checksum mismatch"
}

// editManifestCount adds one row to the count of the first table with
// rows in the manifest the agent uploaded.
func editManifestCount(t *testing.T, d *drillSim, _ *branch, key string, _ map[string]string) string {
	ctx := context.Background()
	mkey, err := layout.ManifestKey(key)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := d.owner.Get(ctx, mkey)
	if err != nil {
		t.Fatalf("the agent's manifest %s: %v", mkey, err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	m, err := manifest.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var table string
	for _, name := range slices.Sorted(maps.Keys(m.Tables)) {
		if m.Tables[name] > 0 {
			table = name
			break
		}
	}
	if table == "" {
		t.Fatalf("manifest %s counts no rows: %v", mkey, m.Tables)
	}
	rows := m.Tables[table]
	m.Tables[table]++
	body, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.owner.Put(ctx, mkey, bytes.NewReader(body), store.PutOptions{Size: int64(len(body)), ContentType: manifest.ContentType}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s: restored %d rows, the manifest says %d", table, rows, rows+1)
}

// noCreateDB runs the drill as a role that may log in but not create
// databases, and no VERIFY_DATABASE_URL: the scratch database cannot be
// created on the branch server.
func noCreateDB(t *testing.T, d *drillSim, b *branch, _ string, env map[string]string) string {
	ctx := context.Background()
	if err := d.pg.Exec(ctx, "postgres", "CREATE ROLE drill_nocreatedb LOGIN NOCREATEDB"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.pg.Exec(context.Background(), "postgres", "DROP ROLE drill_nocreatedb") })
	url := strings.Replace(b.URL, "://"+testenv.Superuser+"@", "://drill_nocreatedb@", 1)
	if url == b.URL {
		t.Fatalf("could not swap the role in %s", b.URL)
	}
	env["DATABASE_URL"] = url
	return "lacks CREATEDB"
}

// wrongIdentity gives the drill an identity file of another key.
func wrongIdentity(t *testing.T, d *drillSim, _ *branch, _ string, env map[string]string) string {
	other, _ := d.keygen(t)
	env["VERIFY_IDENTITY_FILE"] = other
	return "identity did not match any of the recipients"
}

// newestBackup is the key of b's newest dump in the bucket.
func (d *drillSim) newestBackup(t *testing.T, b *branch) string {
	t.Helper()
	prefix, _ := layout.BackupsPrefix(b.ID)
	var newest string
	for o, err := range store.All(context.Background(), d.owner, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		if k, err := layout.ParseKey(o.Key, nil); err == nil && k.Kind == layout.BackupsDir && o.Key > newest {
			newest = o.Key
		}
	}
	if newest == "" {
		t.Fatalf("%s: no backup in the bucket", b.ID)
	}
	return newest
}

// record reads the drill record the agent wrote for drillAt's date.
func (d *drillSim) record(t *testing.T, b *branch) drill.Record {
	t.Helper()
	key, _ := layout.DrillKey(b.ID, drillAt.In(time.FixedZone("IST", 5*3600+1800)))
	rc, _, err := d.owner.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: the drill record %s: %v", b.ID, key, err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	rec, err := drill.Unmarshal(data)
	if err == nil {
		err = rec.Validate()
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", key, err, data)
	}
	return rec
}

// ageKeygen builds age-keygen from the agent module (which requires age)
// and returns a function writing a new identity file, with its recipient.
func ageKeygen(t *testing.T) func(t *testing.T) (string, string) {
	t.Helper()
	bin := buildInAgentModule(t, "filippo.io/age/cmd/age-keygen", "age-keygen")
	public := regexp.MustCompile(`(?m)^# public key: (age1\S+)$`)
	return func(t *testing.T) (string, string) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "identity.txt")
		if out, err := exec.Command(bin, "-o", file).CombinedOutput(); err != nil {
			t.Fatalf("age-keygen: %v\n%s", err, out)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := public.FindSubmatch(data)
		if m == nil {
			t.Fatalf("no public key in %s", file)
		}
		return file, string(m[1])
	}
}

// page reads a dashboard page with the token, as a browser would with its
// cookie.
func (ag *aggregator) page(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ag.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+aggregatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
	}
	return string(body)
}
