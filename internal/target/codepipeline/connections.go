package codepipeline

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/codeconnections"
	cctypes "github.com/aws/aws-sdk-go-v2/service/codeconnections/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/migrate"
)

// Connections is the CodeConnections API as rotor migrate uses it. The
// codeconnections API also answers for connections created under the older
// codestar-connections name (AWS's "Connections rename" page), so one
// client serves both kinds of ARN.
type Connections struct {
	client *codeconnections.Client
	region string
}

var _ migrate.Connections = (*Connections)(nil)

// NewConnections builds the client. It calls no AWS API.
func NewConnections(ctx context.Context, c awsx.Config) (*Connections, error) {
	cfg, err := awsx.Load(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Connections{client: codeconnections.NewFromConfig(cfg), region: cfg.Region}, nil
}

// Status is the connection's ConnectionStatus.
func (c *Connections) Status(ctx context.Context, arn string) (string, error) {
	out, err := c.client.GetConnection(ctx, &codeconnections.GetConnectionInput{ConnectionArn: &arn})
	if err != nil {
		return "", fmt.Errorf("get connection: %w", awsx.Sanitize(err))
	}
	if out.Connection == nil {
		return "", fmt.Errorf("get connection: no connection in the answer")
	}
	return string(out.Connection.ConnectionStatus), nil
}

// Create creates a GitHub connection; it is PENDING until someone completes
// the handshake in the console.
func (c *Connections) Create(ctx context.Context, name string) (string, error) {
	out, err := c.client.CreateConnection(ctx, &codeconnections.CreateConnectionInput{ConnectionName: &name, ProviderType: cctypes.ProviderTypeGithub})
	if err != nil {
		return "", fmt.Errorf("create connection %s: %w", name, awsx.Sanitize(err))
	}
	return deref(out.ConnectionArn), nil
}

// ConsoleURL is the console page where a PENDING connection is completed
// ("Update pending connection").
func (c *Connections) ConsoleURL(arn string) string {
	region := c.region
	if parts := strings.Split(arn, ":"); len(parts) > 3 && parts[3] != "" {
		region = parts[3]
	}
	return "https://" + region + ".console.aws.amazon.com/codesuite/settings/connections?region=" + region + "&connections-meta=" + url.QueryEscape(arn)
}
