package toxics

import (
	"testing"
	"time"
)

func TestParseToxicName(t *testing.T) {
	t.Parallel()
	exp := time.Unix(1800000000, 0)
	o := Owner{RunID: "0a1b2c3d4e5f6789", Expires: exp}
	tests := []struct {
		name       string
		ok, marker bool
		want       Owner
	}{
		{o.toxicName("latency_downstream_3"), true, false, o},
		{o.toxicName("refused_4"), true, true, o},
		{"flagstorm.run7.1800000000.timeout_upstream_1", true, false, Owner{RunID: "run7", Expires: exp}},
		// Not flagstorm's: left alone by every sweep.
		{"flagstorm_latency_downstream_a1b2c3_1", false, false, Owner{}}, // names before run ids
		{"latency_downstream", false, false, Owner{}},
		{"flagstorm.RUN.1800000000.latency_downstream_1", false, false, Owner{}},
		{"flagstorm.run.01800000000.latency_downstream_1", false, false, Owner{}},
		{"flagstorm.run.-5.latency_downstream_1", false, false, Owner{}},
		{"flagstorm.run.soon.latency_downstream_1", false, false, Owner{}},
		{"flagstorm.run.1800000000.", false, false, Owner{}},
		{"flagstorm..1800000000.latency", false, false, Owner{}},
		{"flagstormx.run.1800000000.latency", false, false, Owner{}},
	}
	for _, tt := range tests {
		got, marker, ok := ParseToxicName(tt.name)
		if ok != tt.ok || marker != tt.marker || got.RunID != tt.want.RunID || !got.Expires.Equal(tt.want.Expires) {
			t.Errorf("ParseToxicName(%q) = %v, marker %v, ok %v; want %v, %v, %v", tt.name, got, marker, ok, tt.want, tt.marker, tt.ok)
		}
	}
}

func TestOwnerValidate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tt := range []struct {
		o    Owner
		fail bool
	}{
		{Owner{RunID: NewRunID(), Expires: now}, false},
		{Owner{RunID: "a.b", Expires: now}, true},
		{Owner{RunID: "", Expires: now}, true},
		{Owner{RunID: "abc"}, true},
		{Owner{RunID: "012345678901234567890123456789012", Expires: now}, true},
	} {
		if err := tt.o.Validate(); (err != nil) != tt.fail {
			t.Errorf("%+v.Validate() = %v, want failure %v", tt.o, err, tt.fail)
		}
	}
	if _, err := NewRemote(RemoteConfig{URL: "127.0.0.1:1", Owner: Owner{RunID: "Bad.ID"}}); err == nil {
		t.Error("NewRemote with a bad run id succeeded")
	}
	r, err := NewRemote(RemoteConfig{URL: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Owner(); o.Validate() != nil || o.Expires.Before(now.Add(DefaultLease-time.Minute)) {
		t.Errorf("a Remote's default owner is %v, want a run id expiring about %v from now", o, DefaultLease)
	}
}
