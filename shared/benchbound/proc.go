package benchbound

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// RSS is this process's resident set (VmRSS), in bytes; -1 when
// /proc/self/status cannot be read.
func RSS() int64 { return procStatus("VmRSS") }

// PeakRSS is this process's peak resident set since it started or since
// ResetPeakRSS (VmHWM), in bytes; -1 when unknown.
func PeakRSS() int64 { return procStatus("VmHWM") }

// ResetPeakRSS makes PeakRSS start again from the current RSS.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func procStatus(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}
