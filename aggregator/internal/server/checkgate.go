package server

import (
	"context"
	"errors"
	"sync"
)

// errQueueFull is returned by checkGate.acquire when the waiting line is
// full of checks at least as deserving.
var errQueueFull = errors.New("too many password checks waiting")

// checkGate lets a few password checks run at once and keeps a bounded
// line of the others, served by priority (higher first, then in order of
// arrival). A waiter whose request is cancelled (its client went away)
// leaves the line at once; when the line is full, a newcomer of higher
// priority takes the place of the lowest waiter, which is refused.
type checkGate struct {
	maxRunning, maxWaiting int

	mu      sync.Mutex
	running int
	waiting []*waiter
	seq     uint64
}

type waiter struct {
	prio    float64
	seq     uint64
	ready   chan struct{} // closed when granted or evicted
	granted bool
}

func newCheckGate(running, waiting int) *checkGate {
	return &checkGate{maxRunning: running, maxWaiting: waiting}
}

// acquire waits for a slot. It returns errQueueFull when refused, or the
// context's error when ctx ended first. After a nil error the caller must
// call release.
func (g *checkGate) acquire(ctx context.Context, prio float64) error {
	g.mu.Lock()
	if g.running < g.maxRunning && len(g.waiting) == 0 {
		g.running++
		g.mu.Unlock()
		return nil
	}
	if len(g.waiting) >= g.maxWaiting {
		i := g.lowest()
		if i < 0 || g.waiting[i].prio >= prio {
			g.mu.Unlock()
			return errQueueFull
		}
		evicted := g.waiting[i]
		g.remove(i)
		close(evicted.ready) // not granted: refused
	}
	g.seq++
	w := &waiter{prio: prio, seq: g.seq, ready: make(chan struct{})}
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		if !w.granted {
			return errQueueFull
		}
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted { // granted as ctx ended: pass the slot on
		g.mu.Unlock()
		g.release()
		return ctx.Err()
	}
	if i := g.index(w); i >= 0 {
		g.remove(i)
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Unlock()
	return errQueueFull // evicted as ctx ended
}

// release frees a slot: the best waiter gets it.
func (g *checkGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) == 0 {
		g.running--
		return
	}
	best := 0
	for i, w := range g.waiting[1:] {
		if b := g.waiting[best]; w.prio > b.prio || (w.prio == b.prio && w.seq < b.seq) {
			best = i + 1
		}
	}
	w := g.waiting[best]
	g.remove(best)
	w.granted = true
	close(w.ready)
}

// lowest is the index of the waiter to refuse first: the lowest priority,
// the latest arrival among equals; -1 when none waits.
func (g *checkGate) lowest() int {
	low := -1
	for i, w := range g.waiting {
		if low < 0 || w.prio < g.waiting[low].prio || (w.prio == g.waiting[low].prio && w.seq > g.waiting[low].seq) {
			low = i
		}
	}
	return low
}

func (g *checkGate) index(w *waiter) int {
	for i, x := range g.waiting {
		if x == w {
			return i
		}
	}
	return -1
}

func (g *checkGate) remove(i int) {
	last := len(g.waiting) - 1
	g.waiting[i] = g.waiting[last]
	g.waiting[last] = nil
	g.waiting = g.waiting[:last]
}
