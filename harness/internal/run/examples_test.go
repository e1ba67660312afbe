package run

import (
	"path/filepath"
	"testing"

	"github.com/flagstorm/flagstorm/harness/internal/service"
	"github.com/flagstorm/flagstorm/scenarios"
)

// Every examples/*/flagstorm.yaml variant's expect: lists name built-in
// files and thresholds those files have, so a typo in a list is caught
// here and not at the end of a 20-minute suite (Command.Start validates
// them again, against the file actually run).
func TestExampleExpectationsResolve(t *testing.T) {
	builtin, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*scenarios.Spec{}
	for _, s := range builtin {
		byName[s.Name] = s
	}
	files, _ := filepath.Glob("../../../examples/*/flagstorm.yaml")
	if len(files) < 2 {
		t.Fatalf("found %d example descriptions, want minimal-go's and seed-ioredis's", len(files))
	}
	lists := 0
	for _, f := range files {
		d, err := service.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, variant := range d.VariantNames() {
			c := Command{Desc: d, Variant: variant}
			for file := range d.Variants[variant].Expect {
				spec := byName[file]
				if spec == nil {
					t.Errorf("%s: variants.%s.expect.%s: no built-in file is named %s", f, variant, file, file)
					continue
				}
				if err := c.expectSpec(spec).Validate(); err != nil {
					t.Errorf("%s: variants.%s.expect.%s: %v", f, variant, file, err)
				}
				lists++
			}
		}
	}
	if lists == 0 {
		t.Error("no expect: list checked")
	}
}
