package benchkit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat
// (USER_HZ, 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// parseCPUTime reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line; the command name in field 2 may contain spaces.
func parseCPUTime(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat %q", stat)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat %q: %w", stat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// memStatus is the memory of a process from /proc/<pid>/status.
type memStatus struct {
	RSS int64 // VmRSS: resident now, bytes
	HWM int64 // VmHWM: peak resident so far, bytes
}

// parseMemStatus reads the "VmRSS:   12345 kB" and "VmHWM:" lines of a
// /proc/<pid>/status. A zombie (exited, not yet reaped) has neither.
func parseMemStatus(status string) (memStatus, error) {
	var m memStatus
	var seen int
	for line := range strings.Lines(status) {
		var dst *int64
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if ok {
			dst = &m.RSS
		} else if rest, ok = strings.CutPrefix(line, "VmHWM:"); ok {
			dst = &m.HWM
		} else {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return memStatus{}, fmt.Errorf("unexpected line %q in /proc status", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return memStatus{}, fmt.Errorf("unexpected line %q in /proc status", strings.TrimSpace(line))
		}
		*dst = kb << 10
		seen++
	}
	if seen < 2 {
		return memStatus{}, errors.New("no VmRSS and VmHWM lines in /proc status (has the process exited?)")
	}
	return m, nil
}

// readMemStatus reads /proc/<pid>/status.
func readMemStatus(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	return parseMemStatus(string(b))
}

// LoadAvg is the 1, 5 and 15-minute load averages of /proc/loadavg, like
// "0.52 0.61 0.58"; "unknown" without /proc.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	return procField("/proc/cpuinfo", "model name", func(v string) string { return v })
}

// memTotal is MemTotal of /proc/meminfo, in GiB.
func memTotal() string {
	return procField("/proc/meminfo", "MemTotal", formatKB)
}

// formatKB turns "16315584 kB" into "15.6 GiB"; anything else stays as is.
func formatKB(v string) string {
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
}

// procField finds the first "key : value" line of a /proc file; "unknown"
// when there is none.
func procField(path, key string, format func(string) string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return format(strings.TrimSpace(v))
		}
	}
	return "unknown"
}
