package phase

import (
	"testing"
	"time"
)

func TestAt(t *testing.T) {
	s := time.Second
	tl := Timeline{{Name: "steady", End: 10 * s}, {Name: "outage", Start: 10 * s, End: 20 * s}, {Name: "late", Start: 25 * s}}
	for off, want := range map[time.Duration]string{
		-s: "", 0: "steady", 9 * s: "steady", 10 * s: "outage", 19 * s: "outage",
		20 * s: "", 24 * s: "", 25 * s: "late", time.Hour: "late",
	} {
		if got := tl.At(off); got != want {
			t.Errorf("At(%v) = %q, want %q", off, got, want)
		}
	}
	if got := tl.Names(); len(got) != 3 || got[1] != "outage" {
		t.Errorf("Names = %v", got)
	}
}
