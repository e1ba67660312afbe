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
