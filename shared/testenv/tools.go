package testenv

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// MissingTool ends a test that needs a tool the machine lacks, never
// silently: with BRANCHWATCH_REQUIRE_TOOLS=1 (.ci/run, which installs the
// tools) the test fails; elsewhere it is skipped with a WARNING line on
// standard error, where `make test` shows it.
func MissingTool(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("BRANCHWATCH_REQUIRE_TOOLS") == "1" {
		tb.Fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "WARNING: %s: SKIPPED: %s\n", tb.Name(), msg)
	tb.Skip(msg)
}

// WaitFor polls cond until it holds, failing the test after timeout: for
// a test to see what the product does in the background (deliveries), not
// to retry what the product should have done.
func WaitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
