// Package demo runs the whole of Branchwatch on one machine for `make demo`:
// a throwaway PostgreSQL with one database per branch filled by
// `agent demo-data`, an S3-protocol server on loopback whose bucket persists
// under the demo directory, each branch's agent taken through its catch-ups
// and a backup (one branch left with stale metrics, so an alert shows), and
// the aggregator serving the dashboard with the demo credentials.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/branchwatch/branchwatch/shared/store"
	"github.com/branchwatch/branchwatch/shared/testenv"
)

// The demo's fixed settings.
const (
	User          = "demo"
	Password      = "demo"
	Bucket        = "salon-backups"
	Timezone      = "Asia/Kolkata"
	DefaultListen = "127.0.0.1:8080"
	DefaultDays   = 120
	s3AccessKey   = "demo-access-key"
	s3SecretKey   = "demo-secret-key"
	s3Region      = "us-west-004"
)

// Options configure a demo.
type Options struct {
	Dir      string // state kept across runs: bucket, local dumps, aggregator data, logs
	BinDir   string // holds the agent and aggregator binaries
	Listen   string // dashboard address; a ":0" port picks a free one
	Days     int    // days of demo data per branch
	Branches []Branch
	Out      io.Writer        // progress lines for the person watching
	Now      func() time.Time // the clock deciding "today" and the stale days
}

// Demo is a running demo.
type Demo struct {
	// URL is the dashboard's address.
	URL string

	opts     Options
	loc      *time.Location
	pg       *testenv.Postgres
	s3       *s3Server
	hook     *webhook
	agg      *process
	outMu    sync.Mutex
	stopOnce sync.Once
}

// Start brings every piece up and returns once the dashboard answers with
// every branch. On error everything started is stopped again.
func Start(ctx context.Context, o Options) (d *Demo, err error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Days <= 0 {
		o.Days = DefaultDays
	}
	if o.Branches == nil {
		o.Branches = DefaultBranches
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, bin := range []string{"agent", "aggregator"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, bin)); err != nil {
			return nil, fmt.Errorf("demo needs the %s binary: %w", bin, err)
		}
	}
	loc, err := time.LoadLocation(Timezone)
	if err != nil {
		return nil, fmt.Errorf("load zone %s: %w", Timezone, err)
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	d = &Demo{opts: o, loc: loc}
	defer func() {
		if err != nil {
			d.Stop()
			d = nil
		}
	}()
	if d.s3, err = startS3(o.Dir); err != nil {
		return d, err
	}
	// A fixed address is checked now (a clear message); a ":0" port is
	// left to the aggregator, which reports the port it got: a port picked
	// here and bound minutes later could be taken meanwhile on a busy
	// machine.
	addr := o.Listen
	if !anyPort(addr) {
		if addr, err = freeAddr(addr); err != nil {
			return d, err
		}
		d.URL = "http://" + addr
	}
	d.printf("S3-compatible bucket %s on %s (data kept in %s)\n", Bucket, d.s3.URL, filepath.Join(o.Dir, "s3"))

	if d.pg, err = testenv.StartPostgres(); err != nil {
		return d, fmt.Errorf("start PostgreSQL: %w", err)
	}
	d.printf("throwaway PostgreSQL on 127.0.0.1:%d (%s)\n", d.pg.Port, d.pg.BinDir)
	for _, b := range o.Branches {
		if err := d.pg.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{b.ID}.Sanitize()); err != nil {
			return d, fmt.Errorf("create database %s: %w", b.ID, err)
		}
	}
	if err := d.prepareBranches(ctx); err != nil {
		return d, err
	}
	if d.hook, err = startWebhook(func(text string) { d.printf("alert delivered to the webhook: %s\n", text) }); err != nil {
		return d, err
	}
	if err := d.startAggregator(ctx, addr); err != nil {
		return d, err
	}
	return d, nil
}

// prepareBranches runs every branch's agent steps at once.
func (d *Demo) prepareBranches(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(d.opts.Branches))
	for _, b := range d.opts.Branches {
		go func() {
			t0 := time.Now()
			err := d.prepareBranch(ctx, b)
			if err != nil {
				cancel() // one failure stops the others
			} else {
				note := "catch-ups, today's metrics and a backup done"
				if b.StaleDays > 0 {
					note = fmt.Sprintf("catch-ups and a backup done; metrics of its last %d days withheld, so it alerts", b.StaleDays)
				}
				d.printf("  %-16s %d days of demo data; %s (%.1fs)\n", b.ID, d.opts.Days, note, time.Since(t0).Seconds())
			}
			errs <- err
		}()
	}
	var all []error
	for range d.opts.Branches {
		if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
			all = append(all, err)
		}
	}
	if len(all) == 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(all...)
}

func (d *Demo) startAggregator(ctx context.Context, addr string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("hash the demo password: %w", err)
	}
	ids := make([]string, 0, len(d.opts.Branches))
	for _, b := range d.opts.Branches {
		ids = append(ids, b.ID)
	}
	env := append(d.baseEnv(),
		"AGGREGATOR_LISTEN="+addr,
		"AGGREGATOR_DATA_DIR="+filepath.Join(d.opts.Dir, "aggregator-data"),
		"AGGREGATOR_TIMEZONE="+Timezone,
		"AGGREGATOR_REFRESH_INTERVAL=1m",
		"EXPECTED_BRANCHES="+strings.Join(ids, ","),
		"DASHBOARD_USER="+User,
		"DASHBOARD_PASSWORD_BCRYPT="+string(hash),
		"ALERT_WEBHOOK_URL="+d.hook.URL,
		"LOG_LEVEL=info",
	)
	bin := filepath.Join(d.opts.BinDir, "aggregator")
	logPath := filepath.Join(d.opts.Dir, "logs", "aggregator.log")
	var logStart int64
	if fi, err := os.Stat(logPath); err == nil {
		logStart = fi.Size()
	}
	if d.agg, err = start("aggregator", bin, []string{"serve"}, env, logPath); err != nil {
		return err
	}
	if d.URL == "" {
		served, err := d.servedAddr(ctx, logStart)
		if err != nil {
			return err
		}
		d.URL = "http://" + served
	}
	return d.waitReady(ctx)
}

// baseEnv is what every child gets from the demo's own environment: only
// what a program needs to run, so that no BACKUP_S3_* or DATABASE_URL of
// the caller's shell leaks into the demo.
func (d *Demo) baseEnv() []string {
	env := []string{
		"BACKUP_S3_ENDPOINT=" + d.s3.URL,
		"BACKUP_S3_BUCKET=" + Bucket,
		"BACKUP_S3_ACCESS_KEY=" + s3AccessKey,
		"BACKUP_S3_SECRET_KEY=" + s3SecretKey,
		"BACKUP_S3_REGION=" + s3Region,
		"BACKUP_S3_FORCE_PATH_STYLE=true",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (d *Demo) s3Options() store.S3Options {
	return store.S3Options{Endpoint: d.s3.URL, Bucket: Bucket, AccessKey: s3AccessKey, SecretKey: s3SecretKey,
		Region: s3Region, ForcePathStyle: true}
}

func (d *Demo) printf(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.opts.Out, format, args...)
}

// Alerts returns the alert texts the demo's webhook received so far.
func (d *Demo) Alerts() []string {
	if d.hook == nil {
		return nil
	}
	return d.hook.received()
}

// AlertArrivals delivers the text of each alert the webhook received since
// the start (up to 16 unread; later ones are still shown and listed).
func (d *Demo) AlertArrivals() <-chan string { return d.hook.arrived }

// Wait blocks until ctx ends or the aggregator exits by itself (an error).
func (d *Demo) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-d.agg.done:
		return fmt.Errorf("the aggregator stopped: %v; last lines of %s:\n%s", d.agg.err, d.agg.log, tailFile(d.agg.log, 12))
	}
}

// Stop stops everything in reverse order of start: the aggregator, the
// alert receiver, PostgreSQL (its files removed), the S3 server (its data
// kept). Safe to call twice.
func (d *Demo) Stop() {
	d.stopOnce.Do(func() {
		if d.agg != nil {
			d.agg.stop(15 * time.Second)
		}
		if d.hook != nil {
			d.hook.close()
		}
		if d.pg != nil {
			d.pg.Stop()
		}
		if d.s3 != nil {
			d.s3.close()
		}
	})
}

// Run is the demo command: Start, print where to look, serve until ctx
// ends (Ctrl-C), Stop.
func Run(ctx context.Context, o Options) error {
	t0 := time.Now()
	d, err := Start(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(o.Out, "interrupted while starting: everything started is stopped")
			return nil
		}
		return err
	}
	defer d.Stop()
	d.printSummary(ctx, time.Since(t0))
	err = d.Wait(ctx)
	d.printf("\nstopping: aggregator, PostgreSQL, S3 server (the bucket stays in %s)\n", d.opts.Dir)
	return err
}
