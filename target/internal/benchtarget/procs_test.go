package main

import "testing"

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name, status string
		want         int64
		wantErr      bool
	}{
		{"status file", "Name:\tflagserver\nVmPeak:\t 1262504 kB\nVmHWM:\t   23456 kB\nVmRSS:\t   20000 kB\n", 23456 << 10, false},
		{"no line", "Name:\tflagserver\n", 0, true},
		{"other unit", "VmHWM:\t 12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmHWM(tt.status)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseVmHWM = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
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
