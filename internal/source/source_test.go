package source

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/config"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

type recorder struct {
	name  string
	calls *[]string
}

func (r recorder) Type() string { return r.name }
func (r recorder) Mint(context.Context, rotation.Requirements) (rotation.Minted, error) {
	*r.calls = append(*r.calls, r.name+" mint")
	return rotation.Minted{}, nil
}
func (r recorder) Check(context.Context, token.Token, rotation.Requirements) (rotation.Identity, error) {
	*r.calls = append(*r.calls, r.name+" check")
	return rotation.Identity{}, nil
}
func (r recorder) Revoke(context.Context, token.Token) error {
	*r.calls = append(*r.calls, r.name+" revoke")
	return nil
}

func TestByKind(t *testing.T) {
	var calls []string
	b := byKind{Source: recorder{"app", &calls}, own: token.KindInstallation, other: recorder{"personal", &calls}}
	ctx := context.Background()
	app, pat := token.Generate(token.KindInstallation), token.Generate(token.KindClassicPAT)
	_, _ = b.Mint(ctx, rotation.Requirements{})
	_, _ = b.Check(ctx, app, rotation.Requirements{})
	_, _ = b.Check(ctx, pat, rotation.Requirements{})
	_ = b.Revoke(ctx, app)
	_ = b.Revoke(ctx, pat)
	want := "app mint,app check,personal check,app revoke,personal revoke"
	if got := strings.Join(calls, ","); got != want {
		t.Fatalf("calls = %s, want %s", got, want)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(config.Source{Type: "vault"}, Deps{}); err == nil || !strings.Contains(err.Error(), "unknown source type") {
		t.Fatalf("unknown type: %v", err)
	}
	src, err := New(config.Source{Type: "personal-token"}, Deps{Credential: "c"})
	if err != nil {
		t.Fatal(err)
	}
	// Without a way to ask a person, a personal source says so and names
	// the command that finishes the job.
	_, err = src.Mint(context.Background(), rotation.Requirements{})
	if !errors.Is(err, rotation.ErrNoToken) || !strings.Contains(err.Error(), "rotor rotate c") {
		t.Fatalf("Mint without a reader = %v", err)
	}
	if _, err := New(config.Source{Type: "github-app", AppID: 1, InstallationID: 2, PrivateKeyFile: "/nonexistent.pem"}, Deps{}); err == nil {
		t.Fatal("github-app with a missing key file built")
	}
}
