package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// ContentSecurityPolicy allows only what the dashboard embeds: its own
// stylesheet and script, served from the same origin. No inline script or
// style (the pages have none), no other origin, no framing, no plugins;
// forms post only to the aggregator itself.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// NoStore is the Cache-Control of every answer but the versioned assets:
// figures behind a login are kept by no cache, the browser's included.
const NoStore = "no-store"

// securityHeaders sets the headers every answer carries, errors and 401s
// included. Cache-Control is set before the handler runs, so a handler
// that may be cached (the embedded assets) replaces it.
func securityHeaders() echo.MiddlewareFunc {
	secure := middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY", ReferrerPolicy: "same-origin",
		ContentSecurityPolicy: ContentSecurityPolicy,
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return secure(func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderCacheControl, NoStore)
			return next(c)
		})
	}
}

// headAsGet answers HEAD wherever GET is answered: echo routes HEAD only
// to routes registered for it (and routes by the request it was handed,
// before any middleware), so without this every HEAD was 405. The routes
// see a GET (a shallow copy of the request); the response writer still
// belongs to the HEAD request, and net/http sends the headers
// (Content-Length included when it knows it) and drops the body, as it
// does for http.ServeMux's GET patterns.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			get := *r
			get.Method = http.MethodGet
			r = &get
		}
		next.ServeHTTP(w, r)
	})
}
