package flags

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodePatch(t *testing.T) {
	yes, fifty, text := true, 50, "n1"
	tests := []struct {
		name, body string
		want       Patch
		wantErr    bool
	}{
		{name: "all fields", body: `{"enabled": true, "rolloutPercentage": 50, "description": "n1"}`, want: Patch{&yes, &fifty, &text}},
		{name: "one field", body: ` {"description": "n1"} `, want: Patch{Description: &text}},
		{name: "empty", body: `{}`, wantErr: true},
		{name: "nulls only", body: `{"enabled": null}`, wantErr: true},
		{name: "no body", body: ``, wantErr: true},
		{name: "unknown field", body: `{"version": 1}`, wantErr: true},
		{name: "rollout -1", body: `{"rolloutPercentage": -1}`, wantErr: true},
		{name: "rollout 101", body: `{"rolloutPercentage": 101}`, wantErr: true},
		{name: "wrong type", body: `{"enabled": "yes"}`, wantErr: true},
		{name: "trailing data", body: `{"enabled": true}}`, wantErr: true},
		{name: "too large", body: `{"description": "` + strings.Repeat("x", maxPatchBytes) + `"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodePatch(strings.NewReader(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPatch) {
					t.Errorf("err %v, want ErrInvalidPatch", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
