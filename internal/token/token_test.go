package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParse_PublicVectors(t *testing.T) {
	for _, v := range []string{"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", "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"} {
		if _, k, err := Parse(v); err != nil || k != KindClassicPAT {
			t.Errorf("Parse(public vector) = %v, %v; want classic, nil", k, err)
		}
	}
}

func TestParse(t *testing.T) {
	good := "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"
	tests := []struct {
		name    string
		in      string
		kind    Kind
		wantErr error
	}{
		{"classic", good, KindClassicPAT, nil},
		{"trailing newline", good + "\n", KindClassicPAT, nil},
		{"bad checksum", good[:39] + "8", KindClassicPAT, ErrChecksum},
		{"short", good[:30], KindClassicPAT, ErrMalformed},
		{"empty", "  ", KindUnknown, ErrEmpty},
		{"unknown", "xoxb-123", KindUnknown, ErrUnknownKind},
		{"fine-grained", "github_pat_" + strings.Repeat("A", 22) + "_" + strings.Repeat("b", 59), KindFineGrained, nil},
		{"fine-grained short", "github_pat_" + strings.Repeat("A", 22) + "_" + strings.Repeat("b", 58), KindFineGrained, ErrMalformed},
		{"installation classic", "ghs_" + strings.Repeat("a", 36), KindInstallation, nil},
		{"installation stateless", "ghs_" + strings.Repeat("a", 100) + "." + strings.Repeat("b", 300) + "." + strings.Repeat("c", 100), KindInstallation, nil},
		{"installation bad char", "ghs_" + strings.Repeat("a", 36) + "!", KindInstallation, ErrMalformed},
		{"too long", "ghp_" + strings.Repeat("a", 300), KindClassicPAT, ErrMalformed},
		{"installation too long", "ghs_" + strings.Repeat("a", 1100), KindInstallation, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, k, err := Parse(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if k != tt.kind {
				t.Fatalf("kind = %q, want %q", k, tt.kind)
			}
			if err != nil && len(tt.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[4:12]) {
				t.Fatalf("error %q contains part of the value", err)
			}
		})
	}
}

func TestGenerate_ParsesBack(t *testing.T) {
	for _, k := range Kinds {
		for range 50 {
			tok := Generate(k)
			if _, got, err := Parse(tok.Reveal()); err != nil || got != k {
				t.Fatalf("Generate(%s) does not parse back: %v %v", k, got, err)
			}
		}
	}
}

func TestToken_Redacts(t *testing.T) {
	tok := Generate(KindClassicPAT)
	secret := tok.Reveal()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "tok", tok, "ptr", &tok)
	js, _ := json.Marshal(struct{ T Token }{tok})
	txt, _ := tok.MarshalText()
	outs := []string{
		fmt.Sprint(tok), fmt.Sprintf("%s %v %+v %#v %q %x %X %d %10s", tok, tok, tok, tok, tok, tok, tok, tok, tok),
		fmt.Sprintf("%v %+v", struct{ T Token }{tok}, &struct{ T Token }{tok}),
		fmt.Errorf("wrap: %w: %v", errors.New("e"), tok).Error(),
		buf.String(), string(js), string(txt),
	}
	for _, o := range outs {
		if strings.Contains(o, secret) || strings.Contains(o, secret[4:20]) {
			t.Fatalf("output leaks the token: %s", o)
		}
		if !strings.Contains(o, tok.Fingerprint()) {
			t.Fatalf("output %q lacks the fingerprint", o)
		}
	}
}

func TestFingerprint(t *testing.T) {
	// sha256("abc") = ba7816bf8f01cfea...
	if got := Fingerprint("abc"); got != "sha256:ba7816bf8f01" {
		t.Fatalf("Fingerprint(abc) = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("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")
	f.Add("github_pat_" + strings.Repeat("A", 22) + "_" + strings.Repeat("b", 59))
	f.Add("ghs_" + strings.Repeat("a", 40) + ".x.y")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		tok, k, err := Parse(in)
		if err != nil {
			if !tok.IsZero() {
				t.Fatal("error with a non-zero token")
			}
			// The kind's prefix is public, and a message names the format
			// ("github_pat_, 22 letters…"), which a value may happen to
			// contain: the value leaks when its text is in the message
			// because of the value, that is, not for another value of the
			// same kind and length that differs in every character.
			v := strings.TrimSpace(in)
			secret := strings.TrimPrefix(v, KindOf(v).Prefix())
			if len(v) >= 12 && len(secret) >= 8 && strings.Contains(err.Error(), secret) {
				other := []byte(secret)
				for i, c := range other {
					other[i] = 'A'
					if c == 'A' {
						other[i] = 'B'
					}
				}
				_, _, otherErr := Parse(strings.TrimSuffix(v, secret) + string(other))
				if otherErr == nil || !strings.Contains(otherErr.Error(), secret) {
					t.Fatal("error contains the value")
				}
			}
			return
		}
		if k == KindUnknown || KindOf(tok.Reveal()) != k {
			t.Fatalf("kind %q inconsistent", k)
		}
		if k.HasChecksum() && Checksum(tok.Reveal()[4:34]) != tok.Reveal()[34:] {
			t.Fatal("accepted a bad checksum")
		}
	})
}
