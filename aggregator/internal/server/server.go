// Package server is the aggregator's HTTP front: echo with authentication
// on every route but /healthz and /readyz, the JSON API and CSV export, /metrics for
// Prometheus, and whatever routes the dashboard registers, behind
// http.Server timeouts and request size limits. Every answer carries the
// security headers (headers.go), HEAD is answered wherever GET is, and
// password checks are bounded per client address and queued by priority
// (loginlimit.go, checkgate.go).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/branchwatch/branchwatch/aggregator/internal/api"
)

// Registrar adds routes (the dashboard's pages and assets). Every route of
// the server already requires authentication except /healthz and /readyz; auth may be
// applied again to a route or group, harmlessly.
type Registrar func(e *echo.Echo, auth echo.MiddlewareFunc)

// Service is what the server needs of the aggregator's core.
type Service interface {
	api.Reader
	StatusSource
	// Ready says whether the data served is fresh (for /readyz) and why not.
	Ready() (bool, string)
}

// Options configures a Server.
type Options struct {
	Credentials Credentials
	Routes      []Registrar
	Logger      *slog.Logger
	// BodyLimit bounds request bodies (64 KiB when empty; echo's syntax).
	BodyLimit string
	// Login bounds password checks (zero: the defaults).
	Login LoginLimits
}

// Timeouts of the HTTP server: slow clients cannot hold it.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 2 * time.Minute // a large CSV export included
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
	ShutdownTimeout   = 10 * time.Second
)

// Server is the HTTP server.
type Server struct {
	e      *echo.Echo
	h      http.Handler // e, answering HEAD as GET
	auth   *authenticator
	logger *slog.Logger
}

// New builds the routes. It refuses credentials that are empty unless
// Insecure is set, so that a wiring mistake cannot open the dashboard.
func New(svc Service, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := o.Credentials
	if c.Token == "" && (c.User == "" || c.PasswordBcrypt == "") && !c.Insecure {
		return nil, errors.New("server: no credentials configured and insecure mode not set")
	}
	if o.BodyLimit == "" {
		o.BodyLimit = "64K"
	}
	auth := newAuthenticator(c, o.Login)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(o.Logger)
	e.Use(middleware.Recover())
	e.Use(accessLog(o.Logger))
	e.Use(middleware.BodyLimit(o.BodyLimit))
	e.Use(securityHeaders())
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		protected := auth.middleware(next)
		return func(c echo.Context) error {
			if c.Path() == "/healthz" || c.Path() == "/readyz" {
				return next(c)
			}
			return protected(c)
		}
	})

	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	// Readiness, for load balancers and external monitors: 503 while the
	// last good sync is older than three refresh intervals. No
	// authentication, so the answer names no bucket and no error.
	e.GET("/readyz", func(c echo.Context) error {
		if ok, why := svc.Ready(); !ok {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": why})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{src: svc}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(auth.collectors()...)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	api.Handlers{R: svc}.Register(e)
	for _, r := range o.Routes {
		r(e, auth.middleware)
	}
	return &Server{e: e, h: headAsGet(e), auth: auth, logger: o.Logger}, nil
}

// Handler is the server's routes, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.h }

// Routes lists the registered routes (tests check each of them).
func (s *Server) Routes() []*echo.Route { return s.e.Routes() }

// Serve serves on l until ctx ends, then shuts down gracefully within
// ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		done <- srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return <-done
	}
	return err
}

// errorHandler answers errors as JSON without internal details.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			logger.Warn("error after the response started", "path", c.Request().URL.Path, "err", err)
			return
		}
		code, msg := http.StatusInternalServerError, "internal error"
		if he, ok := errors.AsType[*echo.HTTPError](err); ok {
			code = he.Code
			if s, ok := he.Message.(string); ok {
				msg = s
			} else {
				msg = http.StatusText(code)
			}
		} else {
			logger.Error("request failed", "path", c.Request().URL.Path, "err", err)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, map[string]string{"error": msg})
	}
}

// accessLog logs each request (never its headers: they hold credentials).
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			logger.Debug("request", "method", c.Request().Method, "path", c.Request().URL.Path,
				"status", c.Response().Status, "duration", time.Since(start).String())
			return nil
		}
	}
}
