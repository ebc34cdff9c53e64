package jobretry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jonboulle/clockwork"

	"github.com/branchwatch/branchwatch/agent/internal/jobretry"
	"github.com/branchwatch/branchwatch/shared/store"
)

func TestPolicyWaits(t *testing.T) {
	p := jobretry.For(4 * time.Hour)
	want := []time.Duration{1, 2, 4, 8, 15, 15}
	for i, w := range want {
		if got := p.Wait(i + 1); got != w*time.Minute {
			t.Errorf("wait after attempt %d = %s, want %s", i+1, got, w*time.Minute)
		}
	}
}

func TestPermanent(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"wrong password", &pgconn.PgError{Code: "28P01", Message: "password authentication failed for user \"bw\""}, true},
		{"no database", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "3D000"}), true},
		{"pg_dump wrong password", errors.New(`pg_dump failed: FATAL:  password authentication failed for user "bw"`), true},
		{"pg_dump no database", errors.New(`pg_dump failed: FATAL:  database "salon" does not exist`), true},
		{"cancelled", fmt.Errorf("upload: %w", context.Canceled), true},
		{"bad key", fmt.Errorf("put: %w", store.ErrBadKey), true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, false},
		{"connection refused", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), false},
		{"503", errors.New("the S3 server is unavailable (503 Service Unavailable)"), false},
		{"no such file is not a database", errors.New("open /backups/x: no such file or directory"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := jobretry.Permanent(c.err); got != c.want {
				t.Errorf("Permanent(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

// TestDo drives the policy on a fake clock: a transient failure is
// retried after 1, 2, 4... minutes and logged with its attempt number and
// wait; a permanent one is not retried; no attempt starts past the
// deadline.
func TestDo(t *testing.T) {
	transient := errors.New("the S3 server is unavailable (503)")
	permanent := &pgconn.PgError{Code: "28P01"}
	cases := []struct {
		name     string
		retryFor time.Duration
		fails    int // attempts that fail before one succeeds
		failWith error
		wantRuns int
		wantErr  string
	}{
		{"succeeds at once", time.Hour, 0, transient, 1, ""},
		{"succeeds on the third attempt", time.Hour, 2, transient, 3, ""},
		{"permanent is not retried", time.Hour, 99, permanent, 1, "28P01"},
		// Attempts at 0, 1, 3, 7 and 15 minutes; a sixth would start at 30, past 20.
		{"stops at the deadline", 20 * time.Minute, 99, transient, 5, "after 5 attempts: the S3 server is unavailable"},
		{"disabled", 0, 99, transient, 1, "the S3 server is unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			var logs bytes.Buffer
			r := jobretry.New(jobretry.For(c.retryFor), clock, slog.New(slog.NewJSONHandler(&logs, nil)))
			var waits []time.Duration
			retried := make(chan time.Duration, 100)
			r.OnRetry = func(_ string, _ int, wait time.Duration, _ error) { waits = append(waits, wait); retried <- wait }
			runs := 0
			done := make(chan error, 1)
			go func() {
				done <- r.Do(context.Background(), "upload", func(context.Context) error {
					runs++
					if runs <= c.fails {
						return c.failWith
					}
					return nil
				})
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var err error
		loop:
			for {
				select {
				case err = <-done:
					break loop
				case wait := <-retried:
					// Advance exactly the announced wait once Do waits on the clock.
					if err := clock.BlockUntilContext(ctx, 1); err != nil {
						t.Fatal(err)
					}
					clock.Advance(wait)
				}
			}
			if runs != c.wantRuns {
				t.Errorf("%d runs, want %d", runs, c.wantRuns)
			}
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("error %v, want %q", err, c.wantErr)
			}
			for i, w := range waits {
				if w != time.Duration(1<<i)*time.Minute {
					t.Errorf("wait %d = %s", i+1, w)
				}
				line := fmt.Sprintf(`"step":"upload","attempt":%d,"retry_in":"%s"`, i+1, w)
				if !strings.Contains(logs.String(), line) {
					t.Errorf("log lacks %s:\n%s", line, logs.String())
				}
			}
			if len(waits) != c.wantRuns-1 {
				t.Errorf("%d waits for %d runs", len(waits), c.wantRuns)
			}
		})
	}
}

// TestNilRetrierRunsOnce: without a policy a step runs once.
func TestNilRetrierRunsOnce(t *testing.T) {
	var r *jobretry.Retrier
	runs := 0
	err := r.Do(context.Background(), "x", func(context.Context) error { runs++; return errors.New("boom") })
	if err == nil || runs != 1 {
		t.Fatalf("runs %d, err %v", runs, err)
	}
	if jobretry.FromContext(context.Background()) != nil {
		t.Fatal("a retrier out of nowhere")
	}
}
