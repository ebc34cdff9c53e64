package server

import (
	"net/netip"
	"sync"
	"time"
)

// LoginLimits bounds what password checks may cost. A bcrypt comparison
// takes tens of milliseconds of CPU by design, so unbounded guessing
// would starve the owner's own login. The zero value means the defaults.
type LoginLimits struct {
	// Concurrent is how many bcrypt comparisons run at once (2).
	Concurrent int
	// Waiting is how many checks may wait for a comparison (64); beyond
	// it the client with the most recent failures is answered 429.
	Waiting int
	// Burst is how many failed logins a client address may make in a row
	// (10); after that it gets one more every Every (6s), and 429 until
	// then.
	Burst int
	Every time.Duration
	// Clients is how many client addresses are remembered (10,000); the
	// oldest idle ones are forgotten first.
	Clients int
	// Now is the clock of the per-address limits (time.Now when nil).
	Now func() time.Time
}

// Defaults of LoginLimits.
const (
	DefaultLoginConcurrent = 2
	DefaultLoginWaiting    = 64
	DefaultLoginBurst      = 10
	DefaultLoginEvery      = 6 * time.Second
	DefaultLoginClients    = 10_000
)

func (l LoginLimits) withDefaults() LoginLimits {
	if l.Concurrent <= 0 {
		l.Concurrent = DefaultLoginConcurrent
	}
	if l.Waiting <= 0 {
		l.Waiting = DefaultLoginWaiting
	}
	if l.Burst <= 0 {
		l.Burst = DefaultLoginBurst
	}
	if l.Every <= 0 {
		l.Every = DefaultLoginEvery
	}
	if l.Clients <= 0 {
		l.Clients = DefaultLoginClients
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// clientLimits is a token bucket of login attempts per client address.
// An attempt reserves a token before its comparison; a login that passes
// (or never ran) gives it back, so only failures use the bucket up. The
// tokens left are also the attempt's priority in the queue: a client
// without recent failures goes before one that keeps failing.
type clientLimits struct {
	burst float64
	every time.Duration
	max   int
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
	used   time.Time // last attempt, refused ones included
}

func newClientLimits(l LoginLimits) *clientLimits {
	return &clientLimits{burst: float64(l.Burst), every: l.Every, max: l.Clients, now: l.Now, m: map[string]*tokenBucket{}}
}

// refill brings b up to date at now.
func (c *clientLimits) refill(b *tokenBucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(c.burst, b.tokens+float64(d)/float64(c.every))
	}
	b.at = now
}

// take reserves one attempt for the client. It returns the tokens the
// client had (its priority), or ok false and how long until it may try
// again.
func (c *clientLimits) take(client string) (prio float64, retry time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	b := c.m[client]
	if b == nil {
		c.makeRoom(now)
		b = &tokenBucket{tokens: c.burst, at: now}
		c.m[client] = b
	}
	c.refill(b, now)
	b.used = now
	if b.tokens < 1 {
		return b.tokens, time.Duration((1 - b.tokens) * float64(c.every)), false
	}
	prio = b.tokens
	b.tokens--
	return prio, 0, true
}

// give returns a reserved attempt: the login passed, or was never checked.
func (c *clientLimits) give(client string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.m[client]; b != nil {
		c.refill(b, c.now())
		b.tokens = min(c.burst, b.tokens+1)
	}
}

// makeRoom keeps the map under its bound: clients whose bucket is full
// again are the same as unknown ones and are dropped; when none is, the
// one idle the longest goes.
func (c *clientLimits) makeRoom(now time.Time) {
	if len(c.m) < c.max {
		return
	}
	var oldest string
	var oldestUsed time.Time
	for k, b := range c.m {
		c.refill(b, now)
		if b.tokens >= c.burst {
			delete(c.m, k)
			continue
		}
		if oldest == "" || b.used.Before(oldestUsed) {
			oldest, oldestUsed = k, b.used
		}
	}
	if len(c.m) >= c.max && oldest != "" {
		delete(c.m, oldest)
	}
}

// clientKey is the address a request's limits are kept under: the IPv4
// address, or the /64 network of an IPv6 one (one host holds a whole
// /64). Forwarded-for headers are not trusted: behind a reverse proxy,
// every client shares the proxy's limits.
func clientKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
