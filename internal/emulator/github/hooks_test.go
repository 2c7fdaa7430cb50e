package github

import (
	"context"
	"net/http"
	"strings"
	"testing"

	gh "github.com/google/go-github/v93/github"
)

// TestHooks: go-github creates, lists, reads and deletes a repository
// webhook with a classic token holding admin:repo_hook, as CodePipeline's
// RegisterWebhookWithThirdParty does; a token without the scope, a
// collaborator and a stranger get 404, as on GitHub.
func TestHooks(t *testing.T) {
	e := newEnv(t, testWorld())
	ctx := context.Background()
	alice := e.client(t, e.tok["alice-classic"])
	in := &gh.Hook{Config: &gh.HookConfig{URL: new("https://webhooks.example/trigger"), ContentType: new("json"), Secret: new("s3cret-hmac")},
		Events: []string{"push"}, Active: new(true)}
	h, resp, err := alice.Repositories.CreateHook(ctx, "alice", "private", in)
	if err != nil || statusOf(resp) != http.StatusCreated {
		t.Fatalf("CreateHook: %v %d", err, statusOf(resp))
	}
	if h.GetConfig().GetSecret() != "********" || h.GetName() != "web" || !h.GetActive() {
		t.Errorf("hook %+v", h)
	}
	if _, resp, err := alice.Repositories.CreateHook(ctx, "alice", "private", in); err == nil || statusOf(resp) != http.StatusUnprocessableEntity {
		t.Errorf("the same URL twice: %v %d, want 422", err, statusOf(resp))
	}
	list, _, err := alice.Repositories.ListHooks(ctx, "alice", "private", nil)
	if err != nil || len(list) != 1 || list[0].GetID() != h.GetID() {
		t.Fatalf("ListHooks: %v %v", list, err)
	}
	if got := e.srv.Hooks(); len(got) != 1 || got[0].URL != "https://webhooks.example/trigger" || !got[0].SecretSet {
		t.Errorf("Hooks() = %+v", got)
	}
	for _, who := range []string{"alice-noscope", "bob-classic", "carol-classic", "alice-fg"} {
		c := e.client(t, e.tok[who])
		if _, resp, err := c.Repositories.ListHooks(ctx, "alice", "private", nil); err == nil || statusOf(resp) != http.StatusNotFound {
			t.Errorf("%s lists hooks: %v %d, want 404", who, err, statusOf(resp))
		}
		if resp, err := c.Repositories.DeleteHook(ctx, "alice", "private", h.GetID()); err == nil || statusOf(resp) != http.StatusNotFound {
			t.Errorf("%s deletes the hook: %v %d, want 404", who, err, statusOf(resp))
		}
	}
	if resp, err := alice.Repositories.DeleteHook(ctx, "alice", "private", h.GetID()); err != nil || statusOf(resp) != http.StatusNoContent {
		t.Fatalf("DeleteHook: %v %d", err, statusOf(resp))
	}
	if resp, err := alice.Repositories.DeleteHook(ctx, "alice", "private", h.GetID()); statusOf(resp) != http.StatusNotFound {
		t.Errorf("deleting twice: %v %d, want 404", err, statusOf(resp))
	}
	if got := e.srv.Hooks(); len(got) != 0 {
		t.Errorf("hooks left: %+v", got)
	}
}

// TestAdmin_InstallApp installs an existing app on another account, once.
func TestAdmin_InstallApp(t *testing.T) {
	e := newEnv(t, testWorld())
	resp, body := e.do(t, http.MethodPost, "/_emulator/apps/rotor-ci/installations", "", `{"account":"carol","repositories":["secret"]}`)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"account":"carol"`) {
		t.Fatalf("install: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, http.MethodPost, "/_emulator/apps/rotor-ci/installations", "", `{"account":"carol"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("installing twice: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodPost, "/_emulator/apps/nope/installations", "", `{"account":"carol"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown app: %d", resp.StatusCode)
	}
	if _, insts := e.srv.App("rotor-ci"); len(insts) != 2 {
		t.Errorf("installations %v", insts)
	}
}
