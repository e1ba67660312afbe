// Package storetest is the conformance suite every flags.Store adapter runs
// from its own tests, so that the stores stay interchangeable.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/target/internal/flags"
	"github.com/flagstorm/flagstorm/target/internal/store/seed"
)

// Seeded is a store that can be seeded with the data of package seed.
type Seeded interface {
	flags.Store
	// Seed creates the flags seed.Flags(envs, n) that do not exist yet,
	// leaves existing ones untouched and returns how many it created.
	Seed(ctx context.Context, envs []string, n int) (int, error)
}

// Concurrency of the concurrent-update subtests: writers goroutines each
// making updatesPerWriter successful updates of one flag.
const (
	writers          = 50
	updatesPerWriter = 10
)

// Run runs the suite. open is called once per subtest and must return a new,
// empty store; it closes the store with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Seeded) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Seeded)
	}{
		{"Seed", testSeed},
		{"SeedRejectsBadArguments", testSeedRejects},
		{"Get", testGet},
		{"GetUnknown", testGetUnknown},
		{"ListOrderedByKey", testListOrder},
		{"ListEmptyEnvironment", testListEmpty},
		{"UpdatePartial", testUpdatePartial},
		{"UpdateIfVersion", testUpdateIfVersion},
		{"UpdateUnknown", testUpdateUnknown},
		{"UpdateRejectsInvalidPatch", testUpdateInvalid},
		{"ConcurrentCompareAndSwap", testConcurrentCAS},
		{"ConcurrentBlindUpdates", testConcurrentBlind},
		{"CancelledContext", testCancelled},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// mustSeed seeds s and fails the test on error.
func mustSeed(t *testing.T, s Seeded, envs []string, n int) int {
	t.Helper()
	created, err := s.Seed(t.Context(), envs, n)
	if err != nil {
		t.Fatalf("Seed(%q, %d): %v", envs, n, err)
	}
	return created
}

func mustGet(t *testing.T, s Seeded, env, key string) flags.Flag {
	t.Helper()
	f, err := s.Get(t.Context(), env, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", env, key, err)
	}
	return f
}

func mustList(t *testing.T, s Seeded, env string) []flags.Flag {
	t.Helper()
	fs, err := s.List(t.Context(), env)
	if err != nil {
		t.Fatalf("List(%q): %v", env, err)
	}
	return fs
}

func mustUpdate(t *testing.T, s Seeded, env, key string, p flags.Patch, ifVersion int64) flags.Flag {
	t.Helper()
	f, err := s.Update(t.Context(), env, key, p, ifVersion)
	if err != nil {
		t.Fatalf("Update(%q, %q, %s, %d): %v", env, key, patchString(p), ifVersion, err)
	}
	return f
}

func patchString(p flags.Patch) string {
	s := "{"
	if p.Enabled != nil {
		s += fmt.Sprintf(" enabled=%t", *p.Enabled)
	}
	if p.RolloutPercentage != nil {
		s += fmt.Sprintf(" rollout=%d", *p.RolloutPercentage)
	}
	if p.Description != nil {
		s += fmt.Sprintf(" description=%q", *p.Description)
	}
	return s + " }"
}

// checkTime fails unless tm is a plausible store timestamp: set, in UTC,
// whole microseconds.
func checkTime(t *testing.T, what string, tm time.Time) {
	t.Helper()
	switch {
	case tm.IsZero():
		t.Errorf("%s: UpdatedAt is zero", what)
	case tm.Location() != time.UTC:
		t.Errorf("%s: UpdatedAt %v is in %v, want UTC", what, tm, tm.Location())
	case !tm.Equal(tm.Truncate(time.Microsecond)):
		t.Errorf("%s: UpdatedAt %v has sub-microsecond digits", what, tm)
	case time.Since(tm).Abs() > time.Hour:
		t.Errorf("%s: UpdatedAt %v is more than an hour from now", what, tm)
	}
}

// ignoreTime compares flags without their timestamps.
var ignoreTime = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".UpdatedAt"
}, cmp.Ignore())

func testSeed(t *testing.T, s Seeded) {
	if got := mustSeed(t, s, []string{"dev", "prod"}, 5); got != 10 {
		t.Errorf("first Seed created %d flags, want 10", got)
	}
	if got := mustSeed(t, s, []string{"dev", "prod"}, 5); got != 0 {
		t.Errorf("repeated Seed created %d flags, want 0", got)
	}
	changed := mustUpdate(t, s, "dev", "flag-001", flags.Patch{Description: new("changed")}, 0)
	if got := mustSeed(t, s, []string{"dev", "staging", "dev"}, 7); got != 2+7 {
		t.Errorf("Seed of 2 more dev flags and 7 staging flags created %d, want 9", got)
	}
	if diff := cmp.Diff(changed, mustGet(t, s, "dev", "flag-001")); diff != "" {
		t.Errorf("Seed changed an existing flag (-before +after):\n%s", diff)
	}

	for env, n := range map[string]int{"dev": 7, "prod": 5, "staging": 7} {
		want, err := seed.Flags([]string{env}, n)
		if err != nil {
			t.Fatal(err)
		}
		if env == "dev" {
			want[1] = changed
		}
		got := mustList(t, s, env)
		if diff := cmp.Diff(want, got, ignoreTime); diff != "" {
			t.Errorf("List(%q) after seeding (-want +got):\n%s", env, diff)
		}
		for _, f := range got {
			checkTime(t, env+"/"+f.Key, f.UpdatedAt)
		}
	}
	// The formula, independently of package seed.
	want := flags.Flag{Key: "flag-003", Environment: "prod", Enabled: false, RolloutPercentage: 10, Description: "Seeded flag 3", Version: 1}
	if diff := cmp.Diff(want, mustGet(t, s, "prod", "flag-003"), ignoreTime); diff != "" {
		t.Errorf("prod/flag-003 (-want +got):\n%s", diff)
	}
}

func testSeedRejects(t *testing.T, s Seeded) {
	for _, tc := range []struct {
		name string
		envs []string
		n    int
	}{
		{"zero flags", []string{"dev"}, 0},
		{"negative flags", []string{"dev"}, -3},
		{"no environments", nil, 3},
		{"invalid environment", []string{"dev", "Bad Env"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := s.Seed(t.Context(), tc.envs, tc.n); err == nil {
				t.Errorf("Seed(%q, %d) = %d, want an error", tc.envs, tc.n, n)
			}
		})
	}
	if fs := mustList(t, s, "dev"); len(fs) != 0 {
		t.Errorf("rejected Seed calls created %d dev flags", len(fs))
	}
}

func testGet(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev", "prod"}, 3)
	list := mustList(t, s, "prod")
	for _, want := range list {
		if diff := cmp.Diff(want, mustGet(t, s, "prod", want.Key)); diff != "" {
			t.Errorf("Get differs from List (-list +get):\n%s", diff)
		}
	}
}

func testGetUnknown(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 3)
	for _, tc := range []struct{ env, key string }{
		{"dev", "flag-003"},
		{"prod", "flag-000"},
		{"dev", "FLAG-000"},
		{"dev", ""},
	} {
		_, err := s.Get(t.Context(), tc.env, tc.key)
		if !errors.Is(err, flags.ErrNotFound) {
			t.Errorf("Get(%q, %q) error = %v, want %v", tc.env, tc.key, err, flags.ErrNotFound)
		}
	}
}

func testListOrder(t *testing.T, s Seeded) {
	// 1001 flags: flag-1000 sorts between flag-100 and flag-101.
	mustSeed(t, s, []string{"dev", "prod"}, 1001)
	got := mustList(t, s, "dev")
	keys := make([]string, len(got))
	for i, f := range got {
		keys[i] = f.Key
		if f.Environment != "dev" {
			t.Fatalf("List(dev) returned a flag of %q", f.Environment)
		}
	}
	if len(keys) != 1001 {
		t.Fatalf("List(dev) returned %d flags, want 1001", len(keys))
	}
	if !slices.IsSorted(keys) {
		t.Errorf("List(dev) is not ordered by key (byte order)")
	}
	if i := slices.Index(keys, "flag-1000"); i < 0 || keys[i-1] != "flag-100" || keys[i+1] != "flag-101" {
		t.Errorf("flag-1000 is not between flag-100 and flag-101 (index %d)", i)
	}
}

func testListEmpty(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 2)
	got := mustList(t, s, "prod")
	if got == nil || len(got) != 0 {
		t.Errorf("List(prod) = %#v, want an empty, non-nil slice", got)
	}
}

func testUpdatePartial(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev", "prod"}, 3)
	other := mustGet(t, s, "prod", "flag-002")
	prev := mustGet(t, s, "dev", "flag-002")
	for _, p := range []flags.Patch{
		{Enabled: new(false)},
		{RolloutPercentage: new(100)},
		{Description: new("")},
		{Enabled: new(true), RolloutPercentage: new(0), Description: new("all three ✓")},
		{Enabled: new(true)}, // no change in value is still an update
	} {
		got := mustUpdate(t, s, "dev", "flag-002", p, 0)
		want := p.Apply(prev)
		want.Version = prev.Version + 1
		if diff := cmp.Diff(want, got, ignoreTime); diff != "" {
			t.Errorf("Update(%s) (-want +got):\n%s", patchString(p), diff)
		}
		checkTime(t, "updated flag", got.UpdatedAt)
		if !got.UpdatedAt.After(prev.UpdatedAt) {
			t.Errorf("Update(%s) set UpdatedAt %v, not after the previous %v", patchString(p), got.UpdatedAt, prev.UpdatedAt)
		}
		if diff := cmp.Diff(got, mustGet(t, s, "dev", "flag-002")); diff != "" {
			t.Errorf("Get after Update differs from what Update returned (-update +get):\n%s", diff)
		}
		prev = got
	}
	if diff := cmp.Diff(other, mustGet(t, s, "prod", "flag-002")); diff != "" {
		t.Errorf("updating dev changed prod (-before +after):\n%s", diff)
	}
	if f := mustGet(t, s, "dev", "flag-001"); f.Version != 1 {
		t.Errorf("updating flag-002 changed flag-001 to version %d", f.Version)
	}
}

func testUpdateIfVersion(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 2)
	v1 := mustGet(t, s, "dev", "flag-000")
	v2 := mustUpdate(t, s, "dev", "flag-000", flags.Patch{RolloutPercentage: new(50)}, 1)
	if v2.Version != 2 || v2.RolloutPercentage != 50 {
		t.Fatalf("Update with matching ifVersion = %+v, want version 2, rollout 50", v2)
	}
	for _, stale := range []int64{1, 3, -1} {
		_, err := s.Update(t.Context(), "dev", "flag-000", flags.Patch{RolloutPercentage: new(7)}, stale)
		if !errors.Is(err, flags.ErrVersionConflict) {
			t.Errorf("Update with ifVersion %d at version 2: error = %v, want %v", stale, err, flags.ErrVersionConflict)
		}
	}
	if diff := cmp.Diff(v2, mustGet(t, s, "dev", "flag-000")); diff != "" {
		t.Errorf("conflicting updates changed the flag (-want +got):\n%s", diff)
	}
	v3 := mustUpdate(t, s, "dev", "flag-000", flags.Patch{Enabled: new(!v1.Enabled)}, 2)
	if v3.Version != 3 || v3.Enabled == v1.Enabled || v3.RolloutPercentage != 50 {
		t.Errorf("second Update with matching ifVersion = %+v", v3)
	}
}

func testUpdateUnknown(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 2)
	for _, tc := range []struct {
		env, key  string
		ifVersion int64
	}{
		{"dev", "flag-002", 0},
		{"dev", "flag-002", 1}, // not found wins over a version check
		{"prod", "flag-000", 0},
		{"prod", "flag-000", 1},
	} {
		_, err := s.Update(t.Context(), tc.env, tc.key, flags.Patch{Enabled: new(true)}, tc.ifVersion)
		if !errors.Is(err, flags.ErrNotFound) {
			t.Errorf("Update(%q, %q, ifVersion %d) error = %v, want %v", tc.env, tc.key, tc.ifVersion, err, flags.ErrNotFound)
		}
	}
	if fs := mustList(t, s, "prod"); len(fs) != 0 {
		t.Errorf("Update of unknown flags created %d prod flags", len(fs))
	}
}

func testUpdateInvalid(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 1)
	before := mustGet(t, s, "dev", "flag-000")
	long := string(make([]byte, flags.MaxDescriptionLen+1))
	for _, tc := range []struct {
		name  string
		patch flags.Patch
	}{
		{"empty", flags.Patch{}},
		{"rollout below 0", flags.Patch{RolloutPercentage: new(-1)}},
		{"rollout above 100", flags.Patch{Enabled: new(true), RolloutPercentage: new(101)}},
		{"description too long", flags.Patch{Description: &long}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Update(t.Context(), "dev", "flag-000", tc.patch, 0)
			if fe := (*flags.FieldError)(nil); !errors.As(err, &fe) {
				t.Errorf("Update(%s) error = %v, want a *flags.FieldError", patchString(tc.patch), err)
			}
		})
	}
	if diff := cmp.Diff(before, mustGet(t, s, "dev", "flag-000")); diff != "" {
		t.Errorf("rejected updates changed the flag (-before +after):\n%s", diff)
	}
}

// testConcurrentCAS runs read-modify-write loops that count in the
// description, each retrying on a version conflict: a lost update would show
// as a count or version short of the number of successful updates.
func testConcurrentCAS(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 1)
	ctx := t.Context()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
		errs      []error
	)
	for range writers {
		wg.Go(func() {
			for done := 0; done < updatesPerWriter; {
				f, err := s.Get(ctx, "dev", "flag-000")
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				n, err := strconv.Atoi(f.Description)
				if err != nil {
					n = 0 // the seeded description
				}
				_, err = s.Update(ctx, "dev", "flag-000", flags.Patch{Description: new(strconv.Itoa(n + 1))}, f.Version)
				switch {
				case err == nil:
					done++
				case errors.Is(err, flags.ErrVersionConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
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
		t.Fatalf("concurrent updates failed: %v", err)
	}
	got := mustGet(t, s, "dev", "flag-000")
	const total = writers * updatesPerWriter
	if got.Version != 1+total || got.Description != strconv.Itoa(total) {
		t.Errorf("after %d successful compare-and-swap updates: version %d, counter %q; want version %d, counter %d",
			total, got.Version, got.Description, 1+total, total)
	}
	t.Logf("%d updates, %d version conflicts retried", total, conflicts)
}

// testConcurrentBlind runs updates without ifVersion: each must still bump
// the version exactly once.
func testConcurrentBlind(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 2)
	ctx := t.Context()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range writers {
		wg.Go(func() {
			for i := range updatesPerWriter {
				p := flags.Patch{RolloutPercentage: new((w + i) % 101)}
				if _, err := s.Update(ctx, "dev", "flag-001", p, 0); err != nil {
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
		t.Fatalf("concurrent updates failed: %v", err)
	}
	if got := mustGet(t, s, "dev", "flag-001"); got.Version != 1+writers*updatesPerWriter {
		t.Errorf("after %d updates: version %d, want %d", writers*updatesPerWriter, got.Version, 1+writers*updatesPerWriter)
	}
}

func testCancelled(t *testing.T, s Seeded) {
	mustSeed(t, s, []string{"dev"}, 2)
	before := mustList(t, s, "dev")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{
		{"cancelled", ctx},
		{"past deadline", expired},
	} {
		for _, op := range []struct {
			name string
			call func(ctx context.Context) error
		}{
			{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "dev", "flag-000"); return err }},
			{"List", func(ctx context.Context) error { _, err := s.List(ctx, "dev"); return err }},
			{"Update", func(ctx context.Context) error {
				_, err := s.Update(ctx, "dev", "flag-000", flags.Patch{Enabled: new(false)}, 0)
				return err
			}},
			{"Seed", func(ctx context.Context) error { _, err := s.Seed(ctx, []string{"dev", "prod"}, 3); return err }},
			{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
		} {
			start := time.Now()
			err := op.call(c.ctx)
			if !errors.Is(err, c.ctx.Err()) {
				t.Errorf("%s with a %s context: error = %v, want %v", op.name, c.name, err, c.ctx.Err())
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s with a %s context took %v", op.name, c.name, d)
			}
		}
	}
	if diff := cmp.Diff(before, mustList(t, s, "dev")); diff != "" {
		t.Errorf("calls with a cancelled context changed the store (-before +after):\n%s", diff)
	}
	if fs := mustList(t, s, "prod"); len(fs) != 0 {
		t.Errorf("Seed with a cancelled context created %d flags", len(fs))
	}
}

func testPing(t *testing.T, s Seeded) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
