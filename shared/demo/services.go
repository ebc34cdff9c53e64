package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/branchwatch/branchwatch/shared/testenv"
)

// s3Server is gofakes3 over testenv's persistent backend under the demo
// directory, so the bucket outlives the demo. The backend's directory lock
// also keeps two demos off one directory.
type s3Server struct {
	URL     string
	backend *testenv.PersistentBackend
	srv     *http.Server
	done    chan struct{}
}

func startS3(dir string) (*s3Server, error) {
	path := filepath.Join(dir, "s3")
	backend, err := testenv.OpenPersistentBackend(path)
	if errors.Is(err, testenv.ErrInUse) {
		return nil, fmt.Errorf("%s is %w (stop it first)", dir, errInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	h, err := testenv.NewS3Handler(backend, Bucket)
	if err != nil {
		backend.Close()
		return nil, fmt.Errorf("s3 server: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		backend.Close()
		return nil, fmt.Errorf("s3 server: %w", err)
	}
	s := &s3Server{URL: "http://" + l.Addr().String(), backend: backend, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}}
	go func() {
		_ = s.srv.Serve(l)
		close(s.done)
	}()
	return s, nil
}

func (s *s3Server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
	_ = s.backend.Close()
}

// webhook receives the aggregator's alerts and shows their text, so the
// demo shows alert delivery without a chat service.
type webhook struct {
	URL string
	// arrived gets each alert's text (dropped when nobody reads it).
	arrived chan string
	srv     *http.Server
	mu      sync.Mutex
	got     []string
	done    chan struct{}
}

func startWebhook(show func(text string)) (*webhook, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("alert receiver: %w", err)
	}
	w := &webhook{URL: "http://" + l.Addr().String() + "/alert", arrived: make(chan string, 16), done: make(chan struct{})}
	w.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var msg struct {
			Text string `json:"text"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if r.Method != http.MethodPost || json.Unmarshal(body, &msg) != nil || msg.Text == "" {
			http.Error(rw, "want a JSON POST with a text field", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, msg.Text)
		w.mu.Unlock()
		show(msg.Text)
		select {
		case w.arrived <- msg.Text:
		default:
		}
		rw.WriteHeader(http.StatusNoContent)
	})}
	go func() {
		_ = w.srv.Serve(l)
		close(w.done)
	}()
	return w, nil
}

// received returns the alert texts received so far.
func (w *webhook) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

func (w *webhook) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = w.srv.Shutdown(ctx)
	<-w.done
}

// anyPort says whether addr asks for any free port (":0").
func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// freeAddr resolves a ":0" port to a free one, and checks that a fixed
// address is not already taken (a clearer message than the aggregator's).
func freeAddr(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s is not free (another demo or program is listening there; set DEMO_LISTEN=127.0.0.1:PORT): %w", addr, err)
	}
	got := l.Addr().String()
	l.Close()
	return got, nil
}
