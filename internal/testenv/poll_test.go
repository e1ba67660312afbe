package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and
// returns, so that a failing Poll can be checked.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (*fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestPoll(t *testing.T) {
	t.Run("holds at once", func(t *testing.T) {
		calls := 0
		start := time.Now()
		Poll(t, time.Minute, "at once", func() error { calls++; return nil })
		if calls != 1 || time.Since(start) >= pollInterval {
			t.Errorf("%d calls in %v; want 1 call and no wait", calls, time.Since(start))
		}
	})
	t.Run("holds later", func(t *testing.T) {
		calls := 0
		Poll(t, time.Minute, "third call", func() error {
			if calls++; calls < 3 {
				return fmt.Errorf("call %d", calls)
			}
			return nil
		})
		if calls != 3 {
			t.Errorf("%d calls, want 3", calls)
		}
	})
	t.Run("never holds", func(t *testing.T) {
		var rec fatalRecorder
		calls := 0
		PollEvery(&rec, time.Millisecond, 20*time.Millisecond, "the key appears", func() error {
			calls++
			return fmt.Errorf("GET k: %w", errors.New("nil"))
		})
		const want = "the key appears: not within 20ms: GET k: nil"
		if rec.msg != want {
			t.Errorf("failed with %q, want %q", rec.msg, want)
		}
		if calls < 2 {
			t.Errorf("%d calls before the deadline, want several", calls)
		}
	})
}

func TestBuildFlagserver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flagserver")
	}
	bin := BuildFlagserver(t)
	if again := BuildFlagserver(t); again != bin {
		t.Errorf("second call returned %s, want the first build %s", again, bin)
	}
	if !strings.HasPrefix(bin, binaries.dir) || !strings.HasSuffix(bin, "/flagserver") {
		t.Errorf("built %s, want flagserver in %s", bin, binaries.dir)
	}
	if err := exec.Command(bin, "-h").Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %s: %v", bin, err)
		}
	}
	t.Run("without Main", func(t *testing.T) {
		inMain.Store(false) // no test of this package runs in parallel
		defer inMain.Store(true)
		own := BuildFlagserver(t)
		if own == bin {
			t.Fatalf("without Main got the shared build %s, which nothing would remove", own)
		}
		if _, err := os.Stat(own); err != nil {
			t.Fatal(err)
		}
	})
}
