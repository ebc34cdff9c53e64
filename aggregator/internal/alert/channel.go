package alert

import (
	"context"
	"time"

	"github.com/branchwatch/branchwatch/aggregator/internal/freshness"
)

// Channel is one way alerts reach a person (alert/email, alert/telegram,
// alert/webhook), in Alertmanager's notify layout: it sends one message and
// says whether a failure is worth retrying. Retry, backoff, de-duplication
// and logging are the Notifier's, the same for every channel, so no
// channel has a retry loop of its own.
type Channel interface {
	// Name is the channel's short name ("email"), stable across restarts:
	// the delivery state of every alert is kept under it.
	Name() string
	// Send delivers m once. retry says whether another attempt could
	// succeed (a refused connection, a 5xx, a 429); a permanent failure (a
	// wrong chat id, a recipient refused) is not retried. The error never
	// carries a secret (a token, a password, a hook's path).
	Send(ctx context.Context, m Message) (retry bool, err error)
}

// Message is one alert as a channel sends it. Names in it are safe to show
// (safetext.Display); each channel escapes for its own medium.
type Message struct {
	ID         int64
	Kind       Kind
	BranchID   string
	BranchName string
	Check      string
	State      freshness.State
	Previous   freshness.State
	Since      time.Time
	Reason     string
	RaisedAt   time.Time
	// Subject is a short line (an email's subject); Text the full line.
	Subject string
	Text    string
}

// Delivery states of one record on one channel.
const (
	StatusPending       = "pending"
	StatusDelivered     = "delivered"
	StatusFailed        = "failed"         // a permanent failure: not retried
	StatusNotConfigured = "not-configured" // no channel: shown, not sent
)

// Delivery is what became of one record on one channel.
type Delivery struct {
	Channel     string    `json:"channel"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// TestMessage is the message "aggregator test-alert" sends.
func TestMessage(now time.Time) Message {
	return Message{Kind: KindTest, RaisedAt: now, Subject: "Branchwatch test alert",
		Text: "Branchwatch test alert: this channel works. Sent by aggregator test-alert at " + now.UTC().Format(time.RFC3339) + "."}
}

// TestResult is one channel's answer to a test message.
type TestResult struct {
	Channel string
	Err     error
}

// SendTest sends the test message once to every channel (no retry: the
// point is to see what happens now), each bounded by timeout.
func SendTest(ctx context.Context, channels []Channel, now time.Time, timeout time.Duration) []TestResult {
	out := make([]TestResult, 0, len(channels))
	m := TestMessage(now)
	for _, c := range channels {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := c.Send(cctx, m)
		cancel()
		out = append(out, TestResult{Channel: c.Name(), Err: err})
	}
	return out
}
