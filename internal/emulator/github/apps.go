package github

import (
	"cmp"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Installation tokens live an hour, as on GitHub.
const installationTokenTTL = time.Hour

// App JWT limits GitHub enforces.
const (
	jwtSkew        = 60 * time.Second
	jwtMaxLifetime = 10 * time.Minute
)

// AppInfo describes an app without its private key.
type AppInfo struct {
	ID            int64              `json:"id"`
	Slug          string             `json:"slug"`
	Name          string             `json:"name"`
	ClientID      string             `json:"client_id"`
	Owner         string             `json:"owner"`
	Permissions   map[string]string  `json:"permissions"`
	Installations []InstallationInfo `json:"installations"`
}

// InstallationInfo describes one installation of an app.
type InstallationInfo struct {
	ID                  int64             `json:"id"`
	Account             string            `json:"account"`
	RepositorySelection string            `json:"repository_selection"` // "all" or "selected"
	Repositories        []string          `json:"repositories,omitempty"`
	Permissions         map[string]string `json:"permissions"`
}

var defaultAppPermissions = map[string]string{"contents": "read", "metadata": "read"}

// CreateApp registers a GitHub App with a fresh private key and installs it
// where spec says. It returns the key as PKCS#1 PEM, as GitHub's "Generate a
// private key" download does.
func (s *Server) CreateApp(spec AppSpec) (AppInfo, []byte, error) {
	perms := defaultAppPermissions
	if len(spec.Permissions) > 0 {
		p, err := normalisePermissions(spec.Permissions)
		if err != nil {
			return AppInfo{}, nil, fmt.Errorf("app %q: %w", spec.Name, err)
		}
		perms = withMetadata(p)
	}
	// Check before the slow key generation; check again under the lock.
	s.mu.Lock()
	err := s.checkApp(spec, perms)
	s.mu.Unlock()
	if err != nil {
		return AppInfo{}, nil, err
	}
	key, err := s.keygen()
	if err != nil {
		return AppInfo{}, nil, fmt.Errorf("app %q: generate key: %w", spec.Name, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})

	s.lockAdvance()
	defer s.mu.Unlock()
	if err := s.checkApp(spec, perms); err != nil {
		return AppInfo{}, nil, err
	}
	now := s.now()
	s.st.next.App++
	a := &app{
		ID: s.st.next.App, Slug: slugify(spec.Name), Name: spec.Name, ClientID: "Iv23li" + rand.Text()[:14],
		Owner: s.st.user(spec.Owner).Login, Permissions: perms, KeyPEM: string(keyPEM), CreatedAt: now, key: key,
		DeviceFlow: spec.DeviceFlow,
	}
	if spec.ClientSecret != "" {
		a.ClientSecrets = []string{spec.ClientSecret}
	}
	s.st.apps[a.ID] = a
	for _, is := range spec.Installations {
		in := &installation{AppID: a.ID, Account: s.st.user(is.Account).Login, Permissions: perms, CreatedAt: now}
		if len(is.Permissions) > 0 {
			p, _ := normalisePermissions(is.Permissions) // checked by checkApp
			in.Permissions = withMetadata(p)
		}
		for _, n := range is.Repositories {
			r := s.st.repo(in.Account, repoName(in.Account, n))
			if !slices.Contains(in.Repositories, r.Name) {
				in.Repositories = append(in.Repositories, r.Name)
			}
		}
		s.st.next.Installation++
		in.ID = s.st.next.Installation
		s.st.insts[in.ID] = in
	}
	return s.appInfo(a), keyPEM, nil
}

// checkApp validates spec against the state. Callers hold s.mu.
func (s *Server) checkApp(spec AppSpec, perms map[string]string) error {
	switch {
	case strings.TrimSpace(spec.Name) == "" || len(spec.Name) > 34:
		return fmt.Errorf("app %q: %w: a name is 1 to 34 characters", spec.Name, ErrInvalid)
	case s.st.appByName(spec.Name) != nil || s.st.appByName(slugify(spec.Name)) != nil:
		return fmt.Errorf("app %q: %w", spec.Name, ErrExists)
	case s.st.user(spec.Owner) == nil:
		return fmt.Errorf("app %q: owner %q: %w", spec.Name, spec.Owner, ErrNotFound)
	case spec.ClientSecret != "" && (len(spec.ClientSecret) != 40 || strings.Trim(spec.ClientSecret, "0123456789abcdef") != ""):
		return fmt.Errorf("app %q: client_secret: %w: 40 lower-case hex digits", spec.Name, ErrInvalid)
	}
	seen := map[string]bool{}
	for n, is := range spec.Installations {
		if s.st.user(is.Account) == nil {
			return fmt.Errorf("app %q: installations[%d]: account %q: %w", spec.Name, n, is.Account, ErrNotFound)
		}
		if seen[key(is.Account)] {
			return fmt.Errorf("app %q: installations[%d]: account %q: %w", spec.Name, n, is.Account, ErrExists)
		}
		seen[key(is.Account)] = true
		for _, name := range is.Repositories {
			if s.st.repo(is.Account, repoName(is.Account, name)) == nil {
				return fmt.Errorf("app %q: installations[%d]: repository %q: %w", spec.Name, n, name, ErrNotFound)
			}
		}
		p, err := normalisePermissions(is.Permissions)
		if err != nil {
			return fmt.Errorf("app %q: installations[%d]: %w", spec.Name, n, err)
		}
		if name, ok := subset(p, perms); !ok {
			return fmt.Errorf("app %q: installations[%d]: %w: permission %s exceeds the app's", spec.Name, n, ErrInvalid, name)
		}
	}
	return nil
}

// repoName accepts "name" or "account/name".
func repoName(account, n string) string {
	if o, name, ok := strings.Cut(n, "/"); ok && strings.EqualFold(o, account) {
		return name
	}
	return n
}

func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// appInfo describes a. Callers hold s.mu.
func (s *Server) appInfo(a *app) AppInfo {
	info := AppInfo{ID: a.ID, Slug: a.Slug, Name: a.Name, ClientID: a.ClientID, Owner: a.Owner, Permissions: maps.Clone(a.Permissions), Installations: []InstallationInfo{}}
	for _, in := range s.appInstallations(a.ID) {
		info.Installations = append(info.Installations, InstallationInfo{
			ID: in.ID, Account: in.Account, RepositorySelection: in.selection(),
			Repositories: slices.Clone(in.Repositories), Permissions: maps.Clone(in.Permissions),
		})
	}
	return info
}

// appInstallations lists an app's installations by id. Callers hold s.mu.
func (s *Server) appInstallations(appID int64) []*installation {
	var out []*installation
	for _, in := range s.st.insts {
		if in.AppID == appID {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b *installation) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// DescribeApp describes the app named appName (its name or slug).
func (s *Server) DescribeApp(appName string) (AppInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.appByName(appName)
	if a == nil {
		return AppInfo{}, fmt.Errorf("app %q: %w", appName, ErrNotFound)
	}
	return s.appInfo(a), nil
}

// AppPrivateKeyPEM returns the app's private key (PKCS#1 PEM).
func (s *Server) AppPrivateKeyPEM(appName string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.appByName(appName)
	if a == nil {
		return nil, fmt.Errorf("app %q: %w", appName, ErrNotFound)
	}
	return []byte(a.KeyPEM), nil
}

// App returns the app's id and its installations' ids; zero and nil when
// there is no such app.
func (s *Server) App(appName string) (id int64, installationIDs []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.appByName(appName)
	if a == nil {
		return 0, nil
	}
	for _, in := range s.appInstallations(a.ID) {
		installationIDs = append(installationIDs, in.ID)
	}
	return a.ID, installationIDs
}

var errUnknownIssuer = errors.New("unknown issuer")

// verifyJWT checks an app JWT as GitHub does and returns the app's id. The
// signature is checked outside the lock.
func (s *Server) verifyJWT(raw string) (int64, *httpError) {
	var appID int64
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		claims, _ := t.Claims.(jwt.MapClaims)
		s.mu.Lock()
		defer s.mu.Unlock()
		a := s.appByIssuer(claims["iss"])
		if a == nil {
			return nil, errUnknownIssuer
		}
		appID = a.ID
		return &a.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		if errors.Is(err, errUnknownIssuer) {
			return 0, &httpError{http.StatusUnauthorized, msgIntegration}
		}
		return 0, &httpError{http.StatusUnauthorized, msgJWTDecode}
	}
	now := s.now()
	iat, err1 := tok.Claims.GetIssuedAt()
	exp, err2 := tok.Claims.GetExpirationTime()
	switch {
	case err1 != nil || iat == nil || iat.After(now.Add(jwtSkew)):
		return 0, &httpError{http.StatusUnauthorized, msgJWTIssuedAt}
	case err2 != nil || exp == nil || !now.Before(exp.Time):
		return 0, &httpError{http.StatusUnauthorized, msgJWTExpired}
	case exp.Sub(iat.Time) > jwtMaxLifetime:
		return 0, &httpError{http.StatusUnauthorized, msgJWTTooFar}
	}
	return appID, nil
}

// appByIssuer finds the app a JWT's iss names: its id (as a number or a
// string) or its client id. Callers hold s.mu.
func (s *Server) appByIssuer(iss any) *app {
	switch v := iss.(type) {
	case float64:
		return s.st.apps[int64(v)]
	case string:
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			return s.st.apps[id]
		}
		for _, a := range s.st.apps {
			if a.ClientID == v {
				return a
			}
		}
	}
	return nil
}
