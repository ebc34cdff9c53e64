package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "smtp://user:hunter2-Pa55@mail.example:587"
	s := Secret(value)
	type holder struct {
		URL Secret
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("settings", "url", s, "holder", holder{s})
	js, _ := json.Marshal(holder{s})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%+v struct": fmt.Sprintf("%+v", holder{s}), "%#v struct": fmt.Sprintf("%#v", holder{s}),
		"json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(out, "hunter2") || !strings.Contains(strings.ReplaceAll(out, `\u003c`, "<"), "<secret") {
			t.Errorf("%s shows %q, want <secret> and never the value", name, out)
		}
	}
	if s.Reveal() != value || !s.IsSet() || Secret("").IsSet() {
		t.Error("Reveal or IsSet is wrong")
	}
}
