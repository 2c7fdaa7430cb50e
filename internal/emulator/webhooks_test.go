package emulator_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cp "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/rotor-ci/rotor/internal/emulator"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

func webhookDef(name, pipeline, secret string) *types.WebhookDefinition {
	return &types.WebhookDefinition{
		Name: aws.String(name), TargetPipeline: aws.String(pipeline), TargetAction: aws.String("Source"),
		Filters:                     []types.WebhookFilterRule{{JsonPath: aws.String("$.ref"), MatchEquals: aws.String("refs/heads/{Branch}")}},
		Authentication:              types.WebhookAuthenticationTypeGithubHmac,
		AuthenticationConfiguration: &types.WebhookAuthConfiguration{SecretToken: aws.String(secret)},
	}
}

// TestWebhooks: PutWebhook, then RegisterWebhookWithThirdParty makes a
// repository hook on GitHub with the action's token,
// DeregisterWebhookWithThirdParty removes it, DeleteWebhook alone leaves it
// behind; a token without admin:repo_hook cannot register.
func TestWebhooks(t *testing.T) {
	w := emulator.DefaultWorld()
	w.GitHub.Tokens = append(w.GitHub.Tokens, github.WorldToken{TokenSpec: github.TokenSpec{User: emulator.SeedUser, Kind: github.KindClassic, Note: "repo-only", Scopes: []string{"repo"}}})
	sb := startSandbox(t, emulator.Config{World: w, PollInterval: -1})
	ctx := context.Background()
	c := client(sb.AWSURL)
	seedToken, _ := sb.Token(emulator.SeedTokenNote)

	// AWS's tutorial used the personal token as the webhook's secret.
	put, err := c.PutWebhook(ctx, &cp.PutWebhookInput{Webhook: webhookDef("seed-hook", emulator.SeedPipeline, seedToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(put.Webhook.Url), "https://us-east-1.webhooks.aws/trigger?t=") || aws.ToString(put.Webhook.Arn) != "arn:aws:codepipeline:us-east-1:123456789012:webhook:seed-hook" {
		t.Errorf("webhook %+v", put.Webhook)
	}
	list, err := c.ListWebhooks(ctx, &cp.ListWebhooksInput{})
	if err != nil || len(list.Webhooks) != 1 || aws.ToString(list.Webhooks[0].Definition.AuthenticationConfiguration.SecretToken) != seedToken.Reveal() {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if _, err := c.RegisterWebhookWithThirdParty(ctx, &cp.RegisterWebhookWithThirdPartyInput{WebhookName: aws.String("seed-hook")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterWebhookWithThirdParty(ctx, &cp.RegisterWebhookWithThirdPartyInput{WebhookName: aws.String("seed-hook")}); err != nil {
		t.Fatalf("registering twice: %v", err)
	}
	hooks := sb.GitHub.Hooks()
	if len(hooks) != 1 || hooks[0].URL != aws.ToString(put.Webhook.Url) || !hooks[0].SecretSet || !strings.EqualFold(hooks[0].Repo, emulator.SeedUser+"/"+emulator.SeedRepo) {
		t.Fatalf("GitHub hooks after register: %+v", hooks)
	}
	if _, err := c.DeregisterWebhookWithThirdParty(ctx, &cp.DeregisterWebhookWithThirdPartyInput{WebhookName: aws.String("seed-hook")}); err != nil {
		t.Fatal(err)
	}
	if hooks := sb.GitHub.Hooks(); len(hooks) != 0 {
		t.Errorf("GitHub hooks after deregister: %+v", hooks)
	}
	if _, err := c.DeleteWebhook(ctx, &cp.DeleteWebhookInput{Name: aws.String("seed-hook")}); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.ListWebhooks(ctx, &cp.ListWebhooksInput{}); len(list.Webhooks) != 0 {
		t.Errorf("webhooks after delete: %+v", list.Webhooks)
	}

	// DeleteWebhook without deregistering leaves the GitHub hook behind.
	if _, err := c.PutWebhook(ctx, &cp.PutWebhookInput{Webhook: webhookDef("orphan", emulator.SeedPipeline, "hmac-secret")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterWebhookWithThirdParty(ctx, &cp.RegisterWebhookWithThirdPartyInput{WebhookName: aws.String("orphan")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteWebhook(ctx, &cp.DeleteWebhookInput{Name: aws.String("orphan")}); err != nil {
		t.Fatal(err)
	}
	if hooks := sb.GitHub.Hooks(); len(hooks) != 1 {
		t.Errorf("the GitHub hook should stay behind: %+v", hooks)
	}

	// A token with repo but not admin:repo_hook cannot register.
	weak, _ := sb.Token("repo-only")
	d := seedPipelineDecl(t, sb)
	d.Name = aws.String("Weak")
	d.Stages[0].Actions[0].Configuration["OAuthToken"] = weak.Reveal()
	if _, err := c.CreatePipeline(ctx, &cp.CreatePipelineInput{Pipeline: d}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutWebhook(ctx, &cp.PutWebhookInput{Webhook: webhookDef("weak", "Weak", "s")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RegisterWebhookWithThirdParty(ctx, &cp.RegisterWebhookWithThirdPartyInput{WebhookName: aws.String("weak")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "Webhook could not be registered with GitHub") || strings.Contains(err.Error(), weak.Reveal()) {
		t.Errorf("register with a token lacking admin:repo_hook: %v", err)
	}

	// Errors the model declares.
	_, err = c.RegisterWebhookWithThirdParty(ctx, &cp.RegisterWebhookWithThirdPartyInput{WebhookName: aws.String("nope")})
	var nf *types.WebhookNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown webhook: %v", err)
	}
	_, err = c.PutWebhook(ctx, &cp.PutWebhookInput{Webhook: webhookDef("x", "NoSuchPipeline", "s")})
	var pnf *types.PipelineNotFoundException
	if !errors.As(err, &pnf) {
		t.Errorf("webhook on a missing pipeline: %v", err)
	}
	noSecret := webhookDef("x", emulator.SeedPipeline, "s")
	noSecret.AuthenticationConfiguration = &types.WebhookAuthConfiguration{}
	_, err = c.PutWebhook(ctx, &cp.PutWebhookInput{Webhook: noSecret})
	var auth *types.InvalidWebhookAuthenticationParametersException
	if !errors.As(err, &auth) {
		t.Errorf("GITHUB_HMAC without a secret: %v", err)
	}
}

// seedPipelineDecl reads the seed pipeline's declaration back, for a copy.
func seedPipelineDecl(t *testing.T, sb *emulator.Sandbox) *types.PipelineDeclaration {
	t.Helper()
	out, err := client(sb.AWSURL).GetPipeline(context.Background(), &cp.GetPipelineInput{Name: aws.String(emulator.SeedPipeline)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Pipeline
}
