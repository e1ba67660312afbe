package scenarios

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	files, _ := fs.Glob(builtin, "*.yaml")
	for _, file := range files {
		data, err := builtin.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte("name: x\nload: &l {<<: *l}\n"))
	f.Add([]byte("thresholds: {\"a{b:c}\": [{threshold: x, abortOnFail: true, delayAbortEval: 1s}]}\nexpect: {seed: [\"a{b:c} x\"]}\n"))
	f.Add([]byte("load: {executor: ramping-arrival-rate, stages: [{duration: 9223372036s, target: 1}, {duration: 9223372036s, target: 1}], preAllocatedVUs: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatal("a Spec with an error")
			}
			for _, e := range unwrap(err) {
				var ve *ValidationError
				if !errors.As(e, &ve) || !strings.HasPrefix(ve.Error(), "fuzz.yaml") {
					t.Fatalf("error %q (%T) is not a *ValidationError of fuzz.yaml", e, e)
				}
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
		d := s.Duration()
		if d <= 0 {
			t.Fatalf("accepted a load of %v", d)
		}
		for i, p := range s.Timeline {
			if got := s.PhaseAt(p.At); got != p.Name {
				t.Fatalf("PhaseAt(%v) = %q, want %q", p.At, got, p.Name)
			}
			if end := s.PhaseEnd(i); end <= p.At || end > d {
				t.Fatalf("phase %q: [%v, %v) in a load of %v", p.Name, p.At, end, d)
			}
			if p.Fault != nil {
				if err := p.Fault.Validate(KnownProxies()...); err != nil {
					t.Fatalf("accepted fault: %v", err)
				}
			}
		}
		_ = s.PhaseAt(-time.Second)
		_ = s.PhaseAt(d + time.Hour)
		for _, r := range s.Requests {
			AppendExpand(nil, r.Path, func(dst []byte, p Placeholder) []byte { return append(dst, p.String()...) })
		}
		for prof, list := range s.Expect {
			for _, e := range list {
				key, i, ok := s.resolveExpect(s.thresholdIndex(), e.Text)
				if !ok || !s.Expected(prof, key, i) {
					t.Fatalf("expect %q does not resolve", e.Text)
				}
			}
		}
		for _, pool := range []Pool{s.Data.Flags, s.Data.Users} {
			if n := pool.Len(); n > 0 {
				_ = pool.At(n - 1)
			}
		}
	})
}
