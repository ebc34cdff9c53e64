package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// Credentials are what a request may present.
type Credentials struct {
	User           string
	PasswordBcrypt string // bcrypt hash of the password
	Token          string // bearer token
	// Insecure lets every request in when no credential is set.
	Insecure bool
}

// authenticator checks requests against Credentials. A bcrypt comparison
// takes tens of milliseconds by design, so a password that passed is
// remembered (as a SHA-256 digest) and later requests compare digests.
// Other attempts pay the full bcrypt cost, a few at a time (checkGate),
// within a budget of failures per client address (clientLimits): a flood
// of wrong passwords is answered 429 instead of queueing without end, a
// waiting check ends when its client goes away, and a client without
// recent failures (the owner) goes before those that keep failing.
type authenticator struct {
	userSum  [32]byte
	hash     []byte
	tokenSum [32]byte
	basic    bool
	token    bool
	insecure bool

	mu     sync.Mutex
	good   map[[32]byte]bool // digests of user:password that passed bcrypt
	gate   *checkGate        // bounds concurrent bcrypt comparisons
	limits *clientLimits     // failed attempts per client address
	// compares counts the bcrypt comparisons run; refusals, throttles and
	// abandons count the outcomes of password attempts (on /metrics).
	compares, refusals, throttles, abandons atomic.Int64
}

// authOKKey marks a request context that passed authentication, so that
// applying the middleware twice (globally and by a registrar) is harmless.
const authOKKey = "branchwatch.authenticated"

func newAuthenticator(c Credentials, l LoginLimits) *authenticator {
	l = l.withDefaults()
	a := &authenticator{
		basic: c.User != "" && c.PasswordBcrypt != "", token: c.Token != "",
		hash: []byte(c.PasswordBcrypt), good: map[[32]byte]bool{},
		gate: newCheckGate(l.Concurrent, l.Waiting), limits: newClientLimits(l),
	}
	a.userSum = sha256.Sum256([]byte(c.User))
	a.tokenSum = sha256.Sum256([]byte(c.Token))
	a.insecure = c.Insecure && !a.basic && !a.token
	return a
}

// verdict is the outcome of checking one request's credentials.
type verdict int

const (
	refused   verdict = iota // no valid credentials: 401
	admitted                 // valid credentials
	throttled                // too many attempts: 429, try again later
	abandoned                // the client went away while its check waited
)

// middleware refuses requests without valid credentials with 401, and
// login attempts beyond the limits with 429 and a Retry-After.
func (a *authenticator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ok, _ := c.Get(authOKKey).(bool); ok || a.insecure {
			return next(c)
		}
		v, retry := a.check(c.Request())
		switch v {
		case admitted:
			c.Set(authOKKey, true)
			return next(c)
		case throttled:
			a.throttles.Add(1)
			c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
			return echo.NewHTTPError(http.StatusTooManyRequests, "too many login attempts: try again later")
		case abandoned:
			a.abandons.Add(1)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "the request was cancelled")
		}
		a.refusals.Add(1)
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="Branchwatch", charset="UTF-8"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "credentials required")
	}
}

// check judges the request's credentials; retry is set when throttled.
func (a *authenticator) check(r *http.Request) (verdict, time.Duration) {
	h := r.Header.Get(echo.HeaderAuthorization)
	if a.token {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			return judged(subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1), 0
		}
	}
	if !a.basic {
		return refused, 0
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return refused, 0
	}
	us := sha256.Sum256([]byte(user))
	userOK := subtle.ConstantTimeCompare(us[:], a.userSum[:]) == 1
	digest := sha256.Sum256([]byte(user + ":" + pass))
	if a.remembered(digest) {
		return judged(userOK), 0
	}
	client := clientKey(r.RemoteAddr)
	prio, retry, ok := a.limits.take(client)
	if !ok {
		return throttled, retry
	}
	if err := a.gate.acquire(r.Context(), prio); err != nil {
		a.limits.give(client) // never checked
		if errors.Is(err, errQueueFull) {
			return throttled, time.Second
		}
		return abandoned, 0
	}
	// Another request may have passed with the same credentials meanwhile
	// (a browser loads a page and its assets at once).
	passOK := a.remembered(digest)
	if !passOK {
		a.compares.Add(1)
		passOK = bcrypt.CompareHashAndPassword(a.hash, []byte(pass)) == nil
	}
	a.gate.release()
	if !userOK || !passOK {
		return refused, 0 // the reserved attempt stays used
	}
	a.limits.give(client)
	a.mu.Lock()
	if len(a.good) >= 64 {
		clear(a.good)
	}
	a.good[digest] = true
	a.mu.Unlock()
	return admitted, 0
}

// remembered reports whether user:password (as its digest) passed before.
func (a *authenticator) remembered(digest [32]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.good[digest]
}

// collectors are the counters of password attempts, for /metrics.
func (a *authenticator) collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("branchwatch_login_refused_total", "Requests refused with 401 (no or wrong credentials) since start.", &a.refusals),
		counter("branchwatch_login_throttled_total", "Login attempts answered 429 (the client address failed too often, or too many checks waited) since start.", &a.throttles),
		counter("branchwatch_login_abandoned_total", "Password checks dropped because the client went away while waiting, since start.", &a.abandons),
		counter("branchwatch_login_bcrypt_comparisons_total", "bcrypt comparisons run since start.", &a.compares),
	}
}

// forget drops the remembered logins: the next login pays bcrypt again.
func (a *authenticator) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.good)
}

func judged(ok bool) verdict {
	if ok {
		return admitted
	}
	return refused
}
