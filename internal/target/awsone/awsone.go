// Package awsone is what the targets that keep the token in one AWS
// resource (secretsmanager: a secret, ssm: a parameter) share: one
// constructor shape (Load, then NewBase), the errors that name the binding
// and withhold a token, and the comparison of KMS keys.
package awsone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/token"
)

// Load checks that the resource is named (field is its config key, name
// its value) and loads the AWS configuration. It calls no AWS API.
func Load(ctx context.Context, c awsx.Config, typ, field, name string) (aws.Config, error) {
	if name == "" {
		return aws.Config{}, fmt.Errorf("%s: %s is required", typ, field)
	}
	cfg, err := awsx.Load(ctx, c)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%s %s: %w", typ, name, err)
	}
	return cfg, nil
}

// Base is a target's one binding: its ID ("<type>:<region>:<name>"), its
// region and its logger.
type Base struct {
	ID     string
	Region string
	Log    *slog.Logger
}

// NewBase names the binding of resource name in region; the logger (nil:
// discard) says the target's type and, under logKey, the resource.
func NewBase(typ, region, logKey, name string, log *slog.Logger) Base {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Base{ID: typ + ":" + region + ":" + name, Region: region, Log: log.With("target", typ, logKey, name)}
}

// BindingID is "<type>:<region>:<name>".
func (b Base) BindingID() string { return b.ID }

// Wrap names the binding in err.
func (b Base) Wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", b.ID, err)
}

// Result names the binding, and withholds an error whose text would hold
// the token: AWS errors are sanitised with it already, so this is a last
// guard, not the mechanism.
func (b Base) Result(err error, tok token.Token) error {
	if err == nil {
		return nil
	}
	err = b.Wrap(err)
	if !tok.IsZero() && strings.Contains(err.Error(), tok.Reveal()) {
		return b.Wrap(errors.New("error withheld: its text held the token"))
	}
	return err
}

// SameKMSKey reports whether the configured key want names the key the
// service reports (have; empty for the service's default key, the alias
// awsManaged, e.g. alias/aws/ssm). Either may be a key id, a key ARN, an
// alias or an alias ARN; an alias and a key id cannot be matched without
// KMS and count as different.
func SameKMSKey(want, have, awsManaged string) bool {
	if have == "" {
		have = awsManaged
	}
	if want == have {
		return true
	}
	suffix := func(arn, short string) bool {
		return strings.HasPrefix(arn, "arn:") && (strings.HasSuffix(arn, ":"+short) || strings.HasSuffix(arn, ":key/"+short))
	}
	return suffix(have, want) || suffix(want, have)
}

// OrDefaultKey names key k for a message; empty is the service's default
// key, the alias awsManaged.
func OrDefaultKey(k, awsManaged string) string {
	if k == "" {
		return "the default key " + strings.TrimPrefix(awsManaged, "alias/")
	}
	return k
}
