package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/branchwatch/branchwatch/agent/internal/backup"
	"github.com/branchwatch/branchwatch/agent/internal/options"
	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/agent/internal/summary"
	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/manifest"
	"github.com/branchwatch/branchwatch/shared/store"
)

// VerifyRequest configures Verify.
type VerifyRequest struct {
	Identities []age.Identity
	WorkDir    string
	Progress   io.Writer
	// Now names the scratch database; nil is time.Now.
	Now func() time.Time
	// ScratchURL is a database the operator provides for drills
	// (VERIFY_DATABASE_URL); it must hold no tables. "" creates a
	// temporary database on the branch server.
	ScratchURL string
	// ProgressEvery is how often a running restore reports progress;
	// 0 is 30 s.
	ProgressEvery time.Duration
}

// TableCount is one restored table and its rows.
type TableCount struct {
	Table string // "schema.name"
	Rows  int64
}

// TableCheck is one table of the manifest or the dump: Expected is nil
// when the manifest did not count it, Restored when it is missing after
// the restore.
type TableCheck struct {
	Expected, Restored *int64
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Key, Name, Origin string
	SHA256            string // of the plain dump, verified
	StoredSHA256      string // of the object as stored in the bucket (the ciphertext of an encrypted dump)
	Database          string // the scratch database (dropped again, or emptied when the operator provided it)
	Tables            []TableCount
	Missing           []string // tables of the dump absent after the restore
	// Manifest is the dump's manifest; nil in local-only mode.
	Manifest *manifest.Manifest
	// Checks are the tables of the manifest and the dump, by name.
	Checks map[string]TableCheck
	// Day is the manifest's business day recomputed from the restored copy
	// (nil when the manifest has none); DayError says why it could not be.
	Day      map[string]int64
	DayError string
	Duration time.Duration
}

// ErrDrillMismatch is wrapped when the restored copy differs from the
// dump's manifest (rows or the day's figures).
var ErrDrillMismatch = errors.New("the restored copy does not match the manifest")

// Verify restores the newest good backup into a scratch database and
// checks it. With a bucket it downloads the bucket's copy (never the local
// file: the drill proves the bucket's bytes), checks its SHA-256, decrypts
// it, reads its manifest, and after the restore compares every table's
// rows and the manifest's business day's figures, recomputed with the
// branch's metrics query, with the manifest. In local-only mode it
// restores the newest local dump and checks its tables arrived. The
// scratch database is dropped (an operator's emptied) whatever happened.
// Any failure is an error; the result is filled as far as Verify got.
func Verify(ctx context.Context, o options.Options, st store.Store, req VerifyRequest, logger *slog.Logger) (res VerifyResult, err error) {
	began := time.Now()
	defer func() { res.Duration = time.Since(began) }()
	log := componentLogger(logger).With("step", "verify")
	if req.Progress != nil {
		req.Progress = &lockedWriter{w: req.Progress} // the restore and its progress reporter share it
	}
	now := req.Now
	if now == nil {
		now = time.Now
	}
	conn, err := pgtools.ParseConn(o.DatabaseURL)
	if err != nil {
		return res, fmt.Errorf("verify: DATABASE_URL: %w", err)
	}
	secrets := pgtools.SweptSecretsDir(workDir(req.WorkDir, o), log)
	conn = conn.WithSecretsDir(secrets)
	src, err := choose(ctx, o, st, "")
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	res.Key, res.Name = src.key, src.name
	res.StoredSHA256 = src.info.Metadata[backup.MetaSHA256]
	if st != nil {
		m, err := ReadManifest(ctx, st, src.key)
		if err != nil {
			return res, fmt.Errorf("verify: %w", err)
		}
		res.Manifest = &m
		if m.SHA256 != res.StoredSHA256 || m.Size != src.info.Size {
			return res, fmt.Errorf("verify: %w: the manifest of %s describes %d bytes with sha256 %s, the object is %d bytes with sha256 %s",
				ErrDrillMismatch, src.key, m.Size, m.SHA256, src.info.Size, res.StoredSHA256)
		}
	}
	f := &fetcher{o: o, st: st, identities: req.Identities, workDir: workDir(req.WorkDir, o), progress: req.Progress, log: log, cloudOnly: true}
	got, err := f.fetch(ctx, src)
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	defer got.cleanup()
	res.Origin, res.SHA256 = got.origin, got.sha256

	scratch, server, drop, err := openScratch(ctx, conn, req.ScratchURL, secrets, now(), log)
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	res.Database = scratch.Database()
	defer func() {
		if derr := drop(); derr != nil && err == nil {
			err = fmt.Errorf("verify: %w", derr)
		}
	}()

	stop := reportProgress(ctx, scratch.URL(), got.name, req.ProgressEvery, req.Progress, log)
	tool, toc, err := listArchive(ctx, o, server, got)
	if err == nil {
		err = pgRestore(ctx, scratch, tool, got, req.Progress, false, log)
	}
	stop()
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	want := toc.Tables()
	if res.Manifest != nil {
		want = slices.Concat(want, slices.Collect(maps.Keys(res.Manifest.Tables)), res.Manifest.NotCounted)
		slices.Sort(want)
		want = slices.Compact(want)
	}
	res.Tables, res.Missing, err = compareTables(ctx, scratch.URL(), want)
	if err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	if res.Manifest == nil {
		if len(res.Missing) > 0 {
			return res, fmt.Errorf("verify: %d of %d tables of %s did not restore: %s",
				len(res.Missing), len(want), got.name, strings.Join(res.Missing, ", "))
		}
		log.Info("verify done", "name", got.name, "tables", len(res.Tables), "duration", time.Since(began).String())
		return res, nil
	}
	res.Checks = checks(*res.Manifest, res.Tables)
	mismatches := tableMismatches(res.Checks)
	if d := res.Manifest.Day; d != nil {
		res.Day, err = recompute(ctx, o, scratch.URL(), d.Date)
		if err != nil {
			res.DayError = err.Error()
			mismatches = append(mismatches, fmt.Sprintf("the figures of %s could not be recomputed: %v", d.Date, err))
		} else if diff := FigureDifferences(d.Figures, res.Day, "manifest"); len(diff) > 0 {
			mismatches = append(mismatches, fmt.Sprintf("figures of %s: %s", d.Date, strings.Join(diff, ", ")))
		}
	}
	if len(mismatches) > 0 {
		return res, fmt.Errorf("verify: %s: %w: %s", got.name, ErrDrillMismatch, strings.Join(mismatches, "; "))
	}
	log.Info("verify done", "name", got.name, "tables", len(res.Tables), "day", res.Manifest.Day != nil, "duration", time.Since(began).String())
	return res, nil
}

// ReadManifest reads the manifest beside the dump at dumpKey and checks it
// (decoding, every rule, its key).
func ReadManifest(ctx context.Context, st store.Store, dumpKey string) (manifest.Manifest, error) {
	key, err := layout.ManifestKey(dumpKey)
	if err != nil {
		return manifest.Manifest{}, err
	}
	rc, _, err := st.Get(ctx, key)
	if store.IsNotFound(err) {
		return manifest.Manifest{}, fmt.Errorf("%s has no manifest (%s): a dump of an agent before manifests, nothing to compare a restore with; the next backup writes one", dumpKey, key)
	}
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, manifest.MaxBytes+1))
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("read manifest %s: %w", key, err)
	}
	m, err := manifest.Unmarshal(data)
	if err == nil {
		err = m.Validate()
	}
	if err == nil {
		err = m.CheckKey(key)
	}
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("manifest %s: %w", key, err)
	}
	return m, nil
}

// checks pairs the manifest's counts with the restored ones.
func checks(m manifest.Manifest, restored []TableCount) map[string]TableCheck {
	out := map[string]TableCheck{}
	for name, n := range m.Tables {
		out[name] = TableCheck{Expected: &n}
	}
	for _, name := range m.NotCounted {
		out[name] = TableCheck{}
	}
	for _, t := range restored {
		c := out[t.Table]
		c.Restored = &t.Rows
		out[t.Table] = c
	}
	return out
}

// tableMismatches describes every table that did not come back as counted.
func tableMismatches(c map[string]TableCheck) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c)) {
		t := c[name]
		switch {
		case t.Restored == nil:
			out = append(out, name+" is missing from the restored copy")
		case t.Expected != nil && *t.Expected != *t.Restored:
			out = append(out, fmt.Sprintf("%s: restored %d rows, the manifest says %d", name, *t.Restored, *t.Expected))
		}
	}
	return out
}

// FigureDifferences lists the figures of got that differ from want
// ("net_revenue: restored 5000, <what> 4000"), in name order.
func FigureDifferences(want, got map[string]int64, what string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: not recomputed, %s %d", name, what, want[name]))
		case g != want[name]:
			out = append(out, fmt.Sprintf("%s: restored %d, %s %d", name, g, what, want[name]))
		}
	}
	return out
}

// recompute runs the branch's metrics query for date on the restored copy.
func recompute(ctx context.Context, o options.Options, url, date string) (map[string]int64, error) {
	q := summary.DefaultQuery()
	if o.MetricsQueryFile != "" {
		var err error
		if q, err = summary.LoadQueryFile(o.MetricsQueryFile); err != nil {
			return nil, err
		}
	}
	d, err := layout.ParseDate(date)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	doc, err := q.Compute(ctx, conn, d, o.Location)
	if err != nil {
		return nil, err
	}
	return doc.Figures(), nil
}

// compareTables counts rows of each table of want in the database and lists
// those missing.
func compareTables(ctx context.Context, url string, want []string) ([]TableCount, []string, error) {
	have, err := listTables(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("list restored tables: %w", err)
	}
	present := map[string]bool{}
	for _, t := range have {
		present[t] = true
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("count rows: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var counts []TableCount
	var missing []string
	for _, t := range want {
		if !present[t] {
			missing = append(missing, t)
			continue
		}
		n, err := rowCount(ctx, conn, t)
		if err != nil {
			return nil, nil, err
		}
		counts = append(counts, TableCount{Table: t, Rows: n})
	}
	return counts, missing, nil
}

// scratchName is "<db>_verify_<YYYYMMDD_HHMMSS>", within PostgreSQL's 63 bytes.
func scratchName(db string, t time.Time) string {
	suffix := "_verify_" + t.UTC().Format("20060102_150405")
	if len(db)+len(suffix) > 63 {
		db = db[:63-len(suffix)]
	}
	return db + suffix
}

func execAdmin(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
