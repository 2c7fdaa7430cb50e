package secretsmanager

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotor-ci/rotor/internal/awsx"
	"github.com/rotor-ci/rotor/internal/token"
)

// Secrets Manager's staging labels.
const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// maxSearch bounds how many old versions Rollback reads looking for the
// previous token; Secrets Manager keeps about a hundred.
const maxSearch = 30

// errNoVersion: GetSecretValue found no such version or label.
var errNoVersion = errors.New("no such secret version")

// versionID is the ClientRequestToken (and so the version id) rotor uses
// for tok in this secret: a UUID (version 5 layout) from the secret id, the
// JSON key and tok's fingerprint. The fingerprint is already public (rotor
// shows it everywhere), so the id tells nobody more about the token.
//
// salt is empty but for a rollback that must write the previous token into
// a document that changed since (see rollback).
func versionID(secretID, jsonKey string, tok token.Token, salt string) string {
	h := sha256.Sum256([]byte("rotor/secretsmanager/v1\x00" + secretID + "\x00" + jsonKey + "\x00" + tok.Fingerprint() + "\x00" + salt))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (t *Target) describe(ctx context.Context) (*sm.DescribeSecretOutput, error) {
	d, err := t.api.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(t.c.SecretID)})
	if awsx.IsCode(err, "ResourceNotFoundException") {
		return nil, fmt.Errorf("%w: rotor does not create secrets; create it (with the KMS key you want) first", ErrSecretNotFound)
	}
	if err != nil {
		return nil, awsx.Sanitize(err)
	}
	if d.DeletedDate != nil {
		return nil, fmt.Errorf("%w: it is scheduled for deletion; restore it first", ErrSecretNotFound)
	}
	return d, nil
}

// current is the id of the version labelled AWSCURRENT, or "".
func current(d *sm.DescribeSecretOutput) string { return withLabel(d, stageCurrent) }

func withLabel(d *sm.DescribeSecretOutput, label string) string {
	for id, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, label) {
			return id
		}
	}
	return ""
}

// secretValue is one version as rotor sees it: doc is the whole
// SecretString, value the token part of it (doc, or the JSON key's value).
type secretValue struct {
	versionID string
	doc       string
	value     string
}

func (t *Target) readCurrent(ctx context.Context) (secretValue, error) {
	return t.read(ctx, &sm.GetSecretValueInput{SecretId: aws.String(t.c.SecretID), VersionStage: aws.String(stageCurrent)})
}

func (t *Target) readVersion(ctx context.Context, id string) (secretValue, error) {
	return t.read(ctx, &sm.GetSecretValueInput{SecretId: aws.String(t.c.SecretID), VersionId: aws.String(id)})
}

// read returns the version with the doc set even when the JSON key is
// absent (errNoKey), so that Apply can add it.
func (t *Target) read(ctx context.Context, in *sm.GetSecretValueInput) (secretValue, error) {
	out, err := t.api.GetSecretValue(ctx, in)
	if awsx.IsCode(err, "ResourceNotFoundException") {
		return secretValue{}, errNoVersion
	}
	if err != nil {
		return secretValue{}, awsx.Sanitize(err)
	}
	v := secretValue{versionID: aws.ToString(out.VersionId)}
	if out.SecretString == nil {
		if out.SecretBinary != nil {
			return v, fmt.Errorf("version %s: %w; rotor writes SecretString", v.versionID, ErrBinary)
		}
		return v, nil
	}
	v.doc = *out.SecretString
	if t.c.JSONKey == "" {
		v.value = v.doc
		return v, nil
	}
	v.value, err = getKey(v.doc, t.c.JSONKey)
	if err != nil {
		return v, fmt.Errorf("version %s: %w", v.versionID, err)
	}
	return v, nil
}

func (t *Target) apply(ctx context.Context, tok token.Token) error {
	return t.applyVersion(ctx, tok, versionID(t.c.SecretID, t.c.JSONKey, tok, ""))
}

// applyVersion writes tok as version vid (unless it exists) and makes it
// AWSCURRENT.
func (t *Target) applyVersion(ctx context.Context, tok token.Token, vid string) error {
	d, err := t.describe(ctx)
	if err != nil {
		return err
	}
	cur := current(d)
	pending := slices.Contains(d.VersionIdsToStages[vid], stagePending)
	if cur != vid {
		put, err := t.stage(ctx, tok, vid, cur)
		if err != nil {
			return err
		}
		pending = pending || put
		if cur == "" {
			// The first version of a secret gets AWSCURRENT with whatever
			// labels it was put with.
			if d, err = t.describe(ctx); err != nil {
				return err
			}
			cur = current(d)
		}
	}
	if cur != vid {
		in := &sm.UpdateSecretVersionStageInput{
			SecretId: aws.String(t.c.SecretID), VersionStage: aws.String(stageCurrent), MoveToVersionId: aws.String(vid),
		}
		if cur != "" {
			in.RemoveFromVersionId = aws.String(cur)
		}
		if _, err := t.api.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("move AWSCURRENT to version %s: %w", vid, awsx.Sanitize(err, tok))
		}
		t.Log.InfoContext(ctx, "secret version is AWSCURRENT", "version", vid, "previous", cur, "fingerprint", tok.Fingerprint())
	}
	if pending {
		// A managed rotation leaves no AWSPENDING behind; a stale one makes
		// the next managed rotation fail.
		if _, err := t.api.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{
			SecretId: aws.String(t.c.SecretID), VersionStage: aws.String(stagePending), RemoveFromVersionId: aws.String(vid),
		}); err != nil {
			return fmt.Errorf("remove AWSPENDING from version %s: %w", vid, awsx.Sanitize(err, tok))
		}
	}
	return nil
}

// stage makes sure version vid exists and holds tok, writing it (staged
// AWSPENDING) if it does not. put reports whether it wrote it.
func (t *Target) stage(ctx context.Context, tok token.Token, vid, cur string) (put bool, err error) {
	v, err := t.readVersion(ctx, vid)
	switch {
	case err == nil && token.Fingerprint(v.value) == tok.Fingerprint():
		return false, nil // written by an earlier attempt
	case err == nil:
		return false, fmt.Errorf("version %s exists and holds %s, not %s: leave it to a person", vid, token.Fingerprint(v.value), tok.Fingerprint())
	case !errors.Is(err, errNoVersion):
		return false, err
	}
	value := tok.Reveal()
	if t.c.JSONKey != "" {
		doc := ""
		if cur != "" {
			cv, err := t.readVersion(ctx, cur)
			if err != nil && !errors.Is(err, errNoKey) {
				return false, err
			}
			doc = cv.doc
		}
		if value, err = setKey(doc, t.c.JSONKey, value); err != nil {
			return false, err
		}
	}
	_, err = t.api.PutSecretValue(ctx, &sm.PutSecretValueInput{
		SecretId:           aws.String(t.c.SecretID),
		ClientRequestToken: aws.String(vid),
		SecretString:       aws.String(value),
		VersionStages:      []string{stagePending},
	})
	// ResourceExistsException: the same token raced us with other JSON
	// members; the version holds our token either way.
	if err != nil && !awsx.IsCode(err, "ResourceExistsException") {
		return false, fmt.Errorf("put version %s: %w", vid, awsx.Sanitize(err, tok))
	}
	t.Log.InfoContext(ctx, "secret version staged", "version", vid, "stage", stagePending, "fingerprint", tok.Fingerprint())
	return true, nil
}

func (t *Target) rollback(ctx context.Context, prev token.Token) error {
	d, err := t.describe(ctx)
	if err != nil {
		return err
	}
	cur := current(d)
	var cv secretValue
	if cur != "" {
		cv, err = t.readVersion(ctx, cur)
		if err == nil && token.Fingerprint(cv.value) == prev.Fingerprint() {
			return t.clearPending(ctx, prev)
		}
		if err != nil && !errors.Is(err, errNoKey) && !errors.Is(err, ErrNotJSONObject) {
			return err
		}
	}
	ids, err := t.candidates(ctx, cur)
	if err != nil {
		return err
	}
	vid := versionID(t.c.SecretID, t.c.JSONKey, prev, "")
	for _, id := range ids {
		v, err := t.readVersion(ctx, id)
		if errors.Is(err, errNoVersion) || errors.Is(err, errNoKey) || errors.Is(err, ErrNotJSONObject) || errors.Is(err, ErrBinary) {
			continue
		}
		if err != nil {
			return err
		}
		if token.Fingerprint(v.value) != prev.Fingerprint() {
			continue
		}
		if t.c.JSONKey != "" && cur != "" && !sameExcept(v.doc, cv.doc, t.c.JSONKey) {
			// Someone changed the other keys since: moving back would undo
			// their change. Write prev into today's document instead, as a
			// version of its own (the one for prev may be that old one).
			vid = versionID(t.c.SecretID, t.c.JSONKey, prev, "after:"+cur)
			break
		}
		in := &sm.UpdateSecretVersionStageInput{
			SecretId: aws.String(t.c.SecretID), VersionStage: aws.String(stageCurrent), MoveToVersionId: aws.String(id),
		}
		if cur != "" {
			in.RemoveFromVersionId = aws.String(cur)
		}
		if _, err := t.api.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("move AWSCURRENT back to version %s: %w", id, awsx.Sanitize(err, prev))
		}
		t.Log.InfoContext(ctx, "secret rolled back: AWSCURRENT moved back", "version", id, "from", cur, "fingerprint", prev.Fingerprint())
		return t.clearPending(ctx, prev)
	}
	t.Log.InfoContext(ctx, "secret rollback: no version to move back to; writing the previous token again", "version", vid, "fingerprint", prev.Fingerprint())
	if err := t.applyVersion(ctx, prev, vid); err != nil {
		return err
	}
	return t.clearPending(ctx, prev)
}

// candidates lists the secret's versions other than cur, most likely to
// hold the previous token first: AWSPREVIOUS, then newest to oldest.
func (t *Target) candidates(ctx context.Context, cur string) ([]string, error) {
	var all []types.SecretVersionsListEntry
	p := sm.NewListSecretVersionIdsPaginator(t.api, &sm.ListSecretVersionIdsInput{SecretId: aws.String(t.c.SecretID), IncludeDeprecated: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions: %w", awsx.Sanitize(err))
		}
		all = append(all, out.Versions...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		pi, pj := slices.Contains(all[i].VersionStages, stagePrevious), slices.Contains(all[j].VersionStages, stagePrevious)
		if pi != pj {
			return pi
		}
		return aws.ToTime(all[i].CreatedDate).After(aws.ToTime(all[j].CreatedDate))
	})
	var ids []string
	for _, v := range all {
		if id := aws.ToString(v.VersionId); id != cur && len(ids) < maxSearch {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// clearPending removes an AWSPENDING that a failed apply left behind,
// unless the secret has a managed rotation of its own, which owns that
// label.
func (t *Target) clearPending(ctx context.Context, tok token.Token) error {
	d, err := t.describe(ctx)
	if err != nil {
		return err
	}
	p := withLabel(d, stagePending)
	if p == "" || aws.ToBool(d.RotationEnabled) {
		return nil
	}
	_, err = t.api.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{
		SecretId: aws.String(t.c.SecretID), VersionStage: aws.String(stagePending), RemoveFromVersionId: aws.String(p),
	})
	if err != nil {
		return fmt.Errorf("remove AWSPENDING from version %s: %w", p, awsx.Sanitize(err, tok))
	}
	return nil
}
