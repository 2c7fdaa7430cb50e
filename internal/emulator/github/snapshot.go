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
// Version 2 added organisations, environments, fine-grained tokens'
// resource owners and grants, secrets, workflows and runs, app client
// secrets, user tokens and device codes; Restore reads version 1 too.
const snapshotVersion = 2

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
	Orgs               []org          `json:"orgs,omitempty"`
	Secrets            []secretStore  `json:"secrets,omitempty"`
	Workflows          []workflow     `json:"workflows,omitempty"`
	Runs               []run          `json:"runs,omitempty"`
	UserTokens         []userToken    `json:"user_tokens,omitempty"`
	DeviceCodes        []deviceCode   `json:"device_codes,omitempty"`
}

// Snapshot returns the full state as JSON (see snapshot). Rate-limit
// windows are not saved: a restart gives every token a fresh hour.
func (s *Server) Snapshot() ([]byte, error) {
	s.lockAdvance()
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
	for _, o := range s.st.orgs {
		snap.Orgs = append(snap.Orgs, *o)
	}
	for _, wf := range s.st.workflows {
		snap.Workflows = append(snap.Workflows, *wf)
	}
	for _, rn := range s.st.runs {
		snap.Runs = append(snap.Runs, *rn)
	}
	for _, t := range s.st.userTokens {
		snap.UserTokens = append(snap.UserTokens, *t)
	}
	for _, dc := range s.st.devices {
		snap.DeviceCodes = append(snap.DeviceCodes, *dc)
	}
	for _, ss := range s.st.secrets {
		c := *ss
		c.Secrets = map[string]*secret{}
		for n, sec := range ss.Secrets {
			sc := *sec
			c.Secrets[n] = &sc
		}
		snap.Secrets = append(snap.Secrets, c)
	}
	s.mu.Unlock()
	// Sorted, so that equal states give equal files.
	slices.SortFunc(snap.Users, func(a, b user) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Repos, func(a, b repo) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Tokens, func(a, b pat) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Apps, func(a, b app) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Installations, func(a, b installation) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.UserTokens, func(a, b userToken) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Access, b.Access))
	})
	slices.SortFunc(snap.DeviceCodes, func(a, b deviceCode) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.DeviceCode, b.DeviceCode))
	})
	slices.SortFunc(snap.Workflows, func(a, b workflow) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Runs, func(a, b run) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Orgs, func(a, b org) int { return cmp.Compare(key(a.Login), key(b.Login)) })
	slices.SortFunc(snap.Secrets, func(a, b secretStore) int { return cmp.Compare(a.Scope.key(), b.Scope.key()) })
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
	if snap.Version != snapshotVersion && snap.Version != 1 {
		return fmt.Errorf("github emulator restore: %w: snapshot version %d, want %d", ErrInvalid, snap.Version, snapshotVersion)
	}
	st := newState()
	st.next = snap.Next
	for _, u := range snap.Users {
		st.users[key(u.Login)] = &u
	}
	for _, o := range snap.Orgs {
		if u := st.user(o.Login); u == nil || !u.isOrg() || len(o.Owners) == 0 {
			return fmt.Errorf("github emulator restore: %w: organisation %s", ErrInvalid, o.Login)
		}
		st.orgs[key(o.Login)] = &o
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
	for _, wf := range snap.Workflows {
		if rp := st.repo(wf.Owner, wf.Repo); rp == nil || !slices.Contains(rp.Workflows, wf.ID) {
			return fmt.Errorf("github emulator restore: %w: workflow %d of no repository", ErrInvalid, wf.ID)
		}
		st.workflows[wf.ID] = &wf
	}
	for _, rn := range snap.Runs {
		if st.workflows[rn.WorkflowID] == nil {
			return fmt.Errorf("github emulator restore: %w: run %d of unknown workflow %d", ErrInvalid, rn.ID, rn.WorkflowID)
		}
		st.runs[rn.ID] = &rn
	}
	for _, t := range snap.UserTokens {
		if st.apps[t.AppID] == nil || st.user(t.User) == nil || t.Access == "" || t.Refresh == "" {
			return fmt.Errorf("github emulator restore: %w: user token of unknown app %d or user %q", ErrInvalid, t.AppID, t.User)
		}
		st.userTokens[t.Access] = &t
		st.userRefresh[t.Refresh] = &t
	}
	for _, dc := range snap.DeviceCodes {
		if st.apps[dc.AppID] == nil {
			return fmt.Errorf("github emulator restore: %w: device code of unknown app %d", ErrInvalid, dc.AppID)
		}
		st.devices[dc.DeviceCode] = &dc
	}
	for _, ss := range snap.Secrets {
		if len(ss.Public) != 32 || len(ss.Private) != 32 || ss.KeyID == "" {
			return fmt.Errorf("github emulator restore: %w: %s have no usable key", ErrInvalid, ss.Scope)
		}
		if ss.Secrets == nil {
			ss.Secrets = map[string]*secret{}
		}
		st.secrets[ss.Scope.key()] = &ss
	}
	s.mu.Lock()
	s.st = st
	s.rate = map[string]*window{}
	s.mu.Unlock()
	return nil
}
