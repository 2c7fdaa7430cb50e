package codeconnections_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cc "github.com/aws/aws-sdk-go-v2/service/codeconnections"
	cctypes "github.com/aws/aws-sdk-go-v2/service/codeconnections/types"
	csc "github.com/aws/aws-sdk-go-v2/service/codestarconnections"
	csctypes "github.com/aws/aws-sdk-go-v2/service/codestarconnections/types"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/codeconnections"
	"github.com/rotor-ci/rotor/internal/emulator/conformance"
	"github.com/rotor-ci/rotor/internal/emulator/github"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 1024); return k })

type env struct {
	gh    *github.Server
	ghURL string
	srv   *codeconnections.Server
	url   string
}

// start serves a GitHub emulator (users alice and acme, their repositories)
// and the connections emulator in front of it, accounts by access key.
func start(t *testing.T, opts ...conformance.Option) env {
	t.Helper()
	gh, err := github.New(github.World{
		Users: []github.UserSpec{{Login: "alice"}, {Login: "acme"}},
		Repos: []github.RepoSpec{{Owner: "alice", Name: "app", Private: true, Branches: []string{"main"}}, {Owner: "acme", Name: "svc", Private: true}},
	}, github.Options{KeyGen: func() (*rsa.PrivateKey, error) { return testKey(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	ghs := httptest.NewServer(conformance.For(t).GitHub(gh))
	t.Cleanup(ghs.Close)
	dir, err := awsaccounts.NewDirectory(awsaccounts.World{Accounts: []awsaccounts.AccountSpec{
		{ID: "111111111111", AccessKeys: []awsaccounts.KeySpec{{ID: "AKIADEV0000000000001"}}},
	}}, "123456789012", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := codeconnections.New(codeconnections.Options{GitHubURL: ghs.URL, Accounts: dir})
	hs := httptest.NewServer(conformance.For(t, opts...).AWS(srv))
	t.Cleanup(hs.Close)
	return env{gh: gh, ghURL: ghs.URL, srv: srv, url: hs.URL}
}

func (e env) cc(key, region string) *cc.Client {
	return cc.New(cc.Options{BaseEndpoint: aws.String(e.url), Region: region, Credentials: credentials.NewStaticCredentialsProvider(key, "x", "")})
}

func (e env) handshake(t *testing.T, arn, account string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"connection_arn": arn, "github_account": account})
	resp, err := http.Post(e.url+"/_emulator/connections/handshake", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func TestConnections_API(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	home := e.cc("AKIAANYKEY0000000000", "us-east-1")
	created, err := home.CreateConnection(ctx, &cc.CreateConnectionInput{ConnectionName: aws.String("github-app"), ProviderType: cctypes.ProviderTypeGithub,
		Tags: []cctypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ConnectionArn)
	if !strings.HasPrefix(arn, "arn:aws:codeconnections:us-east-1:123456789012:connection/") {
		t.Errorf("ARN %s", arn)
	}
	got, err := home.GetConnection(ctx, &cc.GetConnectionInput{ConnectionArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Connection; c.ConnectionStatus != cctypes.ConnectionStatusPending || aws.ToString(c.OwnerAccountId) != "123456789012" || aws.ToString(c.ConnectionName) != "github-app" {
		t.Errorf("connection %+v", c)
	}
	// The older name creates codestar-connections ARNs and sees both.
	legacy := csc.New(csc.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIAANYKEY0000000000", "x", "")})
	old, err := legacy.CreateConnection(ctx, &csc.CreateConnectionInput{ConnectionName: aws.String("old"), ProviderType: "GitHub"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(old.ConnectionArn), "arn:aws:codestar-connections:us-east-1:123456789012:connection/") {
		t.Errorf("legacy ARN %s", aws.ToString(old.ConnectionArn))
	}
	list, err := legacy.ListConnections(ctx, &csc.ListConnectionsInput{})
	if err != nil || len(list.Connections) != 2 {
		t.Fatalf("legacy ListConnections: %v %v", list, err)
	}
	// Every operation under the older name too, on a connection of its own.
	doomed, err := legacy.CreateConnection(ctx, &csc.CreateConnectionInput{ConnectionName: aws.String("doomed"), ProviderType: "GitHub"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.TagResource(ctx, &csc.TagResourceInput{ResourceArn: doomed.ConnectionArn, Tags: []csctypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}, {Key: aws.String("gone"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.UntagResource(ctx, &csc.UntagResourceInput{ResourceArn: doomed.ConnectionArn, TagKeys: []string{"gone"}}); err != nil {
		t.Fatal(err)
	}
	if lt, err := legacy.ListTagsForResource(ctx, &csc.ListTagsForResourceInput{ResourceArn: doomed.ConnectionArn}); err != nil || len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Key) != "k" {
		t.Errorf("legacy tags %v %v", lt, err)
	}
	if g, err := legacy.GetConnection(ctx, &csc.GetConnectionInput{ConnectionArn: doomed.ConnectionArn}); err != nil || g.Connection.ConnectionStatus != csctypes.ConnectionStatusPending {
		t.Errorf("legacy GetConnection %v %v", g, err)
	}
	if _, err := legacy.DeleteConnection(ctx, &csc.DeleteConnectionInput{ConnectionArn: doomed.ConnectionArn}); err != nil {
		t.Fatal(err)
	}
	var legacyNF *csctypes.ResourceNotFoundException
	if _, err := legacy.GetConnection(ctx, &csc.GetConnectionInput{ConnectionArn: doomed.ConnectionArn}); !errors.As(err, &legacyNF) {
		t.Errorf("legacy GetConnection after delete: %v", err)
	}
	// Paging one at a time.
	var seen []string
	p := cc.NewListConnectionsPaginator(home, &cc.ListConnectionsInput{MaxResults: 1})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Connections {
			seen = append(seen, aws.ToString(c.ConnectionArn))
		}
	}
	if len(seen) != 2 {
		t.Errorf("paged %v", seen)
	}
	// Another account, or another region, sees none of them.
	for _, c := range []*cc.Client{e.cc("AKIADEV0000000000001", "us-east-1"), e.cc("AKIAANYKEY0000000000", "eu-west-1")} {
		l, err := c.ListConnections(ctx, &cc.ListConnectionsInput{})
		if err != nil || len(l.Connections) != 0 {
			t.Errorf("another account or region lists %v %v", l, err)
		}
		_, err = c.GetConnection(ctx, &cc.GetConnectionInput{ConnectionArn: &arn})
		var nf *cctypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("another account or region gets the connection: %v", err)
		}
	}
	// Tags.
	if _, err := home.TagResource(ctx, &cc.TagResourceInput{ResourceArn: &arn, Tags: []cctypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := home.UntagResource(ctx, &cc.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := home.ListTagsForResource(ctx, &cc.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Errorf("tags %v %v", tags, err)
	}
	// Delete, then it is gone.
	if _, err := home.DeleteConnection(ctx, &cc.DeleteConnectionInput{ConnectionArn: &arn}); err != nil {
		t.Fatal(err)
	}
	_, err = home.DeleteConnection(ctx, &cc.DeleteConnectionInput{ConnectionArn: &arn})
	var nf *cctypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("deleting twice: %v", err)
	}
}

func TestConnections_Validation(t *testing.T) {
	e := start(t, conformance.AllowInvalidRequests())
	ctx := context.Background()
	home := e.cc("AKIAANYKEY0000000000", "us-east-1")
	_, err := home.CreateConnection(ctx, &cc.CreateConnectionInput{ConnectionName: aws.String(strings.Repeat("n", 33)), ProviderType: cctypes.ProviderTypeGithub})
	if err == nil || !strings.Contains(err.Error(), "Member must have length less than or equal to 32") {
		t.Errorf("a 33-character name: %v", err)
	}
	_, err = home.CreateConnection(ctx, &cc.CreateConnectionInput{ConnectionName: aws.String("x")})
	if err == nil || !strings.Contains(err.Error(), "ProviderType or HostArn is required") {
		t.Errorf("no provider: %v", err)
	}
}

// TestConnections_Handshake: the admin handshake installs the connector app
// on a GitHub account through the GitHub emulator and makes the connection
// AVAILABLE; its installation token reads that account's private
// repository and no other.
func TestConnections_Handshake(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	home := e.cc("AKIAANYKEY0000000000", "us-east-1")
	mk := func(name string) string {
		out, err := home.CreateConnection(ctx, &cc.CreateConnectionInput{ConnectionName: aws.String(name), ProviderType: cctypes.ProviderTypeGithub})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ConnectionArn)
	}
	a, b := mk("a"), mk("b")
	if _, err := e.srv.InstallationToken(ctx, a); !errors.Is(err, codeconnections.ErrNotAvailable) {
		t.Errorf("token of a PENDING connection: %v", err)
	}
	if status, body := e.handshake(t, a, "alice"); status != http.StatusOK || !strings.Contains(body, `"status":"AVAILABLE"`) {
		t.Fatalf("handshake: %d %s", status, body)
	}
	got, err := home.GetConnection(ctx, &cc.GetConnectionInput{ConnectionArn: &a})
	if err != nil || got.Connection.ConnectionStatus != cctypes.ConnectionStatusAvailable {
		t.Fatalf("after the handshake: %v %v", got, err)
	}
	if status, body := e.handshake(t, a, "alice"); status != http.StatusConflict {
		t.Errorf("a second handshake: %d %s", status, body)
	}
	// A second connection to the same account reuses the installation.
	if status, body := e.handshake(t, b, "alice"); status != http.StatusOK {
		t.Fatalf("handshake b: %d %s", status, body)
	}
	conns := e.srv.Connections()
	if conns[0].InstallationID == 0 || conns[0].InstallationID != conns[1].InstallationID {
		t.Errorf("installations %d and %d", conns[0].InstallationID, conns[1].InstallationID)
	}
	if _, insts := e.gh.App(codeconnections.ConnectorApp); len(insts) != 1 {
		t.Errorf("connector installations %v", insts)
	}
	tok, err := e.srv.InstallationToken(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := e.gh.Authorize(tok.Reveal(), "alice", "app"); !ok {
		t.Errorf("the installation token cannot read alice/app: %s", why)
	}
	if ok, _ := e.gh.Authorize(tok.Reveal(), "acme", "svc"); ok {
		t.Errorf("the installation token reads acme/svc, where the app is not installed")
	}
	// State survives a snapshot: the token can still be minted.
	snap, err := e.srv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	again := codeconnections.New(codeconnections.Options{GitHubURL: e.ghURL})
	if err := again.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := again.InstallationToken(ctx, a); err != nil {
		t.Errorf("after restore: %v", err)
	}
}
