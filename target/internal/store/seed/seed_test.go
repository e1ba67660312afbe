package seed

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flagstorm/flagstorm/target/internal/flags"
)

func TestFlags(t *testing.T) {
	got, err := Flags([]string{"dev", "prod", "dev"}, 1001)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2002 {
		t.Fatalf("got %d flags, want 2002", len(got))
	}
	for _, tc := range []struct {
		i    int
		want flags.Flag
	}{
		{0, flags.Flag{Key: "flag-000", Environment: "dev", Enabled: true, RolloutPercentage: 0, Description: "Seeded flag 0", Version: 1}},
		{3, flags.Flag{Key: "flag-003", Environment: "dev", Enabled: false, RolloutPercentage: 10, Description: "Seeded flag 3", Version: 1}},
		{42, flags.Flag{Key: "flag-042", Environment: "dev", Enabled: true, RolloutPercentage: 39, Description: "Seeded flag 42", Version: 1}},
		{1000, flags.Flag{Key: "flag-1000", Environment: "dev", Enabled: true, RolloutPercentage: 34, Description: "Seeded flag 1000", Version: 1}},
		{1001, flags.Flag{Key: "flag-000", Environment: "prod", Enabled: true, RolloutPercentage: 0, Description: "Seeded flag 0", Version: 1}},
	} {
		if diff := cmp.Diff(tc.want, got[tc.i]); diff != "" {
			t.Errorf("flag %d (-want +got):\n%s", tc.i, diff)
		}
	}
	for _, f := range got {
		if !flags.ValidKey(f.Key) || f.RolloutPercentage < 0 || f.RolloutPercentage > 100 {
			t.Fatalf("seeded flag %+v is not valid", f)
		}
	}
}

func TestFlagsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		envs []string
		n    int
	}{
		{"zero flags", []string{"dev"}, 0},
		{"negative flags", []string{"dev"}, -1},
		{"no environments", nil, 3},
		{"bad environment", []string{"dev", "Prod"}, 3},
		{"empty environment", []string{""}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fs, err := Flags(tc.envs, tc.n); err == nil {
				t.Fatalf("Flags(%q, %d) = %d flags, want an error", tc.envs, tc.n, len(fs))
			}
		})
	}
}
