package actionssecret

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rotor-ci/rotor/internal/github"
	"github.com/rotor-ci/rotor/internal/rotation"
	"github.com/rotor-ci/rotor/internal/token"
)

// Discover finds the configured secrets: the named ones (each must exist,
// unless create is set) and, with match, the secret in every repository of
// the owner that the target's token can see. Read-only.
func (t *Target) Discover(ctx context.Context) ([]rotation.Binding, error) {
	auth, err := t.auth(ctx)
	if err != nil {
		return nil, err
	}
	var out []rotation.Binding
	var errs []error
	seen := map[string]bool{}
	add := func(b rotation.Binding) {
		if !seen[b.ID] {
			seen[b.ID] = true
			out = append(out, b)
		}
	}
	for _, r := range t.c.Repositories {
		owner, name, _ := splitRepo(r)
		b, err := t.named(ctx, auth, t.place(owner, name), t.c.Create)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(b)
	}
	if t.c.Organization != "" {
		p := github.SecretPlace{Service: t.service(), Level: github.LevelOrg, Owner: t.c.Organization, Name: t.c.Name}
		// An organisation secret is not created: its visibility is a
		// decision rotor does not make.
		b, err := t.named(ctx, auth, p, false)
		if err != nil {
			errs = append(errs, err)
		} else {
			add(b)
		}
	}
	if t.c.Match != nil {
		bs, err := t.matched(ctx, auth)
		if err != nil {
			errs = append(errs, err)
		}
		for _, b := range bs {
			add(b)
		}
	}
	return out, errors.Join(errs...)
}

func (t *Target) place(owner, repo string) github.SecretPlace {
	p := github.SecretPlace{Service: t.service(), Level: github.LevelRepo, Owner: owner, Repo: repo, Name: t.c.Name}
	if t.c.Environment != "" {
		p.Level, p.Environment = github.LevelEnvironment, t.c.Environment
	}
	return p
}

// named finds one configured secret.
func (t *Target) named(ctx context.Context, auth token.Token, p github.SecretPlace, create bool) (rotation.Binding, error) {
	info, err := t.c.GitHub.Secret(ctx, auth, p)
	switch {
	case err == nil:
		return t.binding(p, info, true), nil
	case errors.Is(err, github.ErrNotFound) && create:
		return t.binding(p, github.SecretInfo{}, false), nil
	case errors.Is(err, github.ErrNotFound):
		return rotation.Binding{}, fmt.Errorf("%s: %w (or the target's token cannot see it): create it first, or set create: true", t.BindingID(p), ErrSecretNotFound)
	}
	return rotation.Binding{}, fmt.Errorf("%s: %w", t.BindingID(p), err)
}

// matched looks for the secret in every repository of the match's owner
// that the target's token can see. A repository whose secrets the token
// may not read is named in a warning, not skipped in silence: it may hold
// the secret too.
func (t *Target) matched(ctx context.Context, auth token.Token) ([]rotation.Binding, error) {
	m := t.c.Match
	repos, err := t.c.GitHub.OwnerRepositories(ctx, auth, m.Owner)
	if err != nil {
		return nil, err
	}
	var out []rotation.Binding
	var unreadable []string
	for _, name := range repos {
		if m.Repo != "" && !strings.EqualFold(m.Repo, name) {
			continue
		}
		p := t.place(m.Owner, name)
		info, err := t.c.GitHub.Secret(ctx, auth, p)
		switch {
		case err == nil:
			out = append(out, t.binding(p, info, true))
		case errors.Is(err, github.ErrNotFound):
			// No such secret there (or, on GitHub, no right to see it,
			// which GitHub does not tell apart).
		case errors.Is(err, github.ErrNoPermission):
			unreadable = append(unreadable, m.Owner+"/"+name)
		default:
			return nil, fmt.Errorf("match %s: %w", m.Owner, err)
		}
	}
	if len(out) == 0 {
		var also string
		if len(unreadable) > 0 {
			also = fmt.Sprintf("; it may not read the secrets of %s", strings.Join(unreadable, ", "))
		}
		return nil, fmt.Errorf("match %s: %w: none of the %d repositories the target's token can see has %s%s", m.Owner, ErrNoSecret, len(repos), t.place(m.Owner, "*"), also)
	}
	if len(unreadable) > 0 {
		w := fmt.Sprintf("the target's token may not read the secrets of %s: they may hold %s too", strings.Join(unreadable, ", "), t.c.Name)
		for i := range out {
			out[i].Warnings = append(out[i].Warnings, w)
		}
	}
	return out, nil
}
