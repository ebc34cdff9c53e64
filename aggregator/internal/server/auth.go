package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
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
// remembered (as a SHA-256 digest) and later requests compare digests;
// failed attempts always pay the full bcrypt cost, one or two at a time.
type authenticator struct {
	userSum  [32]byte
	hash     []byte
	tokenSum [32]byte
	basic    bool
	token    bool
	insecure bool

	mu   sync.Mutex
	good map[[32]byte]bool // digests of user:password that passed bcrypt
	gate chan struct{}     // bounds concurrent bcrypt comparisons
}

// authOKKey marks a request context that passed authentication, so that
// applying the middleware twice (globally and by a registrar) is harmless.
const authOKKey = "branchwatch.authenticated"

func newAuthenticator(c Credentials) *authenticator {
	a := &authenticator{
		basic: c.User != "" && c.PasswordBcrypt != "", token: c.Token != "",
		hash: []byte(c.PasswordBcrypt), good: map[[32]byte]bool{}, gate: make(chan struct{}, 2),
	}
	a.userSum = sha256.Sum256([]byte(c.User))
	a.tokenSum = sha256.Sum256([]byte(c.Token))
	a.insecure = c.Insecure && !a.basic && !a.token
	return a
}

// middleware refuses requests without valid credentials with 401.
func (a *authenticator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ok, _ := c.Get(authOKKey).(bool); ok || a.insecure || a.check(c.Request()) {
			c.Set(authOKKey, true)
			return next(c)
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="Branchwatch", charset="UTF-8"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "credentials required")
	}
}

func (a *authenticator) check(r *http.Request) bool {
	h := r.Header.Get(echo.HeaderAuthorization)
	if a.token {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
		}
	}
	if !a.basic {
		return false
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	us := sha256.Sum256([]byte(user))
	userOK := subtle.ConstantTimeCompare(us[:], a.userSum[:]) == 1
	digest := sha256.Sum256([]byte(user + ":" + pass))
	a.mu.Lock()
	known := a.good[digest]
	a.mu.Unlock()
	if known {
		return userOK
	}
	a.gate <- struct{}{}
	passOK := bcrypt.CompareHashAndPassword(a.hash, []byte(pass)) == nil
	<-a.gate
	if userOK && passOK {
		a.mu.Lock()
		if len(a.good) >= 64 {
			clear(a.good)
		}
		a.good[digest] = true
		a.mu.Unlock()
	}
	return userOK && passOK
}
