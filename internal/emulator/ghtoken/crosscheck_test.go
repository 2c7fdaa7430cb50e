package ghtoken_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
	// The one import of rotor's client side under internal/emulator, in a
	// test only: to cross-check the two independent implementations.
	rotortoken "github.com/rotor-ci/rotor/internal/token"
)

// publicVectors are GitHub classic tokens published as valid test vectors
// (shared/reference/github.md).
var publicVectors = []string{"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", "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"}

// agree fails t when the emulators' and rotor's implementations disagree
// on v's kind or validity. rotor trims surrounding white space (a newline
// from stdin) and GitHub does not, so only trimmed values are compared.
func agree(t *testing.T, v string) {
	t.Helper()
	if strings.TrimSpace(v) != v {
		return
	}
	ek, eerr := ghtoken.Check(v)
	_, rk, rerr := rotortoken.Parse(v)
	if (eerr == nil) != (rerr == nil) {
		t.Fatalf("%q: emulator says %v, rotor says %v", v, eerr, rerr)
	}
	if eerr == nil && string(ek) != string(rk) {
		t.Fatalf("%q: emulator kind %q, rotor kind %q", v, ek, rk)
	}
	if ghtoken.KindOf(v) != ghtoken.Kind(rotortoken.KindOf(v)) {
		t.Fatalf("%q: KindOf differs: %q vs %q", v, ghtoken.KindOf(v), rotortoken.KindOf(v))
	}
	if ghtoken.Fingerprint(v) != rotortoken.Fingerprint(v) {
		t.Fatalf("%q: fingerprints differ", v)
	}
}

func TestCheck_PublicVectors(t *testing.T) {
	for _, v := range publicVectors {
		k, err := ghtoken.Check(v)
		if err != nil || k != ghtoken.KindClassicPAT {
			t.Errorf("Check(public vector) = %q, %v; want ghp, nil", k, err)
		}
		if got := ghtoken.Checksum(v[4:34]); got != v[34:] {
			t.Errorf("Checksum(%s) = %s, want %s", v[4:34], got, v[34:])
		}
		agree(t, v)
	}
}

func TestCheck(t *testing.T) {
	good := publicVectors[0]
	for _, tt := range []struct {
		name string
		in   string
		kind ghtoken.Kind
		err  error
	}{
		{"classic", good, ghtoken.KindClassicPAT, nil},
		{"one character changed", good[:10] + "X" + good[11:], ghtoken.KindClassicPAT, ghtoken.ErrChecksum},
		{"checksum changed", good[:39] + "8", ghtoken.KindClassicPAT, ghtoken.ErrChecksum},
		{"short", good[:39], ghtoken.KindClassicPAT, ghtoken.ErrShape},
		{"newline", good + "\n", ghtoken.KindClassicPAT, ghtoken.ErrShape},
		{"unknown", "xoxb-1", ghtoken.KindUnknown, ghtoken.ErrUnknownKind},
		{"fine-grained", "github_pat_" + strings.Repeat("A", 22) + "_" + strings.Repeat("b", 59), ghtoken.KindFineGrained, nil},
		{"fine-grained no separator", "github_pat_" + strings.Repeat("A", 82), ghtoken.KindFineGrained, ghtoken.ErrShape},
		{"installation", "ghs_" + strings.Repeat("a", 36), ghtoken.KindInstallation, nil},
		{"installation stateless", "ghs_" + strings.Repeat("a", 100) + "." + strings.Repeat("b", 300) + "." + strings.Repeat("c", 100), ghtoken.KindInstallation, nil},
		{"installation too long", "ghs_" + strings.Repeat("a", 1100), ghtoken.KindInstallation, ghtoken.ErrShape},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ghtoken.Check(tt.in)
			if k != tt.kind || err != tt.err {
				t.Fatalf("Check = %q, %v; want %q, %v", k, err, tt.kind, tt.err)
			}
			agree(t, tt.in)
		})
	}
}

// TestGenerate_CrossCheck: every value either side generates, the other
// accepts as the same kind.
func TestGenerate_CrossCheck(t *testing.T) {
	kinds := []ghtoken.Kind{ghtoken.KindClassicPAT, ghtoken.KindFineGrained, ghtoken.KindOAuth, ghtoken.KindAppUser, ghtoken.KindAppRefresh, ghtoken.KindInstallation}
	for _, k := range kinds {
		for range 200 {
			v := ghtoken.Generate(k).Reveal()
			if got, err := ghtoken.Check(v); err != nil || got != k {
				t.Fatalf("emulator's Generate(%s) does not check: %v", k, err)
			}
			if _, got, err := rotortoken.Parse(v); err != nil || string(got) != string(k) {
				t.Fatalf("rotor rejects the emulator's %s: %v", k, err)
			}
			r := rotortoken.Generate(rotortoken.Kind(k)).Reveal()
			if got, err := ghtoken.Check(r); err != nil || got != k {
				t.Fatalf("the emulator rejects rotor's %s: %v", k, err)
			}
		}
	}
}

// TestCheck_CrossCheckCorpus mutates valid values (one character changed,
// dropped, added, swapped) and draws random strings near the formats; the
// two implementations must agree on every one.
func TestCheck_CrossCheckCorpus(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.-! "
	seeds := append([]string{}, publicVectors...)
	for _, k := range []ghtoken.Kind{ghtoken.KindClassicPAT, ghtoken.KindFineGrained, ghtoken.KindOAuth, ghtoken.KindInstallation, ghtoken.KindAppRefresh} {
		seeds = append(seeds, ghtoken.Generate(k).Reveal())
	}
	n := 0
	for _, s := range seeds {
		for range 5000 {
			b := []byte(s)
			switch i := rng.IntN(len(b)); rng.IntN(4) {
			case 0:
				b[i] = chars[rng.IntN(len(chars))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = append(b[:i], append([]byte{chars[rng.IntN(len(chars))]}, b[i:]...)...)
			case 3:
				j := rng.IntN(len(b))
				b[i], b[j] = b[j], b[i]
			}
			agree(t, string(b))
			n++
		}
	}
	for range 20000 {
		prefix := []string{"ghp_", "gho_", "ghs_", "github_pat_", "ghx_", ""}[rng.IntN(6)]
		b := make([]byte, rng.IntN(120))
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		agree(t, prefix+string(b))
		n++
	}
	t.Logf("%d values cross-checked", n)
}

// FuzzCheck_CrossCheck: go test -fuzz FuzzCheck_CrossCheck ./internal/emulator/ghtoken
func FuzzCheck_CrossCheck(f *testing.F) {
	for _, v := range publicVectors {
		f.Add(v)
	}
	f.Add("github_pat_" + strings.Repeat("A", 22) + "_" + strings.Repeat("b", 59))
	f.Add("ghs_" + strings.Repeat("a", 36))
	f.Fuzz(func(t *testing.T, v string) { agree(t, v) })
}

func TestToken_Redacts(t *testing.T) {
	tok := ghtoken.Generate(ghtoken.KindClassicPAT)
	for _, out := range []string{tok.String(), tok.GoString(), string(must(tok.MarshalJSON())), string(must(tok.MarshalText())), tok.LogValue().String()} {
		if strings.Contains(out, tok.Reveal()[4:]) {
			t.Fatalf("%q shows the value", out)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
