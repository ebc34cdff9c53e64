// Command fakes3 is a standalone S3-protocol server (gofakes3) for the demo
// and benchmarks. It is not for production data.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	dir := flag.String("dir", "", "directory the bucket is kept in (empty: in memory)")
	bucket := flag.String("bucket", "salon-backups", "bucket to create")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := make(chan string, 1)
	go func() { fmt.Fprintf(os.Stderr, "fakes3: serving bucket %s on http://%s\n", *bucket, <-ready) }()
	if err := testenv.ServeS3(ctx, *addr, *dir, *bucket, ready); err != nil {
		fmt.Fprintln(os.Stderr, "fakes3:", err)
		os.Exit(1)
	}
}
