package benchkit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseMemStatus(t *testing.T) {
	tests := []struct {
		name, status string
		want         memStatus
		wantErr      bool
	}{
		{"status file", "Name:\tflagserver\nVmPeak:\t 1262504 kB\nVmHWM:\t   23456 kB\nVmRSS:\t   20000 kB\n",
			memStatus{RSS: 20000 << 10, HWM: 23456 << 10}, false},
		{"zombie: no memory lines", "Name:\tflagstorm\nState:\tZ (zombie)\n", memStatus{}, true},
		{"only VmRSS", "VmRSS:\t 12 kB\n", memStatus{}, true},
		{"only VmHWM", "VmHWM:\t 12 kB\n", memStatus{}, true},
		{"other unit", "VmHWM:\t 12 MB\nVmRSS:\t 12 kB\n", memStatus{}, true},
		{"not a number", "VmHWM:\t x kB\nVmRSS:\t 12 kB\n", memStatus{}, true},
		{"negative", "VmHWM:\t -1 kB\nVmRSS:\t 12 kB\n", memStatus{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemStatus(tt.status)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMemStatus = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadMemStatusSelf(t *testing.T) {
	needProc(t)
	m, err := readMemStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("own memory %+v: want 0 < VmRSS <= VmHWM", m)
	}
}

func TestParseCPUTime(t *testing.T) {
	// A real /proc/<pid>/stat line, with a space in the command name.
	stat := "4242 (flag server) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1500 250 0 0 20 0 9 0 12345 1262504 5864 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	got, err := parseCPUTime(stat)
	if want := 1750 * clockTick; err != nil || got != want {
		t.Errorf("parseCPUTime = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"4242 (x) S 1 2\n", "no parenthesis", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 250 0\n"} {
		if _, err := parseCPUTime(bad); err == nil {
			t.Errorf("parseCPUTime(%q): want an error", bad)
		}
	}
}

func TestProcField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(path, []byte("MemFree:        1024 kB\nMemTotal:       16315584 kB\nmodel name\t: Example CPU @ 2.00GHz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key    string
		format func(string) string
		want   string
	}{
		{"MemTotal", formatKB, "15.6 GiB"},
		{"model name", func(v string) string { return v }, "Example CPU @ 2.00GHz"},
		{"Swap", formatKB, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := procField(path, tt.key, tt.format); got != tt.want {
				t.Errorf("procField(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if got := procField(filepath.Join(t.TempDir(), "missing"), "MemTotal", formatKB); got != "unknown" {
		t.Errorf("procField of a missing file = %q, want unknown", got)
	}
	if got := formatKB("12 MB"); got != "12 MB" {
		t.Errorf("formatKB(12 MB) = %q, want it unchanged", got)
	}
}
