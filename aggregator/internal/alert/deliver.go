package alert

import (
	"context"
	"sync"
	"time"
)

// Run delivers pending records on every channel until ctx ends: one
// worker per channel, so a channel that is down delays only itself. On
// each channel records go oldest first; a failed attempt that may succeed
// later is retried after a backoff doubling from MinBackoff to MaxBackoff,
// and later records wait, so that a recovery never arrives before its
// outage. A permanent failure marks that delivery failed and moves on.
//
// A record is sent at most once per channel (de-duplication): its delivery
// state is saved after each attempt, and an attempt under way when ctx
// ends is finished (bounded by Timeout) and saved before Run returns, so
// a restart neither repeats nor drops it.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range n.o.Channels {
		wg.Go(func() { n.runChannel(ctx, c) })
	}
	wg.Wait()
}

func (n *Notifier) runChannel(ctx context.Context, c Channel) {
	name := c.Name()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		r, ok := n.oldestPending(name)
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-n.wake[name]:
				continue
			}
		}
		// The attempt outlives ctx by at most Timeout: a message sent must
		// be recorded as sent.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.o.Timeout)
		retry, err := c.Send(actx, r.Message())
		cancel()
		rec, d := n.settle(r.ID, name, err, retry)
		if n.o.OnAttempt != nil {
			n.o.OnAttempt(rec, name)
		}
		if err == nil || !retry {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		timer.Reset(n.backoff(d.Attempts))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// oldestPending is the oldest record waiting for delivery on channel.
func (n *Notifier) oldestPending(channel string) (Record, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.history {
		if d, ok := r.Delivery(channel); ok && d.Status == StatusPending {
			return r.clone(), true
		}
	}
	return Record{}, false
}

// settle records the outcome of an attempt on one channel, saves, and
// returns the record and that delivery.
func (n *Notifier) settle(id int64, channel string, err error, retry bool) (Record, Delivery) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.history {
		r := &n.history[i]
		if r.ID != id {
			continue
		}
		for j := range r.Deliveries {
			d := &r.Deliveries[j]
			if d.Channel != channel {
				continue
			}
			d.Attempts++
			now := n.o.Now()
			switch {
			case err == nil:
				d.Status, d.DeliveredAt, d.LastError, d.NextAttempt = StatusDelivered, now, "", time.Time{}
				n.sent++
				n.byChannel[channel].Sent++
			case retry:
				d.LastError = err.Error()
				d.NextAttempt = now.Add(n.backoff(d.Attempts))
				n.failed++
				n.byChannel[channel].Failed++
				n.o.Logger.Error("alert delivery failed; will retry", "id", r.ID, "channel", channel, "attempts", d.Attempts,
					"retry_in", n.backoff(d.Attempts).String(), "err", err)
			default:
				d.Status, d.LastError, d.NextAttempt = StatusFailed, err.Error(), time.Time{}
				n.failed++
				n.byChannel[channel].Failed++
				n.o.Logger.Error("alert delivery failed for good: not retried", "id", r.ID, "channel", channel,
					"attempts", d.Attempts, "text", r.Text, "err", err)
			}
			r.summarize()
			n.saveLocked()
			return r.clone(), *d
		}
	}
	return Record{ID: id}, Delivery{Channel: channel}
}

func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.o.MinBackoff
	for i := 1; i < attempts && d < n.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.o.MaxBackoff)
}
