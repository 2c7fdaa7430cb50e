package awsaccounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultUser is the IAM user a declared access key belongs to when the
// world names none.
const DefaultUser = "emulator"

// Caller is who sent a request, as AWS resolves it from the credentials.
type Caller struct {
	Account     string // 12 digits
	Arn         string // arn:aws:iam::A:user/U, arn:aws:iam::A:root, arn:aws:sts::A:assumed-role/R/S
	UserID      string // GetCallerIdentity's UserId
	RoleArn     string // for a role session: the role it is a session of
	AccessKeyID string
	Region      string // from the credential scope; "" when the request has none
}

// AuthError is a request whose credentials AWS would refuse. Code is the
// error code of the common AWS errors.
type AuthError struct {
	Status        int
	Code, Message string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

// Directory holds the accounts and who their credentials are. Safe for
// concurrent use.
type Directory struct {
	defaultAccount string
	now            func() time.Time
	accounts       map[string]*account
	order          []string // account ids: the default first, then as declared
	keys           map[string]KeySpec
	keyAccount     map[string]string
	org            *organization
	listed         map[string]bool // accounts aws.accounts declares

	mu       sync.Mutex
	sessions map[string]*session // by access key id
}

type account struct {
	spec  AccountSpec
	roles map[string]*RoleSpec
}

// session is one set of temporary credentials AssumeRole issued.
type session struct {
	AccessKeyID  string    `json:"access_key_id"`
	SessionToken string    `json:"session_token"`
	Account      string    `json:"account"`
	Role         string    `json:"role"`
	RoleID       string    `json:"role_id"`
	Name         string    `json:"name"`
	Expires      time.Time `json:"expires"`
}

// NewDirectory builds the directory of a world section. defaultAccount is
// the account that requests with unknown keys belong to; clock may be nil.
func NewDirectory(w World, defaultAccount string, clock func() time.Time) (*Directory, error) {
	if clock == nil {
		clock = time.Now
	}
	return newDirectory(w, defaultAccount, clock)
}

func newDirectory(w World, defaultAccount string, clock func() time.Time) (*Directory, error) {
	if err := w.check(defaultAccount); err != nil {
		return nil, err
	}
	d := &Directory{defaultAccount: defaultAccount, now: clock, accounts: map[string]*account{},
		keys: map[string]KeySpec{}, keyAccount: map[string]string{}, sessions: map[string]*session{}, listed: map[string]bool{}}
	add := func(spec AccountSpec) {
		a := &account{spec: spec, roles: map[string]*RoleSpec{}}
		for i := range spec.Roles {
			a.roles[spec.Roles[i].Name] = &spec.Roles[i]
		}
		for _, k := range spec.AccessKeys {
			d.keys[k.ID], d.keyAccount[k.ID] = k, spec.ID
		}
		if _, ok := d.accounts[spec.ID]; !ok {
			d.order = append(d.order, spec.ID)
		}
		d.accounts[spec.ID] = a
	}
	add(AccountSpec{ID: defaultAccount})
	for _, a := range w.Accounts {
		add(a)
		d.listed[a.ID] = true
	}
	if w.Organization != nil {
		d.org = newOrganization(*w.Organization, d, clock())
	}
	return d, nil
}

// DefaultAccount is the account of requests signed with an unknown key.
func (d *Directory) DefaultAccount() string { return d.defaultAccount }

// Accounts lists the account ids, the default one first.
func (d *Directory) Accounts() []string { return slices.Clone(d.order) }

// HasAccount reports whether the world knows the account.
func (d *Directory) HasAccount(id string) bool { _, ok := d.accounts[id]; return ok }

// Resolve says who sent r: the account from the access key id of its
// SigV4 credential scope, the region from the same scope. A request with no
// credential scope is the default account's, region "" (the emulators
// refuse requests with no Authorization header themselves). A key that
// AssumeRole issued and that has expired, or whose session token does not
// match, is refused as AWS refuses it.
func (d *Directory) Resolve(r *http.Request) (Caller, *AuthError) {
	cred, ok := ParseCredential(r)
	if !ok {
		return d.rootOf(d.defaultAccount, "", ""), nil
	}
	if strings.HasPrefix(cred.AccessKeyID, sessionKeyPrefix) {
		d.mu.Lock()
		s := d.sessions[cred.AccessKeyID]
		d.mu.Unlock()
		if s != nil {
			tok := r.Header.Get("X-Amz-Security-Token")
			if tok == "" {
				tok = r.URL.Query().Get("X-Amz-Security-Token")
			}
			switch {
			case tok != s.SessionToken:
				return Caller{}, &AuthError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
			case !d.now().Before(s.Expires):
				return Caller{}, &AuthError{Status: http.StatusBadRequest, Code: "ExpiredTokenException", Message: "The security token included in the request is expired"}
			}
			return Caller{
				Account: s.Account, AccessKeyID: s.AccessKeyID, Region: cred.Region,
				Arn:    "arn:aws:sts::" + s.Account + ":assumed-role/" + s.Role + "/" + s.Name,
				UserID: s.RoleID + ":" + s.Name, RoleArn: roleArn(s.Account, s.Role),
			}, nil
		}
	}
	if acct, ok := d.keyAccount[cred.AccessKeyID]; ok {
		user := d.keys[cred.AccessKeyID].User
		if user == "" {
			user = DefaultUser
		}
		return Caller{Account: acct, AccessKeyID: cred.AccessKeyID, Region: cred.Region,
			Arn: "arn:aws:iam::" + acct + ":user/" + user, UserID: principalID("AIDA", acct+"/"+user)}, nil
	}
	return d.rootOf(d.defaultAccount, cred.AccessKeyID, cred.Region), nil
}

func (d *Directory) rootOf(acct, key, region string) Caller {
	return Caller{Account: acct, Arn: "arn:aws:iam::" + acct + ":root", UserID: acct, AccessKeyID: key, Region: region}
}

func roleArn(acct, role string) string { return "arn:aws:iam::" + acct + ":role/" + role }

// role finds a role by ARN ("arn:aws:iam::A:role/NAME", any path), or nil.
func (d *Directory) role(arn string) (string, *RoleSpec) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok {
		return "", nil
	}
	acct, res, ok := strings.Cut(rest, ":")
	if !ok {
		return "", nil
	}
	name, ok := strings.CutPrefix(res, "role/")
	if !ok {
		return "", nil
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 { // a role path
		name = name[i+1:]
	}
	a := d.accounts[acct]
	if a == nil {
		return acct, nil
	}
	return acct, a.roles[name]
}

// Allowed reports whether the role may perform action on resource by its
// permission policies. A role the world does not declare is taken to hold
// the policy AWS's console gives a CodePipeline service role, which allows
// everything a pipeline does, connections included; a declared role is
// allowed exactly what its policies allow (no policy: nothing).
func (d *Directory) Allowed(roleARN, action, resource string) bool {
	_, r := d.role(roleARN)
	if r == nil {
		return true
	}
	allow := false
	for i := range r.Policies {
		a, deny := r.Policies[i].decide(request{action: action, resource: resource})
		if deny {
			return false
		}
		allow = allow || a
	}
	return allow
}

// DeclaresRole reports whether the world declares the role (so that
// Allowed reads its policies rather than assuming the console's).
func (d *Directory) DeclaresRole(roleARN string) bool { _, r := d.role(roleARN); return r != nil }

// sessionKeyPrefix starts the access key ids of temporary credentials, as
// on AWS.
const sessionKeyPrefix = "ASIA"

// assume checks a role's trust policy for caller and, when it allows,
// issues temporary credentials. The error is AWS's AccessDenied message,
// the same whether the role does not exist, does not trust the caller, or
// wants another external id (AWS tells them apart to nobody).
func (d *Directory) assume(c Caller, arn, sessionName, externalID string, duration time.Duration) (*session, *AuthError) {
	denied := &AuthError{Status: http.StatusForbidden, Code: "AccessDenied",
		Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.Arn, arn)}
	acct, r := d.role(arn)
	if r == nil || r.TrustPolicy == nil {
		return nil, denied
	}
	ctx := map[string]string{}
	if externalID != "" {
		ctx["sts:ExternalId"] = externalID
	}
	allow, deny := r.TrustPolicy.decide(request{action: "sts:AssumeRole", resource: roleArn(acct, r.Name), principal: &c, context: ctx})
	if !allow || deny {
		return nil, denied
	}
	max := r.MaxSessionDuration.Duration
	if max == 0 {
		max = defaultMaxSession
	}
	if duration > max {
		return nil, &AuthError{Status: http.StatusBadRequest, Code: "ValidationError",
			Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
	}
	s := &session{
		AccessKeyID: sessionKeyPrefix + randomUpper(16), SessionToken: "FwoGZXIvYXdzE" + randomToken(180),
		Account: acct, Role: r.Name, RoleID: principalID("AROA", acct+"/"+r.Name), Name: sessionName,
		Expires: d.now().Add(duration).UTC().Truncate(time.Second),
	}
	d.mu.Lock()
	now := d.now()
	for k, old := range d.sessions { // expired sessions go, so the map stays small
		if !now.Before(old.Expires) {
			delete(d.sessions, k)
		}
	}
	d.sessions[s.AccessKeyID] = s
	d.mu.Unlock()
	return s, nil
}

// principalID is a stable unique id of the shape IAM gives users (AIDA…)
// and roles (AROA…).
func principalID(prefix, name string) string {
	h := sha256.Sum256([]byte(name))
	return prefix + strings.ToUpper(base32.StdEncoding.EncodeToString(h[:]))[:17]
}

func randomUpper(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base32.StdEncoding.EncodeToString(b)[:n]
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// Snapshot is the directory's state: the live sessions (they hold secrets,
// like the state file's other parts).
func (d *Directory) Snapshot() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*session, 0, len(d.sessions))
	for _, s := range d.sessions {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *session) int { return strings.Compare(a.AccessKeyID, b.AccessKeyID) })
	return json.Marshal(struct {
		Sessions []*session `json:"sessions"`
	}{out})
}

// Restore replaces the sessions with a Snapshot's.
func (d *Directory) Restore(b []byte) error {
	var st struct {
		Sessions []*session `json:"sessions"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("aws state: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sessions = map[string]*session{}
	for _, s := range st.Sessions {
		d.sessions[s.AccessKeyID] = s
	}
	return nil
}
