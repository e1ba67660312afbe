package main

import (
	"os"
	"testing"
	"time"
)

func TestParseMemStatus(t *testing.T) {
	tests := []struct {
		name, status string
		want         memStatus
		wantErr      bool
	}{
		{"status file", "Name:\tflagstorm\nVmPeak:\t 1262504 kB\nVmHWM:\t   23456 kB\nVmRSS:\t   20000 kB\n",
			memStatus{RSS: 20000 << 10, HWM: 23456 << 10}, false},
		{"zombie: no memory lines", "Name:\tflagstorm\nState:\tZ (zombie)\n", memStatus{}, true},
		{"only VmRSS", "VmRSS:\t 12 kB\n", memStatus{}, true},
		{"other unit", "VmHWM:\t 12 MB\nVmRSS:\t 12 kB\n", memStatus{}, true},
		{"not a number", "VmHWM:\t x kB\nVmRSS:\t 12 kB\n", memStatus{}, true},
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
	m, err := readMemStatus(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
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
	if _, err := parseCPUTime("4242 (x) S 1 2\n"); err == nil {
		t.Error("short stat line: want an error")
	}
}

func TestRSSAt(t *testing.T) {
	g := genProc{wall: 90 * time.Second, samples: []rssSample{{time.Second, 10}, {59 * time.Second, 20}, {61 * time.Second, 30}}}
	if v, ok := g.rssAt(time.Minute); !ok || v != 20 {
		t.Errorf("rssAt(1m) = %d, %v; want 20, true", v, ok)
	}
	short := genProc{wall: 3 * time.Second, samples: []rssSample{{time.Second, 10}}}
	if _, ok := short.rssAt(time.Minute); ok {
		t.Error("rssAt(1m) of a 3 s run: want none")
	}
}
