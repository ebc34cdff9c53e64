package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Run delivers pending records, oldest first, until ctx ends. A failed
// attempt is retried after a backoff doubling from MinBackoff to
// MaxBackoff; later records wait, so that a recovery never arrives before
// its outage.
func (n *Notifier) Run(ctx context.Context) {
	if n.o.WebhookURL == "" {
		<-ctx.Done()
		return
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		r, ok := n.oldestPending()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-n.wake:
				continue
			}
		}
		err := n.post(ctx, r)
		if ctx.Err() != nil {
			return
		}
		rec := n.settle(r.ID, err)
		if n.o.OnAttempt != nil {
			n.o.OnAttempt(rec)
		}
		if err == nil {
			continue
		}
		timer.Reset(n.backoff(rec.Attempts))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// oldestPending is the oldest record waiting for delivery.
func (n *Notifier) oldestPending() (Record, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.history {
		if r.Status == StatusPending {
			return r, true
		}
	}
	return Record{}, false
}

// settle records the outcome of an attempt and returns the record.
func (n *Notifier) settle(id int64, err error) Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.saveLocked()
	for i := range n.history {
		r := &n.history[i]
		if r.ID != id {
			continue
		}
		r.Attempts++
		now := n.o.Now()
		if err == nil {
			r.Status, r.DeliveredAt, r.LastError, r.NextAttempt = StatusDelivered, now, "", time.Time{}
			n.sent++
		} else {
			r.LastError = err.Error()
			r.NextAttempt = now.Add(n.backoff(r.Attempts))
			n.failed++
			n.o.Logger.Error("alert delivery failed; will retry", "id", r.ID, "attempts", r.Attempts,
				"retry_in", n.backoff(r.Attempts).String(), "err", err)
		}
		return *r
	}
	return Record{ID: id}
}

func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.o.MinBackoff
	for i := 1; i < attempts && d < n.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.o.MaxBackoff)
}

// Payload is the JSON body POSTed to the webhook.
type Payload struct {
	Text       string    `json:"text"`
	ID         int64     `json:"id"`
	Kind       Kind      `json:"kind"`
	BranchID   string    `json:"branch_id"`
	BranchName string    `json:"branch_name"`
	Check      string    `json:"check"`
	State      string    `json:"state"`
	Previous   string    `json:"previous_state,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	Reason     string    `json:"reason"`
	RaisedAt   time.Time `json:"raised_at"`
}

// post sends one record; any status but 2xx is a failure. Errors never
// carry the URL (a Slack hook's path is its secret).
func (n *Notifier) post(ctx context.Context, r Record) error {
	body, err := json.Marshal(Payload{Text: r.Text, ID: r.ID, Kind: r.Kind, BranchID: r.Branch, BranchName: r.BranchName,
		Check: r.Check, State: string(r.State), Previous: string(r.Previous), Since: r.Since, Reason: r.Reason, RaisedAt: r.Time})
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("post alert: bad webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.o.Client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // drop the wrapper: it quotes the URL
		}
		return fmt.Errorf("post alert: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post alert: webhook answered %s", resp.Status)
	}
	return nil
}
