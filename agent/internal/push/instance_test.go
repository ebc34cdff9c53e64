package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/branchwatch/branchwatch/agent/internal/push"
	"github.com/branchwatch/branchwatch/shared/instance"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// Two agents with one BRANCH_ID: the second to push a date finds the
// first one's recent document, logs an error naming both instances and
// counts it; its own id is then in the object's metadata. An old
// document of another instance (a replaced server) or one's own is no
// conflict.
func TestPushNoticesAnotherInstance(t *testing.T) {
	const a, b = "pos-1/0123456789abcdef", "pos-2/fedcba9876543210"
	pushedAt := time.Now()
	for _, tc := range []struct {
		name          string
		first, second string
		later         time.Duration // the second agent's clock, past the first push
		wantConflict  bool
	}{
		{"another instance, recent", a, b, time.Hour, true},
		{"another instance, beyond the window", a, b, instance.Window + 24*time.Hour, false},
		{"the same instance", a, a, time.Hour, false},
		{"the same install id under a new host name (a recreated container)", a, "9b8c7d6e5f4a/0123456789abcdef", time.Hour, false},
		{"a document without instance (older agent)", "", b, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := testenv.StartS3(t).Store(t)
			first, err := push.New(branch, st, t.TempDir(), discard())
			if err != nil {
				t.Fatal(err)
			}
			first.Instance = tc.first
			if _, err := first.Push(ctx, doc("2026-02-10", 500)); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			second, err := push.New(branch, st, t.TempDir(), slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			second.Instance = tc.second
			second.Now = func() time.Time { return pushedAt.Add(tc.later) }
			key, err := second.Push(ctx, doc("2026-02-10", 700))
			if err != nil {
				t.Fatal(err)
			}
			info, err := st.Stat(ctx, key)
			if err != nil || info.Metadata[instance.MetadataKey] != tc.second {
				t.Errorf("metadata %v (%v), want %s=%s", info.Metadata, err, instance.MetadataKey, tc.second)
			}
			want := 0
			if tc.wantConflict {
				want = 1
			}
			if got := second.Conflicts(); got != int64(want) {
				t.Errorf("%d conflicts counted, want %d", got, want)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(second.Collector())
			if got := testutil.ToFloat64(second.Collector()); got != float64(want) {
				t.Errorf("%s = %v, want %d", push.MetricConflicts, got, want)
			}
			var errLine map[string]any
			for line := range strings.Lines(logs.String()) {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil && m["level"] == "ERROR" {
					errLine = m
				}
			}
			switch {
			case tc.wantConflict && (errLine == nil || errLine["other_instance"] != tc.first || errLine["this_instance"] != tc.second):
				t.Errorf("no error naming both instances in the log:\n%s", logs.String())
			case !tc.wantConflict && errLine != nil:
				t.Errorf("unexpected error logged: %v", errLine)
			}
		})
	}
}
