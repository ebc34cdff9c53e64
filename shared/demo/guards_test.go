package demo

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// Two demos on one directory, or on one dashboard address, are refused
// with a message saying what to do, instead of hanging or failing later.
func TestStartRefusesWhatIsInUse(t *testing.T) {
	dir := t.TempDir()
	first, err := startS3(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cases := []struct {
		name    string
		try     func() error
		wantErr string
	}{
		{"same directory", func() error {
			s, err := startS3(dir)
			if err == nil {
				s.close()
			} else if !errors.Is(err, errInUse) {
				t.Errorf("not errInUse: %v", err)
			}
			return err
		}, "in use by another demo"},
		{"same dashboard address", func() error { _, err := freeAddr(busy.Addr().String()); return err }, "DEMO_LISTEN"},
		{"free address", func() error { _, err := freeAddr("127.0.0.1:0"); return err }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.try()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}
