package flags

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The ordering rules of the in-process copy of the lists, without backends
// (the service's test, in main_test.go, serves it with both down).
func TestLastLists(t *testing.T) {
	a, b := Flag{Key: "a", Environment: "e"}, Flag{Key: "b", Environment: "e"}
	list := func(fs ...Flag) []Flag { return fs }
	copyOf := func(l *lastLists) []Flag {
		fs, _ := l.get("e")
		return fs
	}
	on := Flag{Key: "a", Environment: "e", Enabled: true}

	t.Run("a write updates its flag in the copy", func(t *testing.T) {
		var l lastLists
		l.keep("e", l.readStarts("e"), list(a, b))
		l.writeEnds("e", "a", l.writeStarts("e", "a"), &on)
		if diff := cmp.Diff(list(on, b), copyOf(&l)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a failed write leaves the copy alone", func(t *testing.T) {
		var l lastLists
		l.keep("e", l.readStarts("e"), list(a, b))
		l.writeEnds("e", "a", l.writeStarts("e", "a"), nil)
		if diff := cmp.Diff(list(a, b), copyOf(&l)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a read older than a write is not kept", func(t *testing.T) {
		var l lastLists
		l.keep("e", l.readStarts("e"), list(a, b))
		gen := l.readStarts("e") // the read begins ...
		l.writeEnds("e", "a", l.writeStarts("e", "a"), &on)
		l.keep("e", gen, list(a, b)) // ... and ends after the write
		if diff := cmp.Diff(list(on, b), copyOf(&l)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("overlapping writes of one flag drop the copy", func(t *testing.T) {
		for _, firstEndsFirst := range []bool{true, false} {
			var l lastLists
			l.keep("e", l.readStarts("e"), list(a, b))
			first, second := l.writeStarts("e", "a"), l.writeStarts("e", "a")
			if firstEndsFirst {
				l.writeEnds("e", "a", first, &on)
				l.writeEnds("e", "a", second, &a)
			} else {
				l.writeEnds("e", "a", second, &a)
				l.writeEnds("e", "a", first, &on)
			}
			if fs, ok := l.get("e"); ok {
				t.Errorf("firstEndsFirst=%v: copy %v kept, want none", firstEndsFirst, fs)
			}
			if len(l.writing) != 0 {
				t.Errorf("writes in flight left behind: %v", l.writing)
			}
		}
	})
	t.Run("overlapping writes of different flags keep it", func(t *testing.T) {
		var l lastLists
		l.keep("e", l.readStarts("e"), list(a, b))
		wa, wb := l.writeStarts("e", "a"), l.writeStarts("e", "b")
		bOn := Flag{Key: "b", Environment: "e", RolloutPercentage: 7}
		l.writeEnds("e", "b", wb, &bOn)
		l.writeEnds("e", "a", wa, &on)
		if diff := cmp.Diff(list(on, bOn), copyOf(&l)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("empty lists are not kept", func(t *testing.T) {
		var l lastLists
		l.keep("nope", l.readStarts("nope"), []Flag{})
		if _, ok := l.get("nope"); ok || len(l.envs) != 0 {
			t.Errorf("an unknown environment's empty list was kept")
		}
	})
}
