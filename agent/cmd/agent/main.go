// Command agent is the Branchwatch branch agent. main only wires: signals
// become a context, and the command line runs in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/branchwatch/branchwatch/agent/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
