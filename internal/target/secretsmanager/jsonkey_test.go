package secretsmanager

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/target/awsone"
	"github.com/rotor-ci/rotor/internal/token"
)

func TestSetKey(t *testing.T) {
	tests := []struct {
		name, doc, want string
		err             error
	}{
		{"replace keeps order and bytes", `{"a":1,"token":"old","b":{"y": 2,"x":1}}`, `{"a":1,"token":"NEW","b":{"y": 2,"x":1}}`, nil},
		{"append when absent", `{"a":"x"}`, `{"a":"x","token":"NEW"}`, nil},
		{"empty document", ``, `{"token":"NEW"}`, nil},
		{"empty object", ` {} `, `{"token":"NEW"}`, nil},
		{"numbers kept exactly", `{"n":1.500000000000000000001,"token":null}`, `{"n":1.500000000000000000001,"token":"NEW"}`, nil},
		{"duplicate keys all replaced", `{"token":"a","token":"b"}`, `{"token":"NEW","token":"NEW"}`, nil},
		{"escapes kept", `{"k\"ey":"v\u00e9<"}`, `{"k\"ey":"v\u00e9<","token":"NEW"}`, nil},
		{"not json", `ghp_secretvalue`, ``, ErrNotJSONObject},
		{"array", `["a"]`, ``, ErrNotJSONObject},
		{"trailing data", `{"a":1} {"b":2}`, ``, ErrNotJSONObject},
		{"truncated", `{"a":`, ``, ErrNotJSONObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := setKey(tt.doc, "token", "NEW")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secretvalue") {
				t.Errorf("error %q quotes the document", err)
			}
		})
	}
}

func TestGetKey(t *testing.T) {
	tests := []struct {
		name, doc, want string
		err             error
	}{
		{"string", `{"token":"abc","x":1}`, "abc", nil},
		{"last duplicate wins", `{"token":"a","token":"b"}`, "b", nil},
		{"absent", `{"x":1}`, "", errNoKey},
		{"not a string", `{"token":12}`, "", ErrNotJSONObject},
		{"not an object", `"abc"`, "", ErrNotJSONObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := getKey(tt.doc, "token")
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("getKey = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestSameExcept(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{"token":"a","u":1}`, `{"u":1.0,"token":"b"}`, false}, // 1 and 1.0 differ as json.Number
		{`{"token":"a","u":1}`, `{"u":1,"token":"b"}`, true},
		{`{"token":"a","u":{"x":[1,2]}}`, `{"u":{"x":[1,2]}}`, true},
		{`{"token":"a","u":"x"}`, `{"token":"a","u":"y"}`, false},
		{`not json`, `{}`, false},
	}
	for _, tt := range tests {
		if got := sameExcept(tt.a, tt.b, "token"); got != tt.want {
			t.Errorf("sameExcept(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestVersionID(t *testing.T) {
	a, b := token.Generate(token.KindClassicPAT), token.Generate(token.KindClassicPAT)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	id := versionID("s", "", a, "")
	if !uuid.MatchString(id) {
		t.Errorf("version id %q is not a version-5-layout UUID", id)
	}
	if versionID("s", "", token.New(a.Reveal()), "") != id {
		t.Error("version id is not deterministic")
	}
	for name, other := range map[string]string{
		"another token":  versionID("s", "", b, ""),
		"another secret": versionID("t", "", a, ""),
		"another key":    versionID("s", "k", a, ""),
		"a salt":         versionID("s", "", a, "after:x"),
	} {
		if other == id {
			t.Errorf("%s gives the same version id", name)
		}
	}
}

func TestSameKMSKey(t *testing.T) {
	const keyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		want, have string
		same       bool
	}{
		{"alias/rotor", "alias/rotor", true},
		{"alias/rotor", "arn:aws:kms:us-east-1:123456789012:alias/rotor", true},
		{"arn:aws:kms:us-east-1:123456789012:alias/rotor", "alias/rotor", true},
		{keyID, "arn:aws:kms:us-east-1:123456789012:key/" + keyID, true},
		{"arn:aws:kms:us-east-1:123456789012:key/" + keyID, keyID, true},
		{"alias/aws/secretsmanager", "", true},
		{"alias/rotor", "", false},
		{"alias/rotor", keyID, false},
		{"alias/rotor", "arn:aws:kms:us-east-1:123456789012:alias/other-rotor", false},
	}
	for _, tt := range tests {
		if got := awsone.SameKMSKey(tt.want, tt.have, defaultKey); got != tt.same {
			t.Errorf("sameKMSKey(%q, %q) = %v, want %v", tt.want, tt.have, got, tt.same)
		}
	}
}
