package deploycheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/branchwatch/branchwatch/shared/config"
)

// aggregatorVars are the aggregator's settings named in interfaces.md.
// (The agent's are checked against its options package, in
// agent/internal/options/docs_test.go.)
var aggregatorVars = []string{
	config.EnvS3Endpoint, config.EnvS3Bucket, config.EnvS3AccessKey, config.EnvS3SecretKey,
	config.EnvS3Region, config.EnvS3ForcePathStyle,
	"AGGREGATOR_LISTEN", "AGGREGATOR_DATA_DIR", "AGGREGATOR_REFRESH_INTERVAL", "AGGREGATOR_TIMEZONE",
	"EXPECTED_BRANCHES", "ALERT_WEBHOOK_URL", "DASHBOARD_USER", "DASHBOARD_PASSWORD_BCRYPT",
	"DASHBOARD_TOKEN", "AGGREGATOR_INSECURE_NO_AUTH",
}

func TestEnvExamplesParse(t *testing.T) {
	root := repoRoot(t)
	cases := []struct {
		name string
		file string
		must []string
	}{
		{"agent", "deploy/env/agent.env.example", []string{"DATABASE_URL", "BRANCH_ID"}},
		{"aggregator", "deploy/env/aggregator.env.example", aggregatorVars},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := ParseEnvExample(filepath.Join(root, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.must {
				v, ok := ex.Lookup(name)
				if !ok {
					t.Errorf("%s is not documented in %s", name, tc.file)
					continue
				}
				if v.Default == "" {
					t.Errorf("%s (line %d): its comment says no \"Default: ...\"", name, v.Line)
				}
			}
		})
	}
}

func TestParseEnvExample(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr bool
		want    map[string]string // active variables
	}{
		{"plain and quoted", "# a\nA=1\n# b\n# Default: x y\n#B='x y'\n# c\nC='$2y$12$abc'\n", false, map[string]string{"A": "1", "C": "$2y$12$abc"}},
		{"grouped variables share a comment", "# pings\n#P1=http://a\n#P2=http://b\n", false, map[string]string{}},
		{"undocumented", "A=1\n", true, nil},
		{"blank line cuts the comment", "# a\n\nA=1\n", true, nil},
		{"space unquoted", "# a\nA=x y\n", true, nil},
		{"dollar unquoted", "# a\nA=$HOME\n", true, nil},
		{"unbalanced quote", "# a\nA='x\n", true, nil},
		{"export", "# a\nexport A=1\n", true, nil},
		{"duplicate", "# a\nA=1\n# a again\nA=2\n", true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.env")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			ex, err := ParseEnvExample(p)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			got := ex.Active()
			if len(got) != len(tc.want) {
				t.Errorf("active = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	t.Run("default line", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.env")
		if err := os.WriteFile(p, []byte("# What.\n# Default: 7\nN=7\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ex, err := ParseEnvExample(p)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := ex.Lookup("N"); v.Default != "7" || v.Doc != "What.\nDefault: 7" {
			t.Errorf("N = %+v", v)
		}
	})
}
