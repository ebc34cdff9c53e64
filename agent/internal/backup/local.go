package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/branchwatch/branchwatch/agent/internal/pgtools"
	"github.com/branchwatch/branchwatch/shared/layout"
)

// ChecksumExt is the extension of the file beside each local dump holding
// its SHA-256 in sha256sum format ("<hex>  <name>"), so that `sha256sum -c`
// checks it and the agent need not rehash a dump to compare it.
const ChecksumExt = ".sha256"

// LocalDump is a promoted dump in BACKUP_DIR.
type LocalDump struct {
	Path  string
	Name  string
	Taken time.Time
	Size  int64
	// SHA256 is from the checksum file; "" when there is none (Checksum
	// computes it).
	SHA256 string
	// DumpVersion and ServerVersion are known for a dump just taken only.
	DumpVersion, ServerVersion pgtools.Version
}

// ListLocal returns the dumps of branch in dir, oldest first: only regular
// files whose names parse as that branch's dumps. A missing dir has none.
func ListLocal(dir, branch string, loc *time.Location) ([]LocalDump, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []LocalDump
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		d, err := layout.ParseDumpName(e.Name(), loc)
		if err != nil || d.Branch != branch || d.Encrypted {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(dir, e.Name())
		sum, _ := ReadChecksum(p)
		out = append(out, LocalDump{Path: p, Name: e.Name(), Taken: d.Taken, Size: fi.Size(), SHA256: sum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Taken.Before(out[j].Taken) })
	return out, nil
}

// Checksum returns the dump's SHA-256: from its checksum file, or computed
// and written there when the file is missing.
func (d *LocalDump) Checksum() (string, error) {
	if d.SHA256 != "" {
		return d.SHA256, nil
	}
	sum, size, err := HashFile(d.Path)
	if err != nil {
		return "", err
	}
	d.SHA256, d.Size = sum, size
	_ = WriteChecksum(d.Path, sum)
	return sum, nil
}

// HashFile returns the SHA-256 (lower-case hex) and size of a file.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashReader(f)
}

func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// WriteChecksum writes the checksum file of the dump at path.
func WriteChecksum(path, sum string) error {
	tmp := filepath.Join(filepath.Dir(path), tempPrefix+filepath.Base(path)+ChecksumExt)
	line := sum + "  " + filepath.Base(path) + "\n"
	if err := os.WriteFile(tmp, []byte(line), 0o640); err != nil {
		return fmt.Errorf("write checksum of %s: %w", path, err)
	}
	if err := os.Rename(tmp, path+ChecksumExt); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write checksum of %s: %w", path, err)
	}
	return nil
}

// ReadChecksum reads the checksum file of the dump at path.
func ReadChecksum(path string) (string, error) {
	b, err := os.ReadFile(path + ChecksumExt)
	if err != nil {
		return "", err
	}
	sum, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !IsSHA256(sum) {
		return "", fmt.Errorf("%s%s: not a SHA-256 line", path, ChecksumExt)
	}
	return sum, nil
}

// IsSHA256 reports whether s is 64 lower-case hex digits.
func IsSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// applyRetention deletes this branch's local dumps (and their checksum
// and manifest files) taken more than RetentionDays before now, never the
// newest.
func (r *Runner) applyRetention(now time.Time) ([]string, error) {
	dumps, err := ListLocal(r.opts.BackupDir, r.opts.BranchID, r.opts.Location)
	if err != nil {
		return nil, fmt.Errorf("backup: local retention: %w", err)
	}
	if len(dumps) == 0 {
		return nil, nil
	}
	cutoff := now.In(r.opts.Location).AddDate(0, 0, -r.opts.RetentionDays)
	var pruned []string
	var errs []error
	for _, d := range dumps[:len(dumps)-1] { // the newest is kept whatever its age
		if !d.Taken.Before(cutoff) {
			continue
		}
		if err := os.Remove(d.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(d.Path + ChecksumExt)
		_ = os.Remove(d.Path + layout.ManifestExt)
		pruned = append(pruned, d.Name)
		r.log.Info("local retention: deleted an old dump", "dump", d.Path, "taken", d.Taken.Format(time.RFC3339),
			"retention_days", r.opts.RetentionDays)
	}
	if len(errs) > 0 {
		return pruned, fmt.Errorf("backup: local retention: %w", errors.Join(errs...))
	}
	return pruned, nil
}

// UnreadableExt is appended to a local dump that pg_restore cannot read:
// the name no longer parses as a dump, so it is never uploaded, never
// restored and never counted by local retention, and stays for a person to
// look at.
const UnreadableExt = ".unreadable"

// quarantine renames a local dump pg_restore cannot read (and its checksum
// and manifest files) out of the way and says so at ERROR.
func (r *Runner) quarantine(d LocalDump, cause error) {
	to := d.Path + UnreadableExt
	if err := os.Rename(d.Path, to); err != nil {
		r.log.Error("catch-up: pg_restore cannot read a local dump, and it could not be set aside: not uploaded",
			"dump", d.Path, "error", cause, "rename_error", err)
		return
	}
	for _, ext := range []string{ChecksumExt, layout.ManifestExt} {
		if err := os.Rename(d.Path+ext, to+ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("could not rename a file beside an unreadable dump", "file", d.Path+ext, "error", err)
		}
	}
	r.log.Error("catch-up: pg_restore cannot read a local dump: renamed, not uploaded, not counted by retention",
		"dump", d.Path, "renamed_to", to, "error", cause)
}

// ListUnreadable returns the names of the dumps of branch in dir that were
// set aside as unreadable (*.dump.unreadable).
func ListUnreadable(dir, branch string, loc *time.Location) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), UnreadableExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if d, err := layout.ParseDumpName(name, loc); err == nil && d.Branch == branch {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// MetricUnreadableDumps is the gauge of dumps set aside as unreadable.
const MetricUnreadableDumps = "branchwatch_agent_unreadable_dumps"

// UnreadableCollector is a gauge, read at each scrape, of this branch's
// dumps in dir set aside as unreadable: non-zero means a dump pg_restore
// cannot read sits in BACKUP_DIR and was not uploaded.
func UnreadableCollector(dir, branch string, loc *time.Location) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MetricUnreadableDumps,
		Help: "Local dumps pg_restore cannot read, renamed *.dump.unreadable in BACKUP_DIR: never uploaded, never counted by retention.",
	}, func() float64 {
		names, err := ListUnreadable(dir, branch, loc)
		if err != nil {
			return -1
		}
		return float64(len(names))
	})
}
