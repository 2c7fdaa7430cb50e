package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rotor-ci/rotor/internal/rotation"
)

// envelopeMagic begins every KMS-sealed blob; it names the scheme and the
// layout's version.
const envelopeMagic = "rotor-awskms/v1\n"

// Bounds on what parseEnvelope accepts: an ARN is at most 2048 characters
// and a KMS ciphertext blob at most 6144 bytes (KMS API reference).
const (
	maxARN          = 2048
	maxEncryptedKey = 6144
	gcmOverhead     = 12 + 16 // the random nonce before, the tag after
)

// envelope is the layout of a KMS-sealed blob:
//
//	"rotor-awskms/v1\n"
//	uvarint length, key ARN          the KMS key that encrypted the data key
//	uvarint length, encrypted key    GenerateDataKey's CiphertextBlob
//	nonce ‖ AES-256-GCM ciphertext ‖ tag
//
// Only the KMS-encrypted data key is stored; KMS binds it to the encryption
// context, so it decrypts only for the credential and version it was made
// for. The key ARN is kept so that Open names the key on Decrypt (AWS's
// advice: never let KMS pick the key) and can tell a blob of another key
// without asking KMS.
type envelope struct {
	keyARN       string
	encryptedKey []byte
	payload      []byte
}

// header is everything before the payload; it is also (with the context)
// the payload's additional data, so no byte of a blob can change unnoticed.
func (e envelope) header() []byte {
	b := []byte(envelopeMagic)
	b = binary.AppendUvarint(b, uint64(len(e.keyARN)))
	b = append(b, e.keyARN...)
	b = binary.AppendUvarint(b, uint64(len(e.encryptedKey)))
	return append(b, e.encryptedKey...)
}

func (e envelope) marshal() []byte { return append(e.header(), e.payload...) }

// additionalData binds the payload to its header and its seal context.
func (e envelope) additionalData(sc rotation.SealContext) []byte {
	b := e.header()
	b = binary.AppendUvarint(b, uint64(len(sc.Credential)))
	b = append(b, sc.Credential...)
	b = binary.AppendUvarint(b, uint64(len(sc.Fingerprint)))
	return append(b, sc.Fingerprint...)
}

var errMalformed = errors.New("malformed KMS envelope")

func parseEnvelope(b []byte) (envelope, error) {
	rest, ok := bytes.CutPrefix(b, []byte(envelopeMagic))
	if !ok {
		return envelope{}, fmt.Errorf("%w: no %q header", errMalformed, envelopeMagic[:len(envelopeMagic)-1])
	}
	field := func(name string, limit int) ([]byte, error) {
		n, size := binary.Uvarint(rest)
		if size <= 0 || n == 0 || n > uint64(limit) || n > uint64(len(rest)-size) {
			return nil, fmt.Errorf("%w: bad %s length", errMalformed, name)
		}
		v := rest[size : size+int(n)]
		rest = rest[size+int(n):]
		return v, nil
	}
	arn, err := field("key ARN", maxARN)
	if err != nil {
		return envelope{}, err
	}
	key, err := field("encrypted data key", maxEncryptedKey)
	if err != nil {
		return envelope{}, err
	}
	if len(rest) <= gcmOverhead || len(rest) > gcmOverhead+maxToken {
		return envelope{}, fmt.Errorf("%w: payload of %d bytes", errMalformed, len(rest))
	}
	return envelope{keyARN: string(arn), encryptedKey: key, payload: rest}, nil
}
