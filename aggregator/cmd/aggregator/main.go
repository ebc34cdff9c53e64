// Command aggregator is the Branchwatch central service: it reads every
// branch's metrics and backup listings from the bucket, judges freshness,
// alerts, and serves the dashboard, the JSON API and CSV export.
// See "aggregator help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/branchwatch/branchwatch/aggregator/internal/app"
	"github.com/branchwatch/branchwatch/aggregator/internal/dashboard"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, dashboard.Routes)
}
