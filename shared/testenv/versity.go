package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/branchwatch/branchwatch/shared/store"
)

// The real S3 server of the tests: versitygw, a production S3 gateway, with
// its posix backend. Unlike gofakes3 it checks signatures and the region,
// knows users, enforces bucket policies, serves virtual-hosted addressing
// and TLS.
const (
	// VersityModule and VersityVersion pin the server: .ci/run installs
	// exactly this into VersityBinary's cache path.
	VersityModule  = "github.com/versity/versitygw/cmd/versitygw"
	VersityVersion = "v1.8.0"
	// VersityDomain is the base domain of virtual-hosted addressing:
	// "<bucket>.s3.test" reaches the bucket (RealS3.HTTPClient maps every
	// name under it to the server's loopback address).
	VersityDomain = "s3.test"
	// EnvVersityBinary names a versitygw binary to use instead of the cache.
	EnvVersityBinary = "BRANCHWATCH_VERSITYGW"
)

// S3Key is one access key of the real server.
type S3Key struct {
	Access string
	Secret string
}

// RealS3 is a running versitygw on a free loopback port, its data and users
// in a temporary directory removed on Close (or by its watchdog when the
// test process dies first).
type RealS3 struct {
	Endpoint string // http(s)://127.0.0.1:port: path-style requests
	Region   string
	Root     S3Key          // the gateway's root (admin) key
	CAPool   *x509.CertPool // the test CA when serving TLS, else nil

	addr  string
	dir   string
	log   string
	cmd   *exec.Cmd
	done  chan struct{}
	watch *exec.Cmd
	wdone chan struct{}
	seq   atomic.Int64
	once  sync.Once
}

type realS3Config struct{ tls bool }

// RealS3Option configures StartRealS3.
type RealS3Option func(*realS3Config)

// WithTLS serves HTTPS with a certificate of a fresh test CA (RealS3.CAPool)
// valid for 127.0.0.1 and *.s3.test.
func WithTLS() RealS3Option { return func(c *realS3Config) { c.tls = true } }

var (
	versityOnce sync.Once
	versityBin  string
	versityErr  error
)

// VersityBinary returns the pinned versitygw: $BRANCHWATCH_VERSITYGW, else
// the user cache (<cache>/branchwatch/versitygw-v1.8.0/versitygw), built
// there with `go install` on first use (a few minutes, once per machine).
func VersityBinary() (string, error) {
	versityOnce.Do(func() { versityBin, versityErr = findVersity() })
	return versityBin, versityErr
}

// VersityCacheDir is where VersityBinary keeps the pinned build.
func VersityCacheDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "branchwatch", "versitygw-"+VersityVersion), nil
}

func findVersity() (string, error) {
	if p := os.Getenv(EnvVersityBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVersityBinary, p, err)
		}
		return p, nil
	}
	dir, err := VersityCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for versitygw: %w", err)
	}
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Test binaries of several packages start at once: one builds, the
	// others wait on the lock and then find the binary.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("versitygw is not in %s and no go command builds it: %w", dir, err)
	}
	fmt.Fprintf(os.Stderr, "testenv: building versitygw %s into %s (once per machine)\n", VersityVersion, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", VersityModule+"@"+VersityVersion)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v: %s", VersityModule, VersityVersion, err, tail(string(out), 1500))
	}
	return bin, nil
}

// RequireVersity returns the versitygw binary, or skips the test with a
// WARNING line on stderr when it is missing and cannot be built; under
// BRANCHWATCH_REQUIRE_TOOLS=1 (CI) it fails instead.
func RequireVersity(tb testing.TB) string {
	tb.Helper()
	bin, err := VersityBinary()
	if err == nil {
		return bin
	}
	MissingTool(tb, "versitygw "+VersityVersion+" is not available ("+err.Error()+"); .ci/run installs it")
	return ""
}

// StartRealS3 starts versitygw for this test (stopped when it ends), or
// skips as RequireVersity says. Region S3Region is enforced.
func StartRealS3(tb testing.TB, opts ...RealS3Option) *RealS3 {
	tb.Helper()
	bin := RequireVersity(tb)
	var cfg realS3Config
	for _, o := range opts {
		o(&cfg)
	}
	s, err := startRealS3(bin, cfg)
	if err != nil {
		tb.Fatalf("start versitygw: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func startRealS3(bin string, cfg realS3Config) (s *RealS3, err error) {
	dir, err := os.MkdirTemp("", "branchwatch-s3-")
	if err != nil {
		return nil, err
	}
	s = &RealS3{Region: S3Region, dir: dir, log: filepath.Join(dir, "versitygw.log"),
		Root: S3Key{Access: "root-" + randHex(6), Secret: randHex(20)}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	data, iam := filepath.Join(dir, "data"), filepath.Join(dir, "iam")
	for _, d := range []string{data, iam} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return s, err
		}
	}
	args := []string{"--iam-dir", iam, "--region", s.Region, "--virtual-domain", VersityDomain, "--health", "/healthz", "--quiet"}
	scheme := "http"
	if cfg.tls {
		cert, key, _, pool, err := newTestCA(dir, VersityDomain, "*."+VersityDomain)
		if err != nil {
			return s, fmt.Errorf("test CA: %w", err)
		}
		s.CAPool = pool
		args = append(args, "--cert", cert, "--key", key)
		scheme = "https"
	}
	posix := []string{"posix"}
	if !xattrsWork(data) {
		// tmpfs before Linux 6.6 has no user xattrs: keep metadata in files.
		side := filepath.Join(dir, "meta")
		if err := os.Mkdir(side, 0o700); err != nil {
			return s, err
		}
		posix = append(posix, "--sidecar", side)
	}
	posix = append(posix, data)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return s, err
		}
		s.addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.Endpoint = scheme + "://" + s.addr
		if lastErr = s.start(bin, append(append(args, "--port", s.addr), posix...)); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return s, lastErr
	}
	return s, nil
}

// start runs the gateway and waits until its health endpoint answers.
// The root key travels in the environment, never on the command line.
func (s *RealS3) start(bin string, args []string) error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"ROOT_ACCESS_KEY_ID=" + s.Root.Access, "ROOT_SECRET_ACCESS_KEY=" + s.Root.Secret,
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	client := s.HTTPClient()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(s.log)
			return fmt.Errorf("versitygw exited at start: %s", tail(string(log), 1500))
		default:
		}
		resp, err := client.Get(s.Endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.watchdog()
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.stopProcess()
			return fmt.Errorf("versitygw on %s not healthy after 60s: %v", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchdog stops the gateway and removes its files if this process dies
// without calling Close (a test timeout, kill -9).
func (s *RealS3) watchdog() {
	script := fmt.Sprintf(`while [ -d /proc/%d ]; do sleep 1; done; kill -KILL -%d 2>/dev/null; sleep 1; rm -rf %s`,
		os.Getpid(), s.cmd.Process.Pid, s.dir)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		s.watch, s.wdone = cmd, reap(cmd)
	}
}

func (s *RealS3) stopProcess() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// Close stops the gateway and removes its files. Safe to call twice.
func (s *RealS3) Close() {
	s.once.Do(func() {
		s.stopProcess()
		_ = os.RemoveAll(s.dir)
		stopWatchdog(s.watch, s.wdone)
	})
}

// VirtualHostEndpoint is the endpoint of virtual-hosted addressing
// (scheme://s3.test:port); the SDK puts the bucket in front of the host.
// Only HTTPClient resolves it.
func (s *RealS3) VirtualHostEndpoint() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return strings.SplitN(s.Endpoint, "://", 2)[0] + "://" + VersityDomain + ":" + port
}

// HTTPClient trusts the test CA (TLS) and dials every host under
// VersityDomain at the server's loopback address, as a DNS entry would.
func (s *RealS3) HTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && (host == VersityDomain || strings.HasSuffix(host, "."+VersityDomain)) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: s.CAPool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
		ForceAttemptHTTP2:   true,
	}}
}

// Options are the store settings for bucket with key: path-style on the
// loopback address, with HTTPClient (test CA, s3.test resolution).
func (s *RealS3) Options(bucket string, key S3Key) store.S3Options {
	return store.S3Options{Endpoint: s.Endpoint, Bucket: bucket, AccessKey: key.Access, SecretKey: key.Secret,
		Region: s.Region, ForcePathStyle: true, HTTPClient: s.HTTPClient()}
}

// Store is a store client for bucket signed with key.
func (s *RealS3) Store(tb testing.TB, bucket string, key S3Key) *store.S3 {
	tb.Helper()
	st, err := store.NewS3(s.Options(bucket, key))
	if err != nil {
		tb.Fatalf("s3 store: %v", err)
	}
	return st
}

// Env is the BACKUP_S3_* environment for bucket with key (plain HTTP,
// path-style: a child process has no test CA nor s3.test resolution).
func (s *RealS3) Env(bucket string, key S3Key) map[string]string {
	return map[string]string{
		"BACKUP_S3_ENDPOINT":         s.Endpoint,
		"BACKUP_S3_BUCKET":           bucket,
		"BACKUP_S3_ACCESS_KEY":       key.Access,
		"BACKUP_S3_SECRET_KEY":       key.Secret,
		"BACKUP_S3_REGION":           s.Region,
		"BACKUP_S3_FORCE_PATH_STYLE": "true",
	}
}

// BucketOption configures CreateBucket.
type BucketOption func(http.Header)

// WithObjectLock creates the bucket with object lock enabled (and so
// versioning), as a B2 bucket set up append-only.
func WithObjectLock() BucketOption {
	return func(h http.Header) { h.Set("X-Amz-Bucket-Object-Lock-Enabled", "true") }
}

// CreateBucket creates a fresh bucket owned by the root key and returns
// its name.
func (s *RealS3) CreateBucket(tb testing.TB, opts ...BucketOption) string {
	tb.Helper()
	name := fmt.Sprintf("bw-%d-%d", os.Getpid(), s.seq.Add(1))
	h := http.Header{}
	for _, o := range opts {
		o(h)
	}
	if err := s.rootRequest(http.MethodPut, "/"+name, nil, h); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// CreateUser adds a user with role "user": it may do nothing beyond what a
// bucket policy grants it. Its key is returned.
func (s *RealS3) CreateUser(tb testing.TB, name string) S3Key {
	tb.Helper()
	key := S3Key{Access: name + "-" + randHex(4), Secret: randHex(20)}
	type account struct {
		XMLName xml.Name `xml:"Account"`
		Access  string   `xml:"Access"`
		Secret  string   `xml:"Secret"`
		Role    string   `xml:"Role"`
	}
	body, err := xml.Marshal(account{Access: key.Access, Secret: key.Secret, Role: "user"})
	if err != nil {
		tb.Fatal(err)
	}
	// The admin API of `versitygw admin create-user`, called directly so
	// that no secret goes on a command line.
	if err := s.rootRequest(http.MethodPatch, "/create-user", body, nil); err != nil {
		tb.Fatalf("create user %s: %v", name, err)
	}
	return key
}

// DeleteUser removes key's user through the admin API (`versitygw admin
// delete-user`), as an operator revokes a key: the server forgets the key
// at once (its IAM cache included), and requests signed with it are
// refused with InvalidAccessKeyId. It returns an error rather than failing
// a test, so that a proxy's handler may revoke between two requests.
func (s *RealS3) DeleteUser(key S3Key) error {
	if err := s.rootRequest(http.MethodPatch, "/delete-user?access="+url.QueryEscape(key.Access), nil, nil); err != nil {
		return fmt.Errorf("delete user %s: %w", key.Access, err)
	}
	return nil
}

// Grant is one principal's share of a bucket: Prefix "" with ReadOnly is
// the aggregator's read access to everything; a Prefix "branch-x/" is a
// branch's read-write key limited to its own names, as a B2 application
// key restricted to a name prefix.
type Grant struct {
	Key      S3Key
	Prefix   string
	ReadOnly bool
	// AppendOnly is a branch key of an append-only bucket (B2's
	// writeFileRetentions without deleteFiles): it sets object locks and
	// cannot delete.
	AppendOnly bool
}

// SetPolicy puts the bucket policy made of grants (replacing any).
func (s *RealS3) SetPolicy(tb testing.TB, bucket string, grants ...Grant) {
	tb.Helper()
	body, err := json.Marshal(policyDocument(bucket, grants...))
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.rootRequest(http.MethodPut, "/"+bucket+"?policy", body, nil); err != nil {
		tb.Fatalf("put bucket policy on %s: %v\n%s", bucket, err, body)
	}
}

// Bucket is a bucket set up as production: one key per branch, limited by
// the bucket policy to "<branch>/", and a read-only aggregator key.
type Bucket struct {
	Name       string
	Branch     map[string]S3Key
	Aggregator S3Key
}

// ProductionBucket creates a bucket, a user per branch and one for the
// aggregator, and the policy that grants each its share. With
// WithObjectLock the branch keys are append-only.
func (s *RealS3) ProductionBucket(tb testing.TB, branches []string, opts ...BucketOption) Bucket {
	tb.Helper()
	h := http.Header{}
	for _, o := range opts {
		o(h)
	}
	appendOnly := h.Get("X-Amz-Bucket-Object-Lock-Enabled") == "true"
	b := Bucket{Name: s.CreateBucket(tb, opts...), Branch: map[string]S3Key{}, Aggregator: s.CreateUser(tb, "aggregator")}
	grants := []Grant{{Key: b.Aggregator, ReadOnly: true}}
	for _, id := range branches {
		b.Branch[id] = s.CreateUser(tb, id)
		grants = append(grants, Grant{Key: b.Branch[id], Prefix: id + "/", AppendOnly: appendOnly})
	}
	s.SetPolicy(tb, b.Name, grants...)
	return b
}

// policyDocument is the bucket policy that grants exactly grants.
func policyDocument(bucket string, grants ...Grant) map[string]any {
	var stmts []map[string]any
	for _, g := range grants {
		principal := map[string]any{"AWS": g.Key.Access}
		objects := "arn:aws:s3:::" + bucket + "/" + g.Prefix + "*"
		objectActions := []string{"s3:GetObject"}
		switch {
		case g.AppendOnly:
			objectActions = append(objectActions, "s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
		case !g.ReadOnly:
			objectActions = append(objectActions, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
		}
		stmts = append(stmts, map[string]any{
			"Effect": "Allow", "Principal": principal, "Action": objectActions, "Resource": []string{objects},
		})
		list := map[string]any{
			"Effect": "Allow", "Principal": principal, "Action": []string{"s3:ListBucket"}, "Resource": []string{"arn:aws:s3:::" + bucket},
		}
		if g.Prefix != "" {
			list["Condition"] = map[string]any{"StringLike": map[string]any{"s3:prefix": []string{g.Prefix + "*"}}}
		}
		stmts = append(stmts, list)
		if !g.ReadOnly {
			// The agent aborts its stale multipart uploads. versitygw
			// cannot condition this listing on s3:prefix (B2 can), so the
			// grant is bucket-wide: it shows upload names, never data.
			stmts = append(stmts, map[string]any{
				"Effect": "Allow", "Principal": principal, "Action": []string{"s3:ListBucketMultipartUploads"},
				"Resource": []string{"arn:aws:s3:::" + bucket},
			})
		}
	}
	return map[string]any{"Version": "2012-10-17", "Statement": stmts}
}

// rootRequest sends one request signed with the root key and fails on any
// status above 299.
func (s *RealS3) rootRequest(method, path string, body []byte, h http.Header) error {
	req, err := http.NewRequest(method, s.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.Root.Access, SecretAccessKey: s.Root.Secret},
		req, payload, "s3", s.Region, time.Now()); err != nil {
		return err
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s: %s", method, strings.SplitN(path, "?", 2)[0], resp.Status, out)
	}
	return nil
}

// xattrsWork says whether dir's filesystem keeps user extended attributes,
// where versitygw's posix backend keeps object metadata.
func xattrsWork(dir string) bool {
	f := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		return false
	}
	defer os.Remove(f)
	return syscall.Setxattr(f, "user.branchwatch", []byte("1"), 0) == nil
}
