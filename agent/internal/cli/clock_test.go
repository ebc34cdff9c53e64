package cli

import (
	"strings"
	"testing"
	"time"
)

// TestClockFrom: the simulated clock's two variables, and a clear error
// naming the variable for each bad value.
func TestClockFrom(t *testing.T) {
	const at = "2026-03-05T21:30:00+05:30"
	cases := []struct {
		name, now, rate string
		wantRate        float64 // 0: no simulated clock
		wantErr         string
	}{
		{"real", "", "", 0, ""},
		{"offset", at, "", 1, ""},
		{"rate", at, "600", 600, ""},
		{"rate without start", "", "600", 0, FakeNowVariable},
		{"rate not a number", at, "fast", 0, ClockRateVariable},
		{"rate below 1", at, "0.5", 0, ClockRateVariable},
		{"slower window", at, "7200,21:00-01:30=900", 900, ""},
		{"bad window", at, "7200,21:00=900", 0, ClockRateVariable},
		{"bad start", "tonight", "", 0, FakeNowVariable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{FakeNowVariable: c.now, ClockRateVariable: c.rate}
			sim, err := clockFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, c.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.wantRate == 0:
				if sim != nil {
					t.Fatalf("a simulated clock at rate %v", sim.Rate())
				}
			default:
				start, _ := time.Parse(time.RFC3339, c.now)
				if sim == nil || sim.Rate() != c.wantRate {
					t.Fatalf("clock %v, want rate %v", sim, c.wantRate)
				}
				if d := sim.Now().Sub(start); d < 0 || d > time.Duration(c.wantRate)*time.Second {
					t.Errorf("Now is %v past the start", d)
				}
			}
		})
	}
}
