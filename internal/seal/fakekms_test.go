package seal

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// fakeKMS stands in for KMS where moto_server is not needed: each key is
// an AES-256-GCM key, and a data key is encrypted under it with the key ARN
// and the encryption context as additional data, so Decrypt fails for
// another context or key, as KMS does. It keeps every plaintext data key it
// hands out, so tests can check that rotor zeroed them.
type fakeKMS struct {
	mu        sync.Mutex
	masters   map[string]cipher.AEAD // key ARN → its key
	handedOut [][]byte
	calls     int
	n         int
}

func newFakeKMS() *fakeKMS { return &fakeKMS{masters: map[string]cipher.AEAD{}} }

// key creates a KMS key in region and returns a KMSKey on it.
func (f *fakeKMS) key(t *testing.T, region string) *KMSKey {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	arn := fmt.Sprintf("arn:aws:kms:%s:111122223333:key/00000000-0000-4000-8000-%012d", region, f.n)
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	block, _ := aes.NewCipher(master)
	f.masters[arn], _ = cipher.NewGCMWithRandomNonce(block)
	return &KMSKey{arn: arn, api: f}
}

func fakeAAD(arn string, ec map[string]string) []byte {
	b, _ := json.Marshal(ec) // map keys are sorted
	return append([]byte(arn+"\n"), b...)
}

func fakeErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "fake KMS"} }

func (f *fakeKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	arn := aws.ToString(in.KeyId)
	m, ok := f.masters[arn]
	if !ok {
		return nil, fakeErr("NotFoundException")
	}
	if in.KeySpec != "AES_256" {
		return nil, fakeErr("ValidationException")
	}
	dk := make([]byte, 32)
	_, _ = rand.Read(dk)
	edk := m.Seal([]byte(arn+"\n"), nil, dk, fakeAAD(arn, in.EncryptionContext))
	f.handedOut = append(f.handedOut, dk)
	return &kms.GenerateDataKeyOutput{KeyId: aws.String(arn), CiphertextBlob: edk, Plaintext: dk}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	arn, rest, ok := bytes.Cut(in.CiphertextBlob, []byte("\n"))
	if !ok {
		return nil, fakeErr("InvalidCiphertextException")
	}
	if aws.ToString(in.KeyId) != string(arn) {
		return nil, fakeErr("IncorrectKeyException")
	}
	m, ok := f.masters[string(arn)]
	if !ok {
		return nil, fakeErr("NotFoundException")
	}
	dk, err := m.Open(nil, nil, rest, fakeAAD(string(arn), in.EncryptionContext))
	if err != nil {
		return nil, fakeErr("InvalidCiphertextException")
	}
	f.handedOut = append(f.handedOut, dk)
	return &kms.DecryptOutput{KeyId: aws.String(string(arn)), Plaintext: dk}, nil
}
