package secretsmanager

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// TestCanary plants tokens, drives every path (successes and failures) and
// checks that no error, warning or log line holds any of them (I6).
func testCanary(t *testing.T, ep string) {
	c := client(t, ep)
	old, next := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var said []string
	collect := func(r rotation.Result) {
		if r.Err != nil {
			said = append(said, r.Err.Error(), fmt.Sprintf("%+v %#v", r.Err, r.Err))
		}
	}
	ctx := context.Background()

	plain := createSecret(t, c, old.Reveal(), "")
	jsonSecret := createSecret(t, c, `{"token":"`+old.Reveal()+`","other":"`+next.Reveal()+`"}`, "")
	notJSON := createSecret(t, c, old.Reveal(), "")
	for _, cfg := range []Config{
		{SecretID: plain},
		{SecretID: jsonSecret, JSONKey: "token"},
		{SecretID: notJSON, JSONKey: "token"},
		{SecretID: "rotor/test/absent"},
		{SecretID: plain, KMSKeyID: "alias/elsewhere"},
	} {
		cfg.Log = log
		tg := newTestTarget(t, ep, cfg)
		bs, err := tg.Discover(ctx)
		if err != nil {
			said = append(said, err.Error())
		}
		for _, b := range bs {
			said = append(said, b.Warnings...)
		}
		if len(bs) == 0 {
			bs = []rotation.Binding{{ID: tg.BindingID(), Target: Type}}
		}
		tg.Verify(ctx, next, bs, collect) // mismatch
		tg.Apply(ctx, next, bs, collect)
		tg.Verify(ctx, next, bs, collect)
		tg.Verify(ctx, old, bs, collect) // mismatch
		tg.Rollback(ctx, old, bs, collect)
		tg.Apply(ctx, next, bs, collect)
		// A failure mid-apply, then its resume and a rollback.
		f := &flaky{api: tg.api}
		f.failStage.Store(1)
		ft := newTarget(cfg, f, region)
		third := token.Generate(token.KindClassicPAT)
		ft.Apply(ctx, third, bs, collect)
		ft.Rollback(ctx, next, bs, collect)
	}
	// A version id that exists with another value.
	clash := createSecret(t, c, old.Reveal(), "")
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{
		SecretId: aws.String(clash), ClientRequestToken: aws.String(versionID(clash, "", next, "")),
		SecretString: aws.String(old.Reveal()), VersionStages: []string{"X"},
	}); err != nil {
		t.Fatal(err)
	}
	tg := newTestTarget(t, ep, Config{SecretID: clash, Log: log})
	tg.Apply(ctx, next, discover(t, tg), collect)

	if len(said) < 10 {
		t.Fatalf("only %d messages: the failure paths did not run", len(said))
	}
	said = append(said, strings.Split(logs.String(), "\n")...)
	for _, s := range said {
		for _, tok := range []token.Token{old, next} {
			if strings.Contains(s, tok.Reveal()) {
				t.Errorf("a message holds a token: %s", strings.ReplaceAll(s, tok.Reveal(), "<CANARY>"))
			}
		}
	}
}
