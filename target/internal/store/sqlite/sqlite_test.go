package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/store/storetest"
)

// conformanceTimeout replaces the default query timeout in the conformance
// suite: its 50 concurrent writers on a loaded, shared CI machine can queue
// for longer than 2s. TestQueryTimeout covers the timeout itself.
const conformanceTimeout = 30 * time.Second

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path, QueryTimeout: conformanceTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Seeded {
		return open(t, filepath.Join(t.TempDir(), "flags.db"))
	})
}

func TestConfigRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no path", Config{}},
		{"memory", Config{Path: ":memory:"}},
		{"URI", Config{Path: "file:flags.db?mode=memory"}},
		{"negative timeout", Config{Path: filepath.Join(t.TempDir(), "flags.db"), QueryTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := Open(t.Context(), tc.cfg); err == nil {
				s.Close()
				t.Fatalf("Open(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "flags.db")
	if s, err := Open(t.Context(), Config{Path: path}); err == nil {
		s.Close()
		t.Fatalf("Open(%q) succeeded, want an error", path)
	}
}

// TestReopen checks that data outlives the store and that opening an
// existing database leaves it as it was.
func TestReopen(t *testing.T) {
	// Characters that mean something in a URI must stay part of the name.
	path := filepath.Join(t.TempDir(), "a dir?#%41", "flags.db?x=1")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seed(t.Context(), []string{"dev"}, 3); err != nil {
		t.Fatal(err)
	}
	want, err := s.Update(t.Context(), "dev", "flag-001", flags.Patch{Description: new("kept")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database is not at the path given: %v", err)
	}

	s = open(t, path)
	got, err := s.Get(t.Context(), "dev", "flag-001")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flag after reopening (-before +after):\n%s", diff)
	}
	if n, err := s.Seed(t.Context(), []string{"dev"}, 3); err != nil || n != 0 {
		t.Errorf("Seed after reopening = %d, %v; want 0, nil", n, err)
	}
}

// TestTwoStoresOneFile stands in for two processes sharing a file: their
// compare-and-swap updates must not lose one another's.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.db")
	stores := []*Store{open(t, path), open(t, path)}
	if _, err := stores[0].Seed(t.Context(), []string{"dev"}, 1); err != nil {
		t.Fatal(err)
	}
	const perWriter = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range 8 {
		s := stores[w%2]
		wg.Go(func() {
			for done := 0; done < perWriter; {
				f, err := s.Get(t.Context(), "dev", "flag-000")
				if err == nil {
					n, _ := strconv.Atoi(f.Description) // the seeded description counts as 0
					_, err = s.Update(t.Context(), "dev", "flag-000", flags.Patch{Description: new(strconv.Itoa(n + 1))}, f.Version)
				}
				switch {
				case err == nil:
					done++
				case errors.Is(err, flags.ErrVersionConflict):
				default:
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	f, err := stores[1].Get(t.Context(), "dev", "flag-000")
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 1+8*perWriter || f.Description != strconv.Itoa(8*perWriter) {
		t.Errorf("after %d updates through two stores: version %d, counter %q", 8*perWriter, f.Version, f.Description)
	}
}

func TestStat(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "flags.db"))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := s.Stat()
	if st.Acquired != 0 || st.Total < 2 || st.Idle != st.Total || st.Max < 5 {
		t.Errorf("Stat() of an idle store = %+v", st)
	}
}

func TestQueryTimeout(t *testing.T) {
	s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "flags.db"), QueryTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Seed(t.Context(), []string{"dev"}, 1); err != nil {
		t.Fatal(err)
	}
	// Hold the only write connection so that an update waits past its timeout.
	tx, err := s.writer.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	start := time.Now()
	_, err = s.Update(t.Context(), "dev", "flag-000", flags.Patch{Enabled: new(false)}, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update while another write is in progress: error = %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Update took %v with a 100ms query timeout", d)
	}
	// Reads are not blocked by the write.
	if _, err := s.Get(t.Context(), "dev", "flag-000"); err != nil {
		t.Errorf("Get while a write is in progress: %v", err)
	}
}
