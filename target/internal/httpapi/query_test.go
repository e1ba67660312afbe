package httpapi

import (
	"net/url"
	"testing"
)

func TestQueryValue(t *testing.T) {
	for _, raw := range []string{
		"", "environment=prod", "a=1&environment=prod&environment=dev", "environment", "environment=",
		"environment=pro%64", "environment=a+b", "environment=%zz&environment=ok", "environment=x;y&environment=z",
		"env%69ronment=prod", "environment%=x&environment=y", "&&environment=prod&", "userId=u%40x.io&environment=prod",
		"environmen=x", "environmentt=x", "=x&environment=y",
	} {
		want := url.Values{}
		if v, err := url.ParseQuery(raw); err == nil || v != nil {
			want = v
		}
		wantV, wantOK := want.Get("environment"), want.Has("environment")
		gotV, gotOK := queryValue(raw, "environment")
		if gotV != wantV || gotOK != wantOK {
			t.Errorf("queryValue(%q) = %q, %v; url.ParseQuery gives %q, %v", raw, gotV, gotOK, wantV, wantOK)
		}
	}
}

func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"environment=prod", "environment=%41&environment=b", "x;y=1&environment=a+b", "env%69ronment=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		wantV, wantOK := v.Get("environment"), v.Has("environment")
		gotV, gotOK := queryValue(raw, "environment")
		if gotV != wantV || gotOK != wantOK {
			t.Errorf("queryValue(%q) = %q, %v; url.ParseQuery gives %q, %v", raw, gotV, gotOK, wantV, wantOK)
		}
	})
}

func TestQueryValueAllocs(t *testing.T) {
	raw := "environment=prod&userId=user-42"
	if n := testing.AllocsPerRun(100, func() { queryValue(raw, "userId") }); n != 0 {
		t.Errorf("queryValue allocates %v times", n)
	}
}
