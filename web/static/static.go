// Package static holds the dashboard's stylesheet and script, embedded in
// the binary so the dashboard works on a closed network (no CDN).
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed assets
var embedded embed.FS

// FS holds the assets at its root: app.css, app.js. Serve it under Prefix.
var FS = mustSub(embedded, "assets")

// Prefix is the URL path under which FS is served.
const Prefix = "/static/"

// Version is a short hash of every asset: pages link to Path(name), which
// carries it, so the assets can be cached for long and a new binary's
// assets are fetched fresh.
var Version = hashAll(FS)

// Path is the URL of an asset, with the version as a query string:
// Path("app.css") is "/static/app.css?v=1a2b3c4d".
func Path(name string) string {
	return Prefix + name + "?v=" + Version
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded above: cannot happen
	}
	return sub
}

func hashAll(f fs.FS) string {
	h := sha256.New()
	err := fs.WalkDir(f, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(f, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	if err != nil {
		panic(err) // embedded files are always readable
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}
