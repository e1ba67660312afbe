package service

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A variant's expect: names, per scenario, the thresholds it fails
// (examples/seed-ioredis/flagstorm.yaml); names that cannot be a scenario's
// are refused with the field.
func TestVariantExpect(t *testing.T) {
	const head = "version: 1\ncommand: {argv: [./svc]}\n"
	d, err := Parse("svc.yaml", []byte(head+`variants:
  seed:
    env: {CACHE_VARIANT: seed}
    expect:
      redis-outage: ["http_req_duration{phase:outage} p(95)<50", {may: "stale_reads count==0"}]
  hardened: {env: {CACHE_VARIANT: hardened}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Expectation{"redis-outage": {{Threshold: "http_req_duration{phase:outage} p(95)<50"}, {Threshold: "stale_reads count==0", May: true}}}
	if diff := cmp.Diff(want, d.Variants["seed"].Expect); diff != "" {
		t.Errorf("seed's expect (-want +got):\n%s", diff)
	}
	if d.Variants["hardened"].Expect != nil {
		t.Errorf("hardened has no expect:, got %v", d.Variants["hardened"].Expect)
	}
	_, err = Parse("svc.yaml", []byte(head+"variants:\n  seed: {expect: {Redis_Outage: [x]}}\n"))
	if err == nil || !strings.Contains(err.Error(), "variants.seed.expect.Redis_Outage") {
		t.Errorf("a bad scenario name: got %v, want an error naming variants.seed.expect.Redis_Outage", err)
	}
	_, err = Parse("svc.yaml", []byte(head+"variants:\n  seed: {expect: {redis-outage: [{might: x}]}}\n"))
	if err == nil || !strings.Contains(err.Error(), `{may: "..."}`) {
		t.Errorf("an item that is neither a threshold nor {may: ...}: got %v", err)
	}
}
