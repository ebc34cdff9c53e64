package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 2, 17, 12, 0, 0, 0, time.UTC)} }
func limitsAt(c *fakeClock, l LoginLimits) *clientLimits {
	l.Now = c.now
	return newClientLimits(l.withDefaults())
}

// TestClientLimits: a client may fail Burst times, then once per Every;
// a login that passes (or never ran) gives its token back; clients are
// independent.
func TestClientLimits(t *testing.T) {
	clk := newFakeClock()
	l := limitsAt(clk, LoginLimits{Burst: 3, Every: 10 * time.Second})
	for i := range 3 {
		prio, _, ok := l.take("10.0.0.1")
		if !ok || prio != float64(3-i) {
			t.Fatalf("attempt %d: ok %v, priority %v; want allowed at %d", i+1, ok, prio, 3-i)
		}
	}
	_, retry, ok := l.take("10.0.0.1")
	if ok || retry != 10*time.Second {
		t.Fatalf("fourth failure: ok %v, retry %s; want refused, retry in 10s", ok, retry)
	}
	if _, _, ok := l.take("10.0.0.2"); !ok {
		t.Error("another address is refused")
	}
	clk.add(4 * time.Second)
	if _, retry, ok := l.take("10.0.0.1"); ok || retry != 6*time.Second {
		t.Errorf("after 4 s: ok %v, retry %s; want refused, 6s", ok, retry)
	}
	clk.add(6 * time.Second)
	if _, _, ok := l.take("10.0.0.1"); !ok {
		t.Error("after 10 s: still refused")
	}
	l.give("10.0.0.1") // that one passed
	if _, _, ok := l.take("10.0.0.1"); !ok {
		t.Error("a login that passed used the budget up")
	}
}

// TestClientLimitsBoundedMemory: a flood of new addresses never holds
// more than Clients entries; full buckets go first, then the one idle
// the longest, and a client that keeps failing keeps its record while
// there are idle ones to drop.
func TestClientLimitsBoundedMemory(t *testing.T) {
	clk := newFakeClock()
	l := limitsAt(clk, LoginLimits{Burst: 2, Every: time.Minute, Clients: 100})
	for range 2 {
		l.take("198.51.100.7") // the attacker: its budget used up
	}
	for i := range 10_000 {
		clk.add(time.Millisecond)
		l.take(fmt.Sprintf("203.0.113.%d/%d", i%256, i))
		if n := len(l.m); n > 100 {
			t.Fatalf("%d addresses remembered, bound 100", n)
		}
		if i%50 == 0 {
			l.take("198.51.100.7") // still failing, so never the idlest
		}
	}
	if _, _, ok := l.take("198.51.100.7"); ok {
		t.Error("the flood of new addresses reset the attacker's budget")
	}
}

func TestClientKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.1:5555", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:5555", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"pipe", "pipe"},
	} {
		if got := clientKey(tt.in); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCheckGate: slots go to the highest priority first, then in order
// of arrival; a cancelled waiter leaves the line; a full line refuses a
// newcomer no better than its lowest waiter, and evicts that waiter for
// a better one.
func TestCheckGate(t *testing.T) {
	ctx := context.Background()
	g := newCheckGate(1, 3)
	if err := g.acquire(ctx, 5); err != nil {
		t.Fatal(err)
	}
	type result struct {
		name string
		err  error
	}
	done := make(chan result, 8)
	wait := func(name string, ctx context.Context, prio float64) {
		go func() { done <- result{name, g.acquire(ctx, prio)} }()
		// Queued before the next one: arrival order is part of the rule.
		for deadline := time.Now().Add(5 * time.Second); ; {
			g.mu.Lock()
			queued := false
			for _, w := range g.waiting {
				queued = queued || w.seq == g.seq && w.prio == prio
			}
			g.mu.Unlock()
			if queued {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never queued", name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	wait("low", ctx, 1)
	wait("cancelled", cctx, 9)
	wait("mid", ctx, 5)
	cancel()
	if r := <-done; r.name != "cancelled" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %s %v, want the cancelled waiter to leave", r.name, r.err)
	}
	wait("mid2", ctx, 5)
	// The line is full (low, mid, mid2): a newcomer no better than the
	// lowest is refused; a better one evicts "low".
	if err := g.acquire(ctx, 1); !errors.Is(err, errQueueFull) {
		t.Fatalf("newcomer at the lowest priority: %v, want errQueueFull", err)
	}
	wait("high", ctx, 7)
	if r := <-done; r.name != "low" || !errors.Is(r.err, errQueueFull) {
		t.Fatalf("got %s %v, want low evicted", r.name, r.err)
	}
	var order []string
	for range 3 {
		g.release()
		r := <-done
		if r.err != nil {
			t.Fatalf("%s: %v", r.name, r.err)
		}
		order = append(order, r.name)
	}
	if fmt.Sprint(order) != "[high mid mid2]" {
		t.Errorf("served %v, want [high mid mid2]", order)
	}
	g.release()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running != 0 || len(g.waiting) != 0 {
		t.Errorf("after every release: %d running, %d waiting", g.running, len(g.waiting))
	}
}
