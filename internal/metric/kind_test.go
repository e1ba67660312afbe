package metric

import (
	"math"
	"testing"
	"time"
)

func TestKind(t *testing.T) {
	for _, k := range []Kind{KindCounter, KindGauge, KindRate, KindTrend} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	for _, s := range []string{"histogram", "", "Counter", "Kind(0)"} {
		if k, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q) = %v, want an error", s, k)
		}
	}
	if got := Kind(0).String(); got != "Kind(0)" {
		t.Errorf("Kind(0) = %q", got)
	}
}

func TestUnit(t *testing.T) {
	for _, u := range []Unit{UnitNone, UnitMilliseconds, UnitSeconds, UnitBytes} {
		got, err := ParseUnit(u.String())
		if err != nil || got != u {
			t.Errorf("ParseUnit(%q) = %v, %v", u, got, err)
		}
	}
	for _, s := range []string{"us", "sec", "bytes", "Unit(9)"} {
		if u, err := ParseUnit(s); err == nil {
			t.Errorf("ParseUnit(%q) = %v, want an error", s, u)
		}
	}
	if got := Unit(9).String(); got != "Unit(9)" {
		t.Errorf("Unit(9) = %q", got)
	}
	d := 1500 * time.Microsecond
	if got := UnitMilliseconds.FromDuration(d); got != 1.5 {
		t.Errorf("ms: %v", got)
	}
	if got := UnitSeconds.FromDuration(d); got != 0.0015 {
		t.Errorf("s: %v", got)
	}
	for _, u := range []Unit{UnitNone, UnitBytes} {
		if got := u.FromDuration(d); !math.IsNaN(got) {
			t.Errorf("%q from a duration = %v, want NaN", u, got)
		}
		if u.IsTime() {
			t.Errorf("%q is time", u)
		}
	}
}
