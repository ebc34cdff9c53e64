package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/alert"
	"github.com/branchwatch/branchwatch/aggregator/internal/options"
)

// testAlert sends one test message to every configured channel and prints
// one line per channel; 1 when any failed or none is configured.
func testAlert(ctx context.Context, o options.Options, stdout, stderr io.Writer) int {
	channels, err := Channels(o)
	if err != nil {
		fmt.Fprintf(stderr, "aggregator test-alert: %s\n", oneLine(err))
		return 2
	}
	if len(channels) == 0 {
		fmt.Fprintf(stderr, "aggregator test-alert: no alert channel configured: set %s (with %s and %s), %s and %s, or %s\n",
			options.EnvSMTPURL, options.EnvEmailFrom, options.EnvEmailTo, options.EnvTelegramToken, options.EnvTelegramChatID, options.EnvWebhookURL)
		return 1
	}
	code := 0
	for _, r := range alert.SendTest(ctx, channels, time.Now(), channelTimeout) {
		if r.Err != nil {
			fmt.Fprintf(stdout, "%-9s FAILED: %s\n", r.Channel, oneLine(r.Err))
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%-9s ok\n", r.Channel)
	}
	return code
}
