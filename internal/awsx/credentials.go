package awsx

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
)

// ErrNoCredentials is what every AWS call fails with when the standard
// chain found no credentials anywhere (environment, shared files, SSO,
// container or instance role). The SDK's own error for that is a paragraph
// about instance metadata, repeated for every call; this is the one line
// that says what to set, mapped here, in the one place every AWS client's
// configuration is built.
var ErrNoCredentials = errors.New("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or aws.profile in rotor.yaml), or run with an instance or task role; against 'rotor emulator' or moto any non-empty key works")

// explained wraps the default chain so that "found nothing" becomes
// ErrNoCredentials. Any other failure (an expired SSO session, a profile
// that names a missing role) is the SDK's own, more precise, error.
type explained struct{ aws.CredentialsProvider }

func (p explained) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil && noneFound(err) {
		return c, ErrNoCredentials
	}
	return c, err
}

// noneFound recognises the chain's last resort failing: the instance
// metadata service is asked only when nothing before it had credentials.
// The SDK exports no error type for this, so its wording is matched.
func noneFound(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "EC2 IMDS") || strings.Contains(msg, "ec2imds") || strings.Contains(msg, "no EC2 IMDS role found")
}

// sdkLogger is the SDK's standard logger on stderr without the instance
// metadata client's "falling back to IMDSv1" warning, which a machine
// without an instance role prints on every call before ErrNoCredentials
// says the same thing usefully.
var sdkLogger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
	if strings.HasPrefix(format, "falling back to IMDSv1") {
		return
	}
	logging.NewStandardLogger(os.Stderr).Logf(c, format, v...)
})
