package github

import (
	"cmp"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
)

// snapshotVersion changes when the snapshot's shape does.
const snapshotVersion = 1

// snapshot is the whole emulated GitHub database, token values and app
// private keys included: the --state file is that database, so it must be
// kept like one (0600, never committed).
type snapshot struct {
	Version            int            `json:"version"`
	Next               ids            `json:"next_ids"`
	Users              []user         `json:"users"`
	Repos              []repo         `json:"repos"`
	Tokens             []pat          `json:"tokens"`
	Apps               []app          `json:"apps"`
	Installations      []installation `json:"installations"`
	InstallationTokens []instToken    `json:"installation_tokens"`
}

// Snapshot returns the full state as JSON (see snapshot). Rate-limit
// windows are not saved: a restart gives every token a fresh hour.
func (s *Server) Snapshot() ([]byte, error) {
	s.mu.Lock()
	now := s.now()
	snap := snapshot{Version: snapshotVersion, Next: s.st.next}
	for _, u := range s.st.users {
		snap.Users = append(snap.Users, *u)
	}
	for _, r := range s.st.repos {
		snap.Repos = append(snap.Repos, *r)
	}
	for _, p := range s.st.pats {
		snap.Tokens = append(snap.Tokens, *p)
	}
	for _, a := range s.st.apps {
		snap.Apps = append(snap.Apps, *a)
	}
	for _, in := range s.st.insts {
		snap.Installations = append(snap.Installations, *in)
	}
	for _, t := range s.st.instTokens {
		if t.live(now) {
			snap.InstallationTokens = append(snap.InstallationTokens, *t)
		}
	}
	s.mu.Unlock()
	// Sorted, so that equal states give equal files.
	slices.SortFunc(snap.Users, func(a, b user) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Repos, func(a, b repo) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Tokens, func(a, b pat) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Apps, func(a, b app) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Installations, func(a, b installation) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.InstallationTokens, func(a, b instToken) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Value, b.Value))
	})
	b, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("github emulator snapshot: %w", err)
	}
	return b, nil
}

// Restore replaces the whole state with a Snapshot's. On error the state is
// unchanged.
func (s *Server) Restore(b []byte) error {
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("github emulator restore: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("github emulator restore: %w: snapshot version %d, want %d", ErrInvalid, snap.Version, snapshotVersion)
	}
	st := newState()
	st.next = snap.Next
	for _, u := range snap.Users {
		st.users[key(u.Login)] = &u
	}
	for _, r := range snap.Repos {
		if st.user(r.Owner) == nil || len(r.Branches) == 0 {
			return fmt.Errorf("github emulator restore: %w: repo %s/%s", ErrInvalid, r.Owner, r.Name)
		}
		st.repos[key(r.Owner, r.Name)] = &r
	}
	for _, p := range snap.Tokens {
		if st.user(p.User) == nil || p.Value == "" || st.patByValue[p.Value] != nil {
			return fmt.Errorf("github emulator restore: %w: token %d", ErrInvalid, p.ID)
		}
		st.pats[p.ID] = &p
		st.patByValue[p.Value] = &p
	}
	for _, a := range snap.Apps {
		block, _ := pem.Decode([]byte(a.KeyPEM))
		if block == nil {
			return fmt.Errorf("github emulator restore: %w: app %d has no private key", ErrInvalid, a.ID)
		}
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("github emulator restore: app %d key: %w", a.ID, err)
		}
		a.key = key
		st.apps[a.ID] = &a
	}
	for _, in := range snap.Installations {
		if st.apps[in.AppID] == nil {
			return fmt.Errorf("github emulator restore: %w: installation %d of unknown app %d", ErrInvalid, in.ID, in.AppID)
		}
		st.insts[in.ID] = &in
	}
	for _, t := range snap.InstallationTokens {
		if st.insts[t.InstallationID] == nil || t.Value == "" {
			return fmt.Errorf("github emulator restore: %w: installation token of unknown installation %d", ErrInvalid, t.InstallationID)
		}
		st.instTokens[t.Value] = &t
	}
	s.mu.Lock()
	s.st = st
	s.rate = map[string]*window{}
	s.mu.Unlock()
	return nil
}
