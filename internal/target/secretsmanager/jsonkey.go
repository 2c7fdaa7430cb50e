package secretsmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// ErrNotJSONObject: json_key is set but the secret's string is not a JSON
// object (or the key's value is not a string). The secret is left alone.
var ErrNotJSONObject = errors.New("secret string is not a JSON object")

// errNoKey: the JSON object has no such key yet (Apply adds it).
var errNoKey = errors.New("JSON key absent")

type member struct {
	key string
	raw json.RawMessage
}

// members reads a JSON object keeping its keys in order and each value's
// bytes as they are. Errors never quote the document: it is a secret.
func members(doc string) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, ErrNotJSONObject
	}
	var ms []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w (syntax error at byte %d)", ErrNotJSONObject, dec.InputOffset())
		}
		k, _ := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w (syntax error at byte %d)", ErrNotJSONObject, dec.InputOffset())
		}
		ms = append(ms, member{key: k, raw: raw})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("%w (syntax error at byte %d)", ErrNotJSONObject, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w (trailing data after the object)", ErrNotJSONObject)
	}
	return ms, nil
}

// setKey returns doc with key's value replaced by the JSON string value,
// every other member kept in order and byte for byte. An absent key is
// appended; an empty doc is taken as {}.
func setKey(doc, key, value string) (string, error) {
	var ms []member
	if len(bytes.TrimSpace([]byte(doc))) > 0 {
		var err error
		if ms, err = members(doc); err != nil {
			return "", err
		}
	}
	v, err := marshalString(value)
	if err != nil {
		return "", err
	}
	found := false
	for i := range ms {
		if ms[i].key == key {
			ms[i].raw, found = v, true
		}
	}
	if !found {
		ms = append(ms, member{key: key, raw: v})
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalString(m.key)
		if err != nil {
			return "", err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.raw)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// getKey returns key's string value in doc.
func getKey(doc, key string) (string, error) {
	ms, err := members(doc)
	if err != nil {
		return "", err
	}
	var (
		raw   json.RawMessage
		found bool
	)
	for _, m := range ms { // the last wins, as in encoding/json
		if m.key == key {
			raw, found = m.raw, true
		}
	}
	if !found {
		return "", fmt.Errorf("%w: %q", errNoKey, key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: key %q is not a string", ErrNotJSONObject, key)
	}
	return s, nil
}

// sameExcept reports whether two JSON objects have equal members apart
// from key (compared as values, not bytes).
func sameExcept(a, b, key string) bool {
	decode := func(doc string) (map[string]any, bool) {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, false
		}
		delete(m, key)
		return m, true
	}
	ma, oka := decode(a)
	mb, okb := decode(b)
	return oka && okb && reflect.DeepEqual(ma, mb)
}

func marshalString(s string) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, errors.New("cannot encode a JSON string")
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
