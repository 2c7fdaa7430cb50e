package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// KMSSpecPrefix introduces an AWS KMS key in a key spec:
// "awskms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-…".
const KMSSpecPrefix = "awskms:"

// Encryption context keys. KMS binds the data key to both (Decrypt fails
// for any other pair), CloudTrail records them with every call, and a key
// policy can require them (docs/kms.md).
const (
	ContextCredential = "rotor:credential"
	ContextVersion    = "rotor:version" // the version's fingerprint, sha256:…
)

// keyARN is a KMS key ARN: arn:PARTITION:kms:REGION:ACCOUNT:key/ID (ID a
// key id or a multi-Region mrk- id). Aliases are refused: the ARN is stored
// in each blob and named on Decrypt, and an alias can be pointed elsewhere.
var keyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:key/[A-Za-z0-9-]{1,128}$`)

// kmsAPI is what a KMSKey asks KMS; *kms.Client, or a fake in tests.
type kmsAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMSKey seals with envelope encryption under one AWS KMS key: a fresh
// AES-256 data key per version from GenerateDataKey, the token encrypted
// locally with it, and only the KMS-encrypted data key stored. Safe for
// concurrent use.
//
// The local cipher is AES-256-GCM from the standard library, not age's
// ChaCha20-Poly1305: the data key KMS hands out is an AES-256 key
// (KeySpec AES_256), AES-GCM is what AWS's own Encryption SDK uses with it,
// and Go's crypto/aes is inside its FIPS 140-3 module, which installations
// that keep keys in KMS often must use. Each data key seals exactly one
// token, so GCM's random 96-bit nonce can never repeat under one key.
type KMSKey struct {
	arn string
	api kmsAPI
}

var _ Key = (*KMSKey)(nil)

// ParseKMSKeyARN checks that arn is a KMS key ARN and returns its region.
func ParseKMSKeyARN(arn string) (region string, err error) {
	m := keyARN.FindStringSubmatch(arn)
	if m == nil {
		return "", fmt.Errorf("key spec %q: want %sarn:aws:kms:REGION:ACCOUNT:key/KEY-ID (a key ARN; not an alias or a bare key id)", KMSSpecPrefix+arn, KMSSpecPrefix)
	}
	return m[1], nil
}

// OpenKMS returns the KMS key arn, reached with the AWS settings in c
// (endpoint, profile, credentials). The region is the key's own, from its
// ARN, whatever c says. No AWS call is made until the first Seal or Open.
func OpenKMS(ctx context.Context, arn string, c awsx.Config) (*KMSKey, error) {
	region, err := ParseKMSKeyARN(arn)
	if err != nil {
		return nil, err
	}
	c.Region = region
	cfg, err := awsx.Load(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("key %s%s: %w", KMSSpecPrefix, arn, err)
	}
	return &KMSKey{arn: arn, api: kms.NewFromConfig(cfg)}, nil
}

// Spec is the key as rotor.yaml names it.
func (k *KMSKey) Spec() string { return KMSSpecPrefix + k.arn }

// Scheme is SchemeAWSKMS.
func (k *KMSKey) Scheme() Scheme { return SchemeAWSKMS }

func encryptionContext(sc rotation.SealContext) map[string]string {
	return map[string]string{ContextCredential: sc.Credential, ContextVersion: sc.Fingerprint}
}

// Seal asks KMS for a data key bound to sc, encrypts tok with it and keeps
// the encrypted data key beside the ciphertext.
func (k *KMSKey) Seal(ctx context.Context, sc rotation.SealContext, tok token.Token) ([]byte, error) {
	if err := checkSeal(sc, tok); err != nil {
		return nil, err
	}
	out, err := k.api.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(k.arn),
		KeySpec:           kmstypes.DataKeySpecAes256,
		EncryptionContext: encryptionContext(sc),
	})
	if err != nil {
		return nil, fmt.Errorf("seal token: %s: %w", k.arn, awsx.Sanitize(err, tok))
	}
	defer clear(out.Plaintext)
	if got := aws.ToString(out.KeyId); got != k.arn {
		return nil, fmt.Errorf("seal token: KMS answered with key %q, asked for %s", got, k.arn)
	}
	if len(out.CiphertextBlob) == 0 || len(out.CiphertextBlob) > maxEncryptedKey {
		return nil, fmt.Errorf("seal token: KMS returned an encrypted data key of %d bytes", len(out.CiphertextBlob))
	}
	aead, err := dataKeyCipher(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("seal token: %w", err)
	}
	env := envelope{keyARN: k.arn, encryptedKey: out.CiphertextBlob}
	plain := []byte(tok.Reveal())
	defer clear(plain)
	env.payload = aead.Seal(nil, nil, plain, env.additionalData(sc))
	return env.marshal(), nil
}

// Open asks KMS to decrypt the blob's data key under sc and decrypts the
// token with it. A blob of another KMS key fails with ErrWrongKey before
// any call; KMS refuses a data key made for another credential or version.
func (k *KMSKey) Open(ctx context.Context, sc rotation.SealContext, sealed []byte) (token.Token, error) {
	if err := checkContext(sc); err != nil {
		return token.Token{}, err
	}
	if s, err := SchemeOf(sealed); err != nil {
		return token.Token{}, fmt.Errorf("open sealed token: %w", err)
	} else if s != SchemeAWSKMS {
		return token.Token{}, fmt.Errorf("open sealed token: sealed with %s, not AWS KMS: %w", s, ErrWrongKey)
	}
	env, err := parseEnvelope(sealed)
	if err != nil {
		return token.Token{}, fmt.Errorf("open sealed token: %w", err)
	}
	if env.keyARN != k.arn {
		return token.Token{}, fmt.Errorf("open sealed token: sealed with KMS key %s: %w", env.keyARN, ErrWrongKey)
	}
	out, err := k.api.Decrypt(ctx, &kms.DecryptInput{
		KeyId:             aws.String(k.arn),
		CiphertextBlob:    env.encryptedKey,
		EncryptionContext: encryptionContext(sc),
	})
	if err != nil {
		if awsx.IsCode(err, "InvalidCiphertextException") {
			return token.Token{}, fmt.Errorf("open sealed token: KMS refused its data key (InvalidCiphertextException): %w: the blob was altered or belongs to another credential or version", ErrContext)
		}
		return token.Token{}, fmt.Errorf("open sealed token: %s: %w", k.arn, awsx.Sanitize(err))
	}
	defer clear(out.Plaintext)
	aead, err := dataKeyCipher(out.Plaintext)
	if err != nil {
		return token.Token{}, fmt.Errorf("open sealed token: %w", err)
	}
	plain, err := aead.Open(nil, nil, env.payload, env.additionalData(sc))
	defer clear(plain)
	if err != nil {
		return token.Token{}, fmt.Errorf("open sealed token: %w: the ciphertext does not authenticate (altered)", ErrContext)
	}
	return checkOpened(sc, plain)
}

// dataKeyCipher is AES-256-GCM under a data key. aes.NewCipher expands the
// key into a schedule of its own, out of rotor's reach: the caller zeroes
// the data key it holds, and the schedule goes with the cipher to the
// garbage collector.
func dataKeyCipher(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("KMS returned a data key of %d bytes, want 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}
