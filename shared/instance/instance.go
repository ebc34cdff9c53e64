// Package instance is the agent instance id: which installation of the
// agent wrote an object. It is the host name and an install id generated
// once and kept in BACKUP_DIR/.instance-id, joined as "host/install-id".
// Agents put it in object metadata (MetadataKey, x-amz-meta-instance on
// S3) of metrics documents and dumps, and in the agent status document;
// the metrics-v1 document itself is left as it is (a public contract).
// Two install ids for one branch mean two agents share a BRANCH_ID and
// overwrite each other (the host part alone may change: see Key).
package instance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Key is what tells two instances apart: the install id, kept in
// BACKUP_DIR. The host part is for people: a container recreated with the
// same BACKUP_DIR volume gets a new host name, and stays the same
// instance. An id that is not host/install-id is its own key.
func Key(id string) string {
	if Validate(id) != nil {
		return id
	}
	_, install, _ := strings.Cut(id, "/")
	return install
}

// MetadataKey is the object metadata key holding the id.
const MetadataKey = "instance"

// FileName is the file under BACKUP_DIR holding the install id.
const FileName = ".instance-id"

// Window is how far back a different instance's object counts as a
// conflict: older ones are an earlier installation of the same branch
// (a replaced server), not a second agent running now.
const Window = 7 * 24 * time.Hour

// maxLen bounds an id (host names are at most 253 bytes).
const maxLen = 300

// installLen is the install id's length in hex digits.
const installLen = 16

// ErrMalformed is wrapped by Validate's errors.
var ErrMalformed = errors.New("malformed instance id")

// Validate checks that id is "host/install-id": printable ASCII letters,
// digits, '.', '-' and '_' in the host, lower-case hex in the install id.
func Validate(id string) error {
	host, install, ok := strings.Cut(id, "/")
	switch {
	case len(id) > maxLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxLen)
	case !ok || host == "":
		return fmt.Errorf("%w: %q is not host/install-id", ErrMalformed, id)
	case strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "":
		return fmt.Errorf("%w: host %q holds characters other than letters, digits, '.', '-' and '_'", ErrMalformed, host)
	case len(install) != installLen || strings.Trim(install, "0123456789abcdef") != "":
		return fmt.Errorf("%w: install id %q is not %d lower-case hex digits", ErrMalformed, install, installLen)
	}
	return nil
}

// Load returns the id of the agent keeping its files in dir, with host as
// the host name: the install id is read from dir/FileName, or generated
// and written there (0600) on first use. A file that holds something else
// than an install id is an error naming it, never silently replaced.
func Load(dir, host string) (string, error) {
	path := filepath.Join(dir, FileName)
	install, err := readInstall(path)
	if errors.Is(err, os.ErrNotExist) {
		install, err = create(path)
	}
	if err != nil {
		return "", err
	}
	id := SafeHost(host) + "/" + install
	if err := Validate(id); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}

func readInstall(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	install := strings.TrimSpace(string(b))
	if len(install) != installLen || strings.Trim(install, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%s: %w: holds %d bytes that are not %d lower-case hex digits (remove it to generate a new one)",
			path, ErrMalformed, len(b), installLen)
	}
	return install, nil
}

// create writes a new install id; when another process created the file
// first, its id wins.
func create(path string) (string, error) {
	var raw [installLen / 2]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	install := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return readInstall(path)
	}
	if err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	_, err = f.WriteString(install + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("instance id: write %s: %w", path, err)
	}
	return install, nil
}

// SafeHost is host reduced to what an HTTP header and a log line carry
// safely: letters, digits, '.', '-' and '_' (others become '_'), at most
// 253 bytes; "unknown-host" when empty.
func SafeHost(host string) string {
	var b strings.Builder
	for _, r := range host {
		switch {
		case b.Len() >= 253:
		case r < 128 && (r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "unknown-host"
	}
	return b.String()
}

// Hostname is os.Hostname, or "" when it fails (Load then says
// unknown-host).
func Hostname() string {
	h, _ := os.Hostname()
	return h
}
