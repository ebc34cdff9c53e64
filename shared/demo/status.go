package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// BranchState is what the aggregator's API says of one branch.
type BranchState struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Metrics Check  `json:"metrics_check"`
	Backup  Check  `json:"backup_check"`
}

// Check is one freshness check as the API shows it.
type Check struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// Failing lists the branch's checks that are not up.
func (b BranchState) Failing() []Check {
	var out []Check
	for _, c := range []Check{b.Metrics, b.Backup} {
		if c.State != "up" {
			out = append(out, c)
		}
	}
	return out
}

// BranchesPath is the aggregator's JSON list of branches with their checks.
const BranchesPath = "/api/v1/branches"

// Branches asks the dashboard for every branch, with the demo credentials.
func Branches(ctx context.Context, baseURL string) ([]BranchState, error) {
	var raw json.RawMessage
	if err := getJSON(ctx, baseURL+BranchesPath, &raw); err != nil {
		return nil, err
	}
	// A bare list, or an object holding it under "branches".
	var list []BranchState
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var wrapped struct {
		Branches []BranchState `json:"branches"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, fmt.Errorf("GET %s: unexpected JSON: %w", BranchesPath, err)
	}
	return wrapped.Branches, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(User, Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// servedAddr waits for the aggregator's "aggregator serving" log line
// (written after logStart) and returns the address it names.
func (d *Demo) servedAddr(ctx context.Context, logStart int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if addr := servingAddr(d.agg.log, logStart); addr != "" {
			return addr, nil
		}
		select {
		case <-d.agg.done:
			return "", fmt.Errorf("the aggregator exited: %v; last lines of %s:\n%s", d.agg.err, d.agg.log, tailFile(d.agg.log, 12))
		case <-ctx.Done():
			return "", fmt.Errorf("the aggregator did not start serving in a minute (see %s)", d.agg.log)
		case <-tick.C:
		}
	}
}

// servingAddr finds the address of the first "aggregator serving" JSON log
// line after offset in the log at path, or "".
func servingAddr(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "aggregator serving" && line.Addr != "" {
			return line.Addr
		}
	}
	return ""
}

// waitReady polls the dashboard until it lists every branch after a good
// sync, the aggregator exits, or two minutes pass.
func (d *Demo) waitReady(ctx context.Context) error {
	// Two minutes: a first sync that failed is retried one refresh
	// interval (1m) later.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		// Ready once this aggregator process has finished a good sync of
		// its own: a later run serves the earlier run's snapshot at once,
		// which may not yet show what this run's agents uploaded.
		var st struct {
			Branches []BranchState `json:"branches"`
			Sync     struct {
				Syncs       int       `json:"syncs"`
				LastSuccess time.Time `json:"last_success"`
			} `json:"sync"`
		}
		err := getJSON(ctx, d.URL+BranchesPath, &st)
		if err == nil && len(st.Branches) >= len(d.opts.Branches) && st.Sync.Syncs > 0 && !st.Sync.LastSuccess.IsZero() {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("the dashboard lists %d of %d branches after %d syncs (last good: %v)",
				len(st.Branches), len(d.opts.Branches), st.Sync.Syncs, st.Sync.LastSuccess)
		}
		last = err
		select {
		case <-d.agg.done:
			return fmt.Errorf("the aggregator exited: %v; last lines of %s:\n%s", d.agg.err, d.agg.log, tailFile(d.agg.log, 12))
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("the dashboard did not come up in two minutes: %v (see %s)", last, d.agg.log)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// printSummary shows where the dashboard is, how to log in, and what it
// will show.
func (d *Demo) printSummary(ctx context.Context, took time.Duration) {
	d.printf("\n")
	if list, err := Branches(ctx, d.URL); err == nil {
		for _, b := range list {
			state := "healthy"
			for _, c := range b.Failing() {
				state = fmt.Sprintf("%s check %s: %s", c.Name, c.State, c.Reason)
			}
			d.printf("  %-16s %s\n", b.ID, state)
		}
	}
	d.printf("\nDashboard: %s\n  user:     %s\n  password: %s\n", d.URL, User, Password)
	d.printf("Ready in %.1fs. Logs in %s. Press Ctrl-C to stop everything.\n",
		took.Seconds(), d.opts.Dir+"/logs")
}
