package status

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rotor-ci/rotor/internal/rotation"
)

func TestByAccount(t *testing.T) {
	at := func(account, region string, s rotation.BindingStatus) rotation.BindingState {
		return rotation.BindingState{Binding: rotation.Binding{ID: account + ":" + region, Attrs: map[string]string{"account": account, "region": region}}, Status: s}
	}
	file := rotation.BindingState{Binding: rotation.Binding{ID: "file:ci/token"}, Status: rotation.BindingFailed}
	tests := []struct {
		name   string
		states []rotation.BindingState
		want   []AccountBindings
	}{
		{name: "two accounts, mixed statuses, sorted by account then region",
			states: []rotation.BindingState{
				at("222222222222", "us-east-1", rotation.BindingVerified),
				at("111111111111", "us-east-1", rotation.BindingWaiting),
				at("111111111111", "eu-west-1", rotation.BindingVerified),
				at("111111111111", "us-east-1", rotation.BindingVerified),
				at("111111111111", "us-east-1", rotation.BindingVerified),
				file, // no account: not counted
			},
			want: []AccountBindings{
				{Account: "111111111111", Region: "eu-west-1", Bindings: map[string]int{"verified": 1}},
				{Account: "111111111111", Region: "us-east-1", Bindings: map[string]int{"verified": 2, "waiting": 1}},
				{Account: "222222222222", Region: "us-east-1", Bindings: map[string]int{"verified": 1}},
			}},
		{name: "one account × region", states: []rotation.BindingState{
			at("111111111111", "us-east-1", rotation.BindingVerified),
			at("111111111111", "us-east-1", rotation.BindingFailed),
			file,
		}},
		{name: "no accounts at all", states: []rotation.BindingState{file}},
		{name: "no bindings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ByAccount(tt.states)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ByAccount (-want +got):\n%s", diff)
			}
			if tt.want == nil && got != nil {
				t.Errorf("ByAccount = %#v, want nil", got)
			}
		})
	}
}

func TestAccountBindings_CountsLabel(t *testing.T) {
	a := AccountBindings{Account: "111111111111", Region: "eu-west-1", Bindings: map[string]int{"waiting": 2, "verified": 998, "failed": 1}}
	if got, want := a.CountsLabel(), "1 failed, 998 verified, 2 waiting"; got != want {
		t.Errorf("CountsLabel = %q, want %q", got, want)
	}
}
