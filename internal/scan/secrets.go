package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/token"
)

// GitHub never answers a secret's value, so a secret cannot be matched to
// a token by fingerprint as a file can. What rotor can compare is time:
// GitHub's updated_at of each secret against the moments rotor wrote a
// version into a binding. SecretScan says so in every finding.

// SecretsAPI is what the secret scan asks GitHub (internal/github.Client).
type SecretsAPI interface {
	OwnerRepositories(ctx context.Context, auth token.Token, owner string) ([]string, error)
	Environments(ctx context.Context, auth token.Token, owner, repo string) ([]string, error)
	ListSecrets(ctx context.Context, auth token.Token, p github.SecretPlace) ([]github.SecretInfo, error)
}

// Write is one record of rotor writing a token version into a binding:
// a binding state of a run (applied, verified or rolled back).
type Write struct {
	Credential  string
	Seq         int64
	Fingerprint string
	State       string // the version's state now: current, previous, retired…
	Binding     string // the binding's ID
	At          time.Time
}

// SecretMatchWindow is how far apart GitHub's updated_at and rotor's
// record of the write may be and still be the same write: rotor records a
// binding after GitHub answered, and the two clocks differ.
const SecretMatchWindow = 2 * time.Minute

// Secret match kinds.
const (
	MatchBinding = "binding"    // a secret rotor manages, last written by rotor
	MatchChanged = "changed"    // a secret rotor manages, written after rotor's last write
	MatchTime    = "near-write" // not managed, written when rotor wrote a version elsewhere
	MatchNone    = "none"
)

// SecretFinding is one secret and what rotor can tell of it.
type SecretFinding struct {
	Secret     string    `json:"secret"` // its REST path: repos/acme/deploy/actions/secrets/GH_TOKEN
	UpdatedAt  time.Time `json:"updated_at"`
	Match      string    `json:"match"`
	Credential string    `json:"credential,omitempty"`
	Version    int64     `json:"version,omitempty"`
	// Fingerprint of the version the secret may hold; State is that
	// version's state now.
	Fingerprint string    `json:"fingerprint,omitempty"`
	State       string    `json:"state,omitempty"`
	WrittenAt   time.Time `json:"rotor_wrote_at,omitzero"`
	Binding     string    `json:"binding,omitempty"` // the binding rotor wrote then
	Advice      string    `json:"advice"`
}

// SecretReport is the result of a secret scan.
type SecretReport struct {
	Owner    string          `json:"owner"`
	Note     string          `json:"note"`
	Findings []SecretFinding `json:"secrets"`
	// Unreadable names places whose secrets the token may not list.
	Unreadable []string `json:"unreadable,omitempty"`
}

// SecretNote is the caveat every secret scan carries.
const SecretNote = "GitHub never shows a secret's value: secrets are matched to rotor's records by the time GitHub says they were written (updated_at), not by content; a match says what a secret may hold, not what it holds"

// ScanSecrets lists the Actions and Dependabot secrets of owner (the
// organisation's, and those of each repository the token can see and of
// each of its environments) and matches each against rotor's writes.
func ScanSecrets(ctx context.Context, api SecretsAPI, auth token.Token, owner string, writes []Write) (SecretReport, error) {
	r := SecretReport{Owner: owner, Note: SecretNote}
	repos, err := api.OwnerRepositories(ctx, auth, owner)
	if err != nil {
		return r, err
	}
	var places []github.SecretPlace
	for _, svc := range []string{github.SecretsActions, github.SecretsDependabot} {
		places = append(places, github.SecretPlace{Service: svc, Level: github.LevelOrg, Owner: owner})
		for _, repo := range repos {
			places = append(places, github.SecretPlace{Service: svc, Level: github.LevelRepo, Owner: owner, Repo: repo})
		}
	}
	// Environments hold Actions secrets only.
	for _, repo := range repos {
		envs, err := api.Environments(ctx, auth, owner, repo)
		switch {
		case err == nil:
		case errors.Is(err, github.ErrNotFound), errors.Is(err, github.ErrNoPermission):
			r.Unreadable = append(r.Unreadable, fmt.Sprintf("environments of %s/%s", owner, repo))
			continue
		default:
			return r, err
		}
		for _, env := range envs {
			places = append(places, github.SecretPlace{Service: github.SecretsActions, Level: github.LevelEnvironment, Owner: owner, Repo: repo, Environment: env})
		}
	}
	for _, p := range places {
		list, err := api.ListSecrets(ctx, auth, p)
		switch {
		case err == nil:
		case p.Level == github.LevelOrg && errors.Is(err, github.ErrNotFound):
			continue // a user, not an organisation
		case errors.Is(err, github.ErrNotFound), errors.Is(err, github.ErrNoPermission):
			p.Name = "*"
			r.Unreadable = append(r.Unreadable, p.String())
			continue
		default:
			return r, err
		}
		for _, s := range list {
			p.Name = s.Name
			r.Findings = append(r.Findings, matchSecret(p.Path(), s.UpdatedAt, writes))
		}
	}
	return r, nil
}

// matchSecret says what the secret at path, written at updated, may hold.
func matchSecret(path string, updated time.Time, writes []Write) SecretFinding {
	f := SecretFinding{Secret: path, UpdatedAt: updated, Match: MatchNone,
		Advice: "no write of rotor's matches its updated_at: rotor does not know what it holds"}
	own := func(w Write) bool { return strings.HasSuffix(w.Binding, "/"+path) }
	near := func(w Write) bool { return absDur(updated.Sub(w.At)) <= SecretMatchWindow }
	// A binding of rotor's: its latest write.
	var last *Write
	for i, w := range writes {
		if own(w) && (last == nil || w.At.After(last.At)) {
			last = &writes[i]
		}
	}
	if last != nil {
		f.set(*last)
		switch {
		case near(*last):
			f.Match, f.Advice = MatchBinding, fmt.Sprintf("managed by rotor: last written when rotor wrote %s v%d (%s)", last.Credential, last.Seq, last.State)
		case updated.After(last.At):
			f.Match, f.Advice = MatchChanged, fmt.Sprintf("managed by rotor (%s), but written after rotor's last write: it may hold a token rotor does not know; the next rotation overwrites it", last.Credential)
		default:
			f.Match, f.Advice = MatchChanged, fmt.Sprintf("managed by rotor (%s), but GitHub's updated_at is older than rotor's last write: check that rotor's write reached it", last.Credential)
		}
		return f
	}
	// Not rotor's: a write of rotor's elsewhere at about the same time.
	var best *Write
	for i, w := range writes {
		if near(w) && (best == nil || absDur(updated.Sub(w.At)) < absDur(updated.Sub(best.At))) {
			best = &writes[i]
		}
	}
	if best != nil {
		f.set(*best)
		f.Match = MatchTime
		f.Advice = fmt.Sprintf("not managed by rotor, but written within %s of rotor writing %s v%d (%s) to %s: it may hold that token; if so, add it to %s's targets",
			SecretMatchWindow, best.Credential, best.Seq, best.State, best.Binding, best.Credential)
	}
	return f
}

func (f *SecretFinding) set(w Write) {
	f.Credential, f.Version, f.Fingerprint, f.State, f.WrittenAt, f.Binding = w.Credential, w.Seq, w.Fingerprint, w.State, w.At, w.Binding
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// WriteSecretTable prints the report for people: the caveat first.
func WriteSecretTable(w io.Writer, r SecretReport) error {
	fmt.Fprintf(w, "Secrets of %s. %s.\n\n", r.Owner, r.Note)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECRET\tUPDATED\tMATCH\tROTOR\tADVICE")
	fs := slices.Clone(r.Findings)
	slices.SortStableFunc(fs, func(a, b SecretFinding) int { return strings.Compare(a.Secret, b.Secret) })
	for _, f := range fs {
		rotor := "-"
		if f.Credential != "" {
			rotor = fmt.Sprintf("%s v%d %s %s", f.Credential, f.Version, f.State, f.Fingerprint)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Secret, f.UpdatedAt.UTC().Format(time.RFC3339), f.Match, rotor, f.Advice)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d secrets", len(r.Findings))
	if len(r.Unreadable) > 0 {
		fmt.Fprintf(w, "; not readable with this token: %s", strings.Join(r.Unreadable, ", "))
	}
	_, err := fmt.Fprintln(w)
	return err
}
