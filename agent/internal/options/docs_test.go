package options

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchwatch/branchwatch/shared/config"
	"github.com/branchwatch/branchwatch/shared/deploycheck"
)

const agentEnvExample = "../../../deploy/env/agent.env.example"

// envConstants returns every Env* string constant declared in the non-test
// files of this package and of the command line (package cli, where
// command-only variables such as RESTORE_TARGET_URL live), name → variable,
// so that a variable added to the agent without documentation fails here.
func envConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	var files []string
	for _, dir := range []string{".", "../cli"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Env") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					out[name.Name] = v
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d Env* constants in options: the scan is broken", len(out))
	}
	return out
}

// TestEveryVariableIsDocumented: every agent setting appears in
// deploy/env/agent.env.example with a comment and the right default, and
// the example names no variable the agent does not read.
func TestEveryVariableIsDocumented(t *testing.T) {
	ex, err := deploycheck.ParseEnvExample(agentEnvExample)
	if err != nil {
		t.Fatal(err)
	}
	want := envConstants(t)
	for _, s3 := range []string{config.EnvS3Endpoint, config.EnvS3Bucket, config.EnvS3AccessKey,
		config.EnvS3SecretKey, config.EnvS3Region, config.EnvS3ForcePathStyle} {
		want["config."+s3] = s3
	}
	known := map[string]bool{}
	var consts []string
	for c := range want {
		consts = append(consts, c)
	}
	sort.Strings(consts)
	for _, c := range consts {
		name := want[c]
		known[name] = true
		if _, ok := ex.Lookup(name); !ok {
			t.Errorf("%s (%s) is not in %s", name, c, agentEnvExample)
		}
	}
	for _, v := range ex.Vars {
		if !known[v.Name] {
			t.Errorf("line %d: %s is documented but the agent does not read it", v.Line, v.Name)
		}
	}

	// The documented defaults are the code's.
	defaults := map[string]string{
		EnvBranchID:                DefaultBranchID,
		EnvTimezone:                DefaultTimezone,
		EnvBackupDir:               DefaultBackupDir,
		EnvRetentionDays:           strconv.Itoa(DefaultRetentionDays),
		EnvCloudRetentionDays:      strconv.Itoa(DefaultCloudRetentionDays),
		EnvCloudKeepNewest:         strconv.Itoa(DefaultCloudKeepNewest),
		EnvMinDumpBytes:            strconv.Itoa(DefaultMinDumpBytes),
		EnvSummarySchedule:         DefaultSummarySchedule,
		EnvBackupSchedule:          DefaultBackupSchedule,
		EnvCleanupSchedule:         DefaultCleanupSchedule,
		EnvMetricsCatchupDays:      strconv.Itoa(DefaultMetricsCatchupDays),
		EnvSummaryCatchupDays:      strconv.Itoa(DefaultSummaryCatchupDays),
		EnvListen:                  DefaultListen,
		EnvCloudRetention:          DefaultCloudRetention,
		EnvObjectLockMode:          DefaultObjectLockMode,
		EnvObjectLockDays:          "0",
		EnvVerifySchedule:          DefaultVerifySchedule,
		EnvVerifyCountMaxRows:      strconv.Itoa(DefaultVerifyCountMaxRows),
		EnvJobRetryFor:             "4h",
		EnvJobTimeout:              "2h",
		EnvSummaryRetryAttempts:    strconv.Itoa(DefaultSummaryRetryAttempts),
		EnvLogLevel:                "info",
		config.EnvS3Region:         config.DefaultS3Region,
		config.EnvS3ForcePathStyle: "false",
	}
	if DefaultJobRetryFor != 4*time.Hour || DefaultJobTimeout != 2*time.Hour {
		t.Error("the job retry defaults changed: update the example and the table above")
	}
	for name, def := range defaults {
		v, ok := ex.Lookup(name)
		if !ok {
			continue // reported above
		}
		// "Default: 0 2 * * 0  (Sunday 02:00)": the value is the text before any note.
		got := strings.TrimSpace(strings.SplitN(v.Default, "  (", 2)[0])
		if got != def {
			t.Errorf("%s: the example says \"Default: %s\", the code's default is %q", name, v.Default, def)
		}
		if !v.Active && v.Value != def {
			t.Errorf("%s: shown commented out as %q, but its default is %q", name, v.Value, def)
		}
	}
}

// TestExampleLoads: the example's active settings are a valid configuration.
func TestExampleLoads(t *testing.T) {
	ex, err := deploycheck.ParseEnvExample(agentEnvExample)
	if err != nil {
		t.Fatal(err)
	}
	active := ex.Active()
	opts, err := Load(config.NewReader(config.MapLookup(active)), true)
	if err != nil {
		t.Fatalf("the example's settings do not load: %v", err)
	}
	if !opts.S3Enabled {
		t.Error("the example configures S3 (all four settings) but the agent would run local-only")
	}
	if opts.BranchID != active[EnvBranchID] || opts.BranchName != active[EnvBranchName] {
		t.Errorf("branch = %q %q, want %q %q", opts.BranchID, opts.BranchName, active[EnvBranchID], active[EnvBranchName])
	}
	if strings.Contains(opts.String(), active[config.EnvS3SecretKey]) {
		t.Error("Options.String shows the example's secret key")
	}
}
