package format

import (
	"math"
	"strconv"
	"testing"
	"time"
)

func TestMoney(t *testing.T) {
	tests := []struct {
		name  string
		paise int64
		want  string
	}{
		{"zero", 0, "₹0.00"},
		{"one paisa", 1, "₹0.01"},
		{"ten paise", 10, "₹0.10"},
		{"hundreds", 99999, "₹999.99"},
		{"thousand", 100000, "₹1,000.00"},
		{"seed net revenue", 11800000, "₹1,18,000.00"},
		{"ten lakh", 100000000, "₹10,00,000.00"},
		{"one crore", 1000000000, "₹1,00,00,000.00"},
		{"negative refund day", -200000, "−₹2,000.00"},
		{"negative paisa", -5, "−₹0.05"},
		{"largest", math.MaxInt64, "₹92,23,37,20,36,85,47,758.07"},
		{"smallest", math.MinInt64, "−₹92,23,37,20,36,85,47,758.08"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Money(tt.paise); got != tt.want {
				t.Errorf("Money(%d) = %q, want %q", tt.paise, got, tt.want)
			}
		})
	}
}

func TestMoneyShort(t *testing.T) {
	tests := []struct {
		name  string
		paise int64
		want  string
	}{
		{"zero", 0, "₹0"},
		{"rupees", 85000, "₹850"},
		{"thousands", 250000, "₹2.5K"},
		{"lakh", 11800000, "₹1.2L"},
		{"whole lakh", 10000000, "₹1L"},
		{"crore", 3500000000, "₹3.5Cr"},
		{"negative", -20000000, "−₹2L"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MoneyShort(tt.paise); got != tt.want {
				t.Errorf("MoneyShort(%d) = %q, want %q", tt.paise, got, tt.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"small", 42, "42"},
		{"three digits", 999, "999"},
		{"four digits", 1000, "1,000"},
		{"lakh", 123456, "1,23,456"},
		{"crore", 12345678, "1,23,45,678"},
		{"negative", -1500, "−1,500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Count(tt.n); got != tt.want {
				t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"bytes", 512, "512 B"},
		{"kib", 1536, "1.5 KiB"},
		{"mib", 5 << 20, "5.0 MiB"},
		{"gib", 3 << 30, "3.0 GiB"},
		{"tib", 2 << 40, "2.0 TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Bytes(tt.n); got != tt.want {
				t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"future", -time.Minute, "in the future"},
		{"now", 300 * time.Millisecond, "just now"},
		{"seconds", 45 * time.Second, "45 seconds"},
		{"minutes", 12*time.Minute + 30*time.Second, "12 minutes"},
		{"whole hours", 3 * time.Hour, "3 hours"},
		{"hours and minutes", 3*time.Hour + 20*time.Minute, "3 hours 20 minutes"},
		{"whole days", 48 * time.Hour, "2 days"},
		{"days and hours", 52 * time.Hour, "2 days 4 hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Age(tt.d); got != tt.want {
				t.Errorf("Age(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 2, 17, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"never", time.Time{}, "never"},
		{"just now", now, "just now"},
		{"hours", now.Add(-11 * time.Hour), "11 hours ago"},
		{"future", now.Add(time.Hour), "in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ago(now, tt.t); got != tt.want {
				t.Errorf("Ago = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDateTime(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"zero", time.Time{}, "—"},
		{"branch zone", time.Date(2026, 2, 16, 22, 0, 5, 0, ist), "2026-02-16 22:00 +05:30"},
		{"utc instant shown in its zone", time.Date(2026, 2, 16, 16, 30, 0, 0, time.UTC).In(ist), "2026-02-16 22:00 +05:30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DateTime(tt.t); got != tt.want {
				t.Errorf("DateTime = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendMatchesFormat(t *testing.T) {
	for _, v := range []int64{0, 7, -7, 99999, 11800000, -200000, math.MaxInt64, math.MinInt64} {
		t.Run(strconv.FormatInt(v, 10), func(t *testing.T) {
			prefix := []byte("x")
			if got := string(AppendMoney(prefix, v)); got != "x"+Money(v) {
				t.Errorf("AppendMoney = %q, want %q", got, "x"+Money(v))
			}
			if got := string(AppendCount(prefix, v)); got != "x"+Count(v) {
				t.Errorf("AppendCount = %q, want %q", got, "x"+Count(v))
			}
		})
	}
}

func TestWordsForPeople(t *testing.T) {
	tests := []struct{ got, want string }{
		{Duration(2 * time.Hour), "2 hours"},
		{Duration(90 * time.Minute), "1 hour 30 minutes"},
		{Duration(26 * time.Hour), "1 day 2 hours"},
		{Duration(45 * time.Second), "45 seconds"},
		{Duration(0), "0 seconds"},
		{Change(0.125), "▲ 12.5% up"},
		{Change(-0.03), "▼ 3.0% down"},
		{Change(0), "● no change"},
		{Day(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)), "Sun 29 Nov 2026"},
		{DayRange(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)), "Mon 23 Nov – Sun 29 Nov 2026"},
		{DayRange(time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)), "Tue 1 Apr 2025 – Fri 2 Jan 2026"},
		{Bytes(316062), "308.7 KiB"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
