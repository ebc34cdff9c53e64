package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/branchwatch/branchwatch/shared/internal/fixtures"
	"github.com/branchwatch/branchwatch/shared/metrics"
)

func check(data []byte) ([]byte, error) {
	m, err := Unmarshal(data)
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.Marshal()
}

func TestFixtures(t *testing.T) {
	fixtures.Run(t, fixtures.Codec{Check: check, Sentinels: []error{ErrMalformed, ErrUnsupportedVersion, ErrInvalid, ErrTooLarge}})
}

func TestCheckKey(t *testing.T) {
	m := Manifest{DumpKey: "b/backups/b_20260217_220005.dump.age"}
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"its own", "b/backups/b_20260217_220005.dump.age.manifest.json", true},
		{"another dump's", "b/backups/b_20260218_220005.dump.age.manifest.json", false},
		{"the dump itself", "b/backups/b_20260217_220005.dump.age", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.CheckKey(tt.key)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckKey(%q) = %v", tt.key, err)
			}
			if err != nil && !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("%v does not wrap ErrKeyMismatch", err)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	_, err := Unmarshal([]byte(`{"schema_version": 1, "x": "` + strings.Repeat("a", MaxBytes) + `"}`))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Unmarshal of %d bytes: %v", MaxBytes, err)
	}
}

func TestDayFromDocument(t *testing.T) {
	d := metrics.Document{SummaryDate: "2026-02-17", TotalBills: 4, GrossRevenue: 900}
	d.Derive()
	day := DayFromDocument(d)
	if day.Date != "2026-02-17" || day.Figures["total_bills"] != 4 || day.Figures["net_revenue"] != 900 || len(day.Figures) != len(metrics.FigureNames) {
		t.Fatalf("DayFromDocument = %+v", day)
	}
	if errs := day.validate(); len(errs) != 0 {
		t.Fatalf("validate: %v", errs)
	}
}
