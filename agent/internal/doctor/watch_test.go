package doctor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// scripted returns each round's results in turn (the last one repeats).
type scripted struct {
	mu     sync.Mutex
	rounds [][]Result
	n      int
}

func (s *scripted) check(context.Context) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rounds[min(s.n, len(s.rounds)-1)]
	s.n++
	return r
}

var (
	dbFails     = []Result{{Check: CheckDatabase, Setting: "DATABASE_URL", Status: Fail, Detail: `password authentication failed for user "bw"`}}
	bucketFails = []Result{{Check: CheckDatabase, Setting: "DATABASE_URL", Status: Pass}, {Check: CheckBucket, Setting: "BACKUP_S3_BUCKET", Status: Fail, Detail: "bucket b does not exist (NoSuchBucket)"}}
	allPass     = []Result{{Check: CheckDatabase, Setting: "DATABASE_URL", Status: Pass}}
)

func TestWatch(t *testing.T) {
	effects := map[string][]Effect{
		CheckDatabase: {{Job: "backup", Blocks: true}, {Job: "summary", Blocks: true}},
		CheckBucket:   {{Job: "backup"}, {Job: "cleanup"}},
	}
	cases := []struct {
		name   string
		rounds [][]Result
		// gate is tried for these jobs after the first round; failed
		// reports these jobs as failed after the first round.
		gate, failed []string
		wantBlocked  []string
		wantPings    string // job=reason, in order
		wantReruns   string
	}{
		{"all pass", [][]Result{allPass}, []string{"backup", "summary"}, nil, nil, "", ""},
		{"database fails, then fixed", [][]Result{dbFails, dbFails, allPass}, []string{"backup", "cleanup"}, nil,
			[]string{"backup"}, `backup=DATABASE_URL: password authentication failed for user "bw" summary=DATABASE_URL: password authentication failed for user "bw"`, "backup"},
		{"bucket fails: the backup runs, its failure is missed", [][]Result{bucketFails, bucketFails, allPass}, []string{"backup"}, []string{"backup", "summary"},
			nil, "backup=BACKUP_S3_BUCKET: bucket b does not exist (NoSuchBucket) cleanup=BACKUP_S3_BUCKET: bucket b does not exist (NoSuchBucket)", "backup"},
		{"a job failure finds the database broken", [][]Result{allPass, dbFails, dbFails, allPass}, nil, []string{"backup"},
			nil, `backup=DATABASE_URL: password authentication failed for user "bw" summary=DATABASE_URL: password authentication failed for user "bw"`, "backup"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			clock := clockwork.NewFakeClock()
			s := &scripted{rounds: tc.rounds}
			var mu sync.Mutex
			var pings, reruns []string
			rounds := make(chan []Result, 10)
			w := &Watch{Check: s.check, Effects: effects, Clock: clock,
				Fail: func(_ context.Context, job, reason string) {
					mu.Lock()
					pings = append(pings, job+"="+reason)
					mu.Unlock()
				},
				Rerun: func(job string) error {
					mu.Lock()
					reruns = append(reruns, job)
					mu.Unlock()
					return nil
				},
				OnRound: func(f []Result) { rounds <- f },
			}
			wctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { w.Run(wctx); close(done) }()
			defer func() { stop(); <-done }()
			first := <-rounds
			if got, want := len(w.Problems()), len(Failed(tc.rounds[0])); got != want || len(first) != want {
				t.Fatalf("after the first round %d problems, want %d", got, want)
			}
			var blocked []string
			for _, job := range tc.gate {
				if err := w.Gate(ctx, job); err != nil {
					blocked = append(blocked, job)
					if !strings.Contains(err.Error(), "DATABASE_URL: password authentication failed") {
						t.Errorf("gate %s: %v", job, err)
					}
				}
			}
			if strings.Join(blocked, ",") != strings.Join(tc.wantBlocked, ",") {
				t.Errorf("blocked %v, want %v", blocked, tc.wantBlocked)
			}
			for _, job := range tc.failed {
				w.JobFailed(ctx, job)
				<-rounds
			}
			// Drive the rechecks until every scripted round was used.
			for s.n < len(tc.rounds) {
				if err := clock.BlockUntilContext(ctx, 1); err != nil {
					t.Fatalf("no recheck pending after round %d", s.n)
				}
				clock.Advance(RecheckInterval)
				<-rounds
			}
			if len(w.Problems()) != 0 && len(Failed(tc.rounds[len(tc.rounds)-1])) == 0 {
				t.Errorf("problems after a passing round: %v", w.Problems())
			}
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(pings, " "); got != tc.wantPings {
				t.Errorf("pings %q, want %q", got, tc.wantPings)
			}
			if got := strings.Join(reruns, ","); got != tc.wantReruns {
				t.Errorf("reruns %q, want %q", got, tc.wantReruns)
			}
		})
	}
}
