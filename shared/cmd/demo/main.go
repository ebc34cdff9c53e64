// Command demo runs the whole of Branchwatch on this machine (`make demo`):
// a throwaway PostgreSQL with three branch databases, an S3-compatible
// bucket on loopback kept under the demo directory, each branch's agent,
// and the aggregator's dashboard. Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/branchwatch/branchwatch/shared/demo"
)

func main() { os.Exit(run()) }

func run() int {
	listen := demo.DefaultListen
	if v := os.Getenv("DEMO_LISTEN"); v != "" {
		listen = v
	}
	dir := flag.String("dir", ".demo", "directory kept across runs: bucket, local dumps, aggregator data, logs")
	bin := flag.String("bin", "bin", "directory holding the agent and aggregator binaries")
	addr := flag.String("listen", listen, "dashboard address (default: DEMO_LISTEN or "+demo.DefaultListen+")")
	days := flag.Int("days", demo.DefaultDays, "days of demo data per branch")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := demo.Run(ctx, demo.Options{Dir: *dir, BinDir: *bin, Listen: *addr, Days: *days, Out: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}
