// Package app wires the aggregator together: the store, the service and
// its refresh loop, the alert notifier and the HTTP server. App is the
// testable whole program (tests start it on 127.0.0.1:0 in-process); Main
// is the command line.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/datadir"
	"github.com/branchwatch/branchwatch/aggregator/internal/digest"
	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
	"github.com/branchwatch/branchwatch/aggregator/internal/server"
	"github.com/branchwatch/branchwatch/aggregator/internal/service"
	"github.com/branchwatch/branchwatch/aggregator/internal/syncer"
	"github.com/branchwatch/branchwatch/shared/store"
)

// App is the aggregator, wired.
type App struct {
	Options  options.Options
	Logger   *slog.Logger
	Store    store.Store
	Service  *service.Service
	Notifier *alert.Notifier
	Server   *server.Server // nil when built without a server (export)

	digestEvery time.Duration
}

// Config is what Build needs beyond Options.
type Config struct {
	Logger *slog.Logger
	// Routes make extra routes (the dashboard) under the same
	// authentication, once the service exists.
	Routes []RouteBuilder
	// NoServer builds only the read side (the export command).
	NoServer bool
	// ReadOnlySnapshot loads the snapshot but never writes it.
	ReadOnlySnapshot bool
	// Store overrides the store the options name (tests).
	Store store.Store
	// AlertOptions overrides delivery details (tests: short backoff).
	AlertOptions func(*alert.Options)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ServerOptions overrides details of the HTTP server (tests: the
	// login limits).
	ServerOptions func(*server.Options)
	// DigestEvery is how often the morning digest's schedule looks
	// whether the digest is due (a minute when zero; tests: shorter).
	DigestEvery time.Duration
}

// RouteBuilder makes extra routes for the server once the service exists:
// the dashboard's pages, which read the service.
type RouteBuilder func(svc *service.Service, o options.Options, logger *slog.Logger) (server.Registrar, error)

// OpenStore opens the bucket the options name: S3, or a local directory.
// The S3 client logs its retries (which request, which attempt, how long
// it waits) to logger.
func OpenStore(o options.Options, logger *slog.Logger) (store.Store, error) {
	if o.S3Enabled {
		s3o := o.S3
		if s3o.Logger == nil {
			s3o.Logger = logger.With("component", "s3")
		}
		return store.NewS3(s3o)
	}
	if o.BucketDir == "" {
		return nil, errors.New("no bucket configured")
	}
	return store.NewDir(o.BucketDir)
}

// bucketName names the bucket in messages: the S3 bucket, or the directory.
func bucketName(o options.Options) string {
	if o.S3Enabled {
		return o.S3.Bucket
	}
	return o.BucketDir
}

// Build wires the aggregator; the only I/O is reading the snapshot and
// alert history from the data directory.
func Build(o options.Options, c Config) (*App, error) {
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st := c.Store
	if st == nil {
		var err error
		if st, err = OpenStore(o, logger); err != nil {
			return nil, fmt.Errorf("open bucket: %w", err)
		}
	}
	a := &App{Options: o, Logger: logger, Store: st, digestEvery: c.DigestEvery}
	if !c.ReadOnlySnapshot {
		if err := datadir.CheckWritable(o.DataDir); err != nil {
			return nil, fmt.Errorf("%s: %w", options.EnvDataDir, err)
		}
	}
	if !c.NoServer {
		channels, err := Channels(o)
		if err != nil {
			return nil, err
		}
		ao := alert.Options{Channels: channels, Dir: o.DataDir, Reminder: o.Reminder, Now: c.Now, Logger: logger.With("component", "alert")}
		if c.AlertOptions != nil {
			c.AlertOptions(&ao)
		}
		n, err := alert.New(ao)
		if err != nil {
			return nil, err
		}
		a.Notifier = n
	}
	snapDir := o.DataDir
	svc, err := service.New(service.Options{
		Store: st,
		Syncer: syncer.Options{Expected: o.Expected, Concurrency: o.SyncConcurrency, RelistDays: o.RelistDays,
			RequestTimeout: o.RequestTimeout, BucketName: bucketName(o), Logger: logger.With("component", "sync")},
		Policy: freshness.Policy{
			Metrics: freshness.Schedule{At: o.MetricsExpectedAt, Grace: o.MetricsGrace},
			Backup:  freshness.Schedule{At: o.BackupExpectedAt, Grace: o.BackupGrace},
			Drill:   freshness.DrillSchedule{Period: o.DrillPeriod, Grace: o.DrillGrace},
		},
		Location:         o.Location,
		DataDir:          snapDir,
		ReadOnlySnapshot: c.ReadOnlySnapshot,
		RefreshInterval:  o.RefreshInterval,
		FullSyncInterval: o.FullSyncInterval,
		SyncTimeout:      o.SyncTimeout,
		SyncAlertAfter:   o.SyncAlertAfter,
		Notifier:         a.Notifier,
		Now:              c.Now,
		Logger:           logger.With("component", "service"),
	})
	if err != nil {
		return nil, err
	}
	a.Service = svc
	if !c.NoServer {
		var routes []server.Registrar
		for _, rb := range c.Routes {
			r, err := rb(svc, o, logger)
			if err != nil {
				return nil, err
			}
			routes = append(routes, r)
		}
		so := server.Options{
			Credentials: server.Credentials{User: o.User, PasswordBcrypt: o.PasswordBcrypt, Token: o.Token, Insecure: o.InsecureNoAuth},
			Routes:      routes,
			Logger:      logger.With("component", "http"),
		}
		if c.ServerOptions != nil {
			c.ServerOptions(&so)
		}
		srv, err := server.New(svc, so)
		if err != nil {
			return nil, err
		}
		a.Server = srv
	}
	return a, nil
}

// Run listens on Options.Listen and serves until ctx ends, refreshing
// from the bucket and delivering alerts meanwhile; ready, when not nil,
// receives the address listened on. It returns once everything stopped.
func (a *App) Run(ctx context.Context, ready chan<- string) error {
	if a.Server == nil {
		return errors.New("app built without a server")
	}
	if a.Options.InsecureNoAuth && !a.Options.AuthConfigured() {
		a.Logger.Warn("AUTHENTICATION IS DISABLED (AGGREGATOR_INSECURE_NO_AUTH=true): anyone who reaches " + a.Options.Listen + " sees every branch's figures")
	}
	l, err := net.Listen("tcp", a.Options.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.Options.Listen, err)
	}
	a.Logger.Info("aggregator serving", "addr", l.Addr().String(), "settings", a.Options.String())
	if ready != nil {
		ready <- l.Addr().String()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.Notifier.Run(ctx) })
	wg.Go(func() { a.Service.Run(ctx) })
	if !a.Options.DigestOff {
		wg.Go(func() { a.Digest().Run(ctx) })
	}
	err = a.Server.Serve(ctx, l)
	cancel() // a server that failed stops the rest
	wg.Wait()
	a.Logger.Info("aggregator stopped")
	return err
}

// Digest is the morning digest's schedule: DIGEST_TIME in
// AGGREGATOR_TIMEZONE, through the notifier's channels.
func (a *App) Digest() digest.Schedule {
	return digest.Schedule{At: a.Options.DigestAt, Location: a.Options.Location, Source: a.Service, Sender: a.Notifier,
		Now: a.Service.Now, Every: a.digestEvery, Logger: a.Logger.With("component", "digest")}
}
