// Package deploycheck holds the tests of the repository's deploy/ directory:
// the compose files are valid for docker compose, the Dockerfiles copy what
// exists, the systemd units carry their hardening and the .env examples
// document every variable. deploy/ is not a Go module, so its checks live
// here; the package has no code of its own beyond the helpers its tests share.
package deploycheck

import (
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot returns the repository's top directory, found by walking up from
// dir to the directory holding go.work and deploy/.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(d, "go.work")) && isDir(filepath.Join(d, "deploy")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no repository root (go.work and deploy/) above %s", dir)
		}
		d = parent
	}
}

func isFile(p string) bool { st, err := os.Stat(p); return err == nil && st.Mode().IsRegular() }
func isDir(p string) bool  { st, err := os.Stat(p); return err == nil && st.IsDir() }
