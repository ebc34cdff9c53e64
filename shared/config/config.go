// Package config reads settings from the environment (or flags standing in
// for it) into typed values, collecting every problem with the name of the
// variable, so that a binary can validate all of its Options once at
// start-up and refuse to start with one clear message.
package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/branchwatch/branchwatch/shared/layout"
	"github.com/branchwatch/branchwatch/shared/store"
)

// Lookup finds a variable; os.LookupEnv is one.
type Lookup func(name string) (string, bool)

// Reader reads variables and remembers every error.
type Reader struct {
	lookup    Lookup
	overrides map[string]string
	errs      []problem
}

// problem is one setting's problem.
type problem struct{ name, msg string }

// NewReader reads from lookup (os.LookupEnv in production, a map in tests).
func NewReader(lookup Lookup) *Reader {
	return &Reader{lookup: lookup, overrides: map[string]string{}}
}

// MapLookup turns a map into a Lookup.
func MapLookup(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Override sets a variable from a flag; it wins over the environment.
func (r *Reader) Override(name, value string) { r.overrides[name] = value }

func (r *Reader) get(name string) (string, bool) {
	if v, ok := r.overrides[name]; ok {
		return v, true
	}
	if r.lookup == nil {
		return "", false
	}
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	if ok && v == "" {
		return "", false // an empty variable means "not set"
	}
	return v, ok
}

// Fail records a problem with a variable.
func (r *Reader) Fail(name, format string, args ...any) {
	r.errs = append(r.errs, problem{name, fmt.Sprintf(format, args...)})
}

// Err is every recorded problem, or nil: one line per problem, each
// starting with the variable's name, the messages aligned in one column.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	width := 0
	for _, p := range r.errs {
		width = max(width, len(p.name))
	}
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range r.errs {
		fmt.Fprintf(&b, "\n  %-*s  %s", width+1, p.name+":", p.msg)
	}
	return errors.New(b.String())
}

// Set reports whether the variable is set (non-empty).
func (r *Reader) Set(name string) bool { _, ok := r.get(name); return ok }

// String returns the variable or def.
func (r *Reader) String(name, def string) string {
	if v, ok := r.get(name); ok {
		return v
	}
	return def
}

// Int returns the variable as an integer ≥ min, or def.
func (r *Reader) Int(name string, def, min int) int {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.Fail(name, "%q is not a whole number", v)
		return def
	}
	if n < min {
		r.Fail(name, "%d is below the minimum %d", n, min)
		return def
	}
	return n
}

// Bool returns the variable as a boolean (true/false/1/0/yes/no), or def.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.Fail(name, "%q is not true or false", v)
	return def
}

// Duration returns the variable as a positive Go duration ("5m", "90s"), or def.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.Fail(name, "%q is not a duration (e.g. 5m, 90s, 1h30m)", v)
		return def
	}
	if d < 0 {
		r.Fail(name, "%s is negative", v)
		return def
	}
	return d
}

// Location returns the variable as an IANA time zone, or def's zone.
func (r *Reader) Location(name, def string) *time.Location {
	v := r.String(name, def)
	loc, err := time.LoadLocation(v)
	if err != nil || v == "" || strings.EqualFold(v, "local") {
		r.Fail(name, "%q is not a known IANA time zone (e.g. Asia/Kolkata)", v)
		loc, _ = time.LoadLocation(def)
		if loc == nil {
			loc = time.UTC
		}
	}
	return loc
}

// BranchID returns the variable as a valid branch id, or def.
func (r *Reader) BranchID(name, def string) string {
	v := r.String(name, def)
	if err := layout.ValidateBranchID(v); err != nil {
		r.Fail(name, "%v", err)
	}
	return v
}

// List returns a comma-separated list, trimmed, empty items dropped.
func (r *Reader) List(name string) []string {
	v, ok := r.get(name)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// S3 variable names, shared by the agent and the aggregator.
const (
	EnvS3Endpoint       = "BACKUP_S3_ENDPOINT"
	EnvS3Bucket         = "BACKUP_S3_BUCKET"
	EnvS3AccessKey      = "BACKUP_S3_ACCESS_KEY"
	EnvS3SecretKey      = "BACKUP_S3_SECRET_KEY"
	EnvS3Region         = "BACKUP_S3_REGION"
	EnvS3ForcePathStyle = "BACKUP_S3_FORCE_PATH_STYLE"
	DefaultS3Region     = "us-west-004"
)

// S3 reads the BACKUP_S3_* settings for the agent, where no S3 setting at
// all means local-only: see S3For.
func (r *Reader) S3() (opts store.S3Options, configured bool) {
	return r.S3For("or none of them to run local-only")
}

// S3For reads the BACKUP_S3_* settings. configured is false when none of
// the four required ones is set; some but not all is a problem on each
// missing one, whose message ends with noneMeans: what the caller does
// without a bucket (the binaries differ, so the words do).
func (r *Reader) S3For(noneMeans string) (opts store.S3Options, configured bool) {
	opts = store.S3Options{
		Endpoint:       r.String(EnvS3Endpoint, ""),
		Bucket:         r.String(EnvS3Bucket, ""),
		AccessKey:      r.String(EnvS3AccessKey, ""),
		SecretKey:      r.String(EnvS3SecretKey, ""),
		Region:         r.String(EnvS3Region, DefaultS3Region),
		ForcePathStyle: r.Bool(EnvS3ForcePathStyle, false),
	}
	req := map[string]string{
		EnvS3Endpoint: opts.Endpoint, EnvS3Bucket: opts.Bucket,
		EnvS3AccessKey: opts.AccessKey, EnvS3SecretKey: opts.SecretKey,
	}
	var missing []string
	for k, v := range req {
		if v == "" {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	switch len(missing) {
	case 4:
		return opts, false
	case 0:
		if !strings.HasPrefix(opts.Endpoint, "http://") && !strings.HasPrefix(opts.Endpoint, "https://") {
			r.Fail(EnvS3Endpoint, "%q must start with https:// (or http:// for a local test server)", opts.Endpoint)
		}
		return opts, true
	default:
		for _, m := range missing {
			r.Fail(m, "is missing while %s %s set: set all four of BACKUP_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY, %s",
				strings.Join(setNames(req), ", "), isAre(4-len(missing)), noneMeans)
		}
		return opts, false
	}
}

// S3Any reports whether any of the four required BACKUP_S3_* is set.
func (r *Reader) S3Any() bool {
	return r.Set(EnvS3Endpoint) || r.Set(EnvS3Bucket) || r.Set(EnvS3AccessKey) || r.Set(EnvS3SecretKey)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func setNames(req map[string]string) []string {
	var out []string
	for k, v := range req {
		if v != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
