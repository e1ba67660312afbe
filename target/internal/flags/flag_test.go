package flags

import (
	"regexp"
	"strings"
	"testing"
)

var (
	keyRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)
	envRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	userRE = regexp.MustCompile(`^[A-Za-z0-9._@:-]{1,128}$`)
)

var validationSeeds = []string{
	"", "a", "flag-001", "-a", ".a", "a.b_c-d", "A", "a:b", "../x", "a b", "a\x00", "é",
	strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("a", 128), strings.Repeat("a", 129),
	"user@example.com", "u:1", "1abc", "prod-1",
}

func checkValidators(t *testing.T, s string) {
	if got, want := ValidKey(s), keyRE.MatchString(s); got != want {
		t.Errorf("ValidKey(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := ValidEnvironment(s), envRE.MatchString(s); got != want {
		t.Errorf("ValidEnvironment(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := ValidUserID(s), userRE.MatchString(s); got != want {
		t.Errorf("ValidUserID(%q) = %v, regexp says %v", s, got, want)
	}
}

func TestValidatorsMatchTheirPatterns(t *testing.T) {
	for _, s := range validationSeeds {
		checkValidators(t, s)
	}
}

func FuzzValidators(f *testing.F) {
	for _, s := range validationSeeds {
		f.Add(s)
	}
	f.Fuzz(checkValidators)
}

func TestSourceRoundTrip(t *testing.T) {
	for _, s := range Sources() {
		got, err := ParseSource(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSource(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseSource("cache"); err == nil {
		t.Error("ParseSource accepted an unknown source")
	}
}
