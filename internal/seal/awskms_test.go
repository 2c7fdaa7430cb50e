package seal

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/emulator/motoserver"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestKMSKey_contractFake(t *testing.T) {
	f := newFakeKMS()
	testKeyContract(t, keys{key: f.key(t, "eu-west-1"), sibling: f.key(t, "eu-west-1"), foreign: newAgeKey(t)})
}

// The plaintext data key is zeroed once used, on both sides, and never
// stored: the blob holds only what KMS encrypted.
func TestKMSKey_dataKeyNeverKept(t *testing.T) {
	f := newFakeKMS()
	k := f.key(t, "us-east-1")
	ctx := context.Background()
	tok := token.Generate(token.KindClassicPAT)
	sc := contextOf("app", tok)
	sealed, err := k.Seal(ctx, sc, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.handedOut) != 1 {
		t.Fatalf("%d data keys handed out, want 1", len(f.handedOut))
	}
	if !bytes.Equal(f.handedOut[0], make([]byte, 32)) {
		t.Error("Seal left the plaintext data key in memory (not zeroed)")
	}
	if _, err := k.Open(ctx, sc, sealed); err != nil {
		t.Fatal(err)
	}
	if len(f.handedOut) != 2 || !bytes.Equal(f.handedOut[1], make([]byte, 32)) {
		t.Error("Open left the plaintext data key in memory (not zeroed)")
	}
	// Ask the fake for the data key once more, to look for it in the blob.
	env, err := parseEnvelope(sealed)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(k.arn), CiphertextBlob: env.encryptedKey, EncryptionContext: encryptionContext(sc)})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, out.Plaintext) {
		t.Error("the sealed blob holds the plaintext data key")
	}
}

// A blob of another KMS key is refused without asking KMS, naming the key.
func TestKMSKey_otherKeyNoCall(t *testing.T) {
	f := newFakeKMS()
	a, b := f.key(t, "us-east-1"), f.key(t, "us-east-1")
	tok := token.Generate(token.KindInstallation)
	sc := contextOf("app", tok)
	sealed, err := a.Seal(context.Background(), sc, tok)
	if err != nil {
		t.Fatal(err)
	}
	before := f.calls
	_, err = b.Open(context.Background(), sc, sealed)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), a.arn) {
		t.Errorf("Open with another key = %v, want ErrWrongKey naming %s", err, a.arn)
	}
	if f.calls != before {
		t.Errorf("%d KMS calls for a blob of another key, want 0", f.calls-before)
	}
}

func TestParseKMSKeyARN(t *testing.T) {
	for _, tc := range []struct {
		arn, region string
	}{
		{"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "eu-west-1"},
		{"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", "us-gov-west-1"},
		{"arn:aws:kms:eu-west-1:111122223333:alias/rotor", ""},
		{"1234abcd-12ab-34cd-56ef-1234567890ab", ""},
		{"arn:aws:kms:eu-west-1:1111:key/x", ""},
		{"arn:aws:iam::111122223333:role/rotor", ""},
	} {
		got, err := ParseKMSKeyARN(tc.arn)
		if got != tc.region || (err == nil) != (tc.region != "") {
			t.Errorf("ParseKMSKeyARN(%q) = %q, %v; want %q", tc.arn, got, err, tc.region)
		}
	}
	if _, err := OpenKey(context.Background(), "awskms:alias/rotor", Options{}); err == nil || !strings.Contains(err.Error(), "key ARN") {
		t.Errorf("OpenKey(alias) = %v, want an error asking for a key ARN", err)
	}
	if _, err := OpenKey(context.Background(), "vault:x", Options{}); err == nil || !strings.Contains(err.Error(), "awskms:ARN") {
		t.Errorf("OpenKey(vault:x) = %v, want an error naming both forms", err)
	}
}

// TestKMSKey_againstMoto runs the contract against moto_server's KMS, with
// the real SDK client built the way rotor builds it (OpenKey).
func TestKMSKey_againstMoto(t *testing.T) {
	ep := motoserver.Start(t)
	o := Options{AWS: awsx.Config{Region: "us-east-1", EndpointURL: ep, Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")}}
	ctx := context.Background()
	client := motoKMS(t, ep, "eu-west-1")
	// The keys live in eu-west-1 while aws.region says us-east-1: rotor
	// calls each key in its own region, from its ARN.
	open := func() Key {
		t.Helper()
		k, err := OpenKey(ctx, "awskms:"+motoKey(t, client), o)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	key, sibling := open(), open()
	testKeyContract(t, keys{key: key, sibling: sibling, foreign: newAgeKey(t)})

	t.Run("only the encrypted data key is stored", func(t *testing.T) {
		tok := token.Generate(token.KindClassicPAT)
		sc := contextOf("app", tok)
		sealed, err := key.Seal(ctx, sc, tok)
		if err != nil {
			t.Fatal(err)
		}
		env, err := parseEnvelope(sealed)
		if err != nil {
			t.Fatal(err)
		}
		out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: env.encryptedKey, EncryptionContext: map[string]string{
			"rotor:credential": "app", "rotor:version": tok.Fingerprint()}})
		if err != nil {
			t.Fatalf("the stored data key does not decrypt with the documented encryption context: %v", err)
		}
		if len(out.Plaintext) != 32 || bytes.Contains(sealed, out.Plaintext) {
			t.Errorf("data key of %d bytes; in the blob: %v", len(out.Plaintext), bytes.Contains(sealed, out.Plaintext))
		}
		if _, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: env.encryptedKey, EncryptionContext: map[string]string{
			"rotor:credential": "other", "rotor:version": tok.Fingerprint()}}); err == nil {
			t.Error("KMS decrypted the data key under another credential's context")
		}
	})
}

func motoKMS(t *testing.T, endpoint, region string) *kms.Client {
	t.Helper()
	cfg, err := awsx.Load(context.Background(), awsx.Config{Region: region, EndpointURL: endpoint, Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	if err != nil {
		t.Fatal(err)
	}
	return kms.NewFromConfig(cfg)
}

// motoKey creates a symmetric KMS key and returns its ARN.
func motoKey(t *testing.T, client *kms.Client) string {
	t.Helper()
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("rotor test")})
	if err != nil {
		t.Fatalf("moto CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}
