package github

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/fault"
	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

type principalKind int

const (
	anonymous principalKind = iota
	byPAT
	byInstallation
	byApp
	byUserToken // a GitHub App user-to-server token (ghu_)
)

// principal is who a request acts as: a copy taken under the lock, so a
// handler may use it after releasing it.
type principal struct {
	kind    principalKind
	rateKey string
	limit   int
	rate    rateState
	// resource names the rate limit in X-RateLimit-Resource: "core"
	// unless the route has a budget of its own.
	resource string
	expires  time.Time // zero: the credential does not expire

	// byPAT (user and userID also byUserToken)
	patID   int64
	created time.Time
	userID  int64
	user    string
	patKind ghtoken.Kind
	scopes  []string
	repos   []string          // fine-grained: owner/name
	perms   map[string]string // fine-grained or installation

	// byInstallation
	instID    int64
	instValue string

	// byApp and byUserToken
	appID int64

	// anonymous
	ip string
}

// authMode is what credentials a route takes.
type authMode int

const (
	authOptional authMode = iota // a token, or none (the per-IP budget)
	authToken                    // a token is required
	authJWT                      // a GitHub App JWT is required
	authNone                     // credentials are refused (POST /credentials/revoke)
)

// fineGrained reports whether p is a fine-grained personal access token.
func (p *principal) fineGrained() bool {
	return p.kind == byPAT && p.patKind == ghtoken.KindFineGrained
}

// actsAsUser reports whether p acts as a user: a personal token or a
// GitHub App user token.
func (p *principal) actsAsUser() bool { return p.kind == byPAT || p.kind == byUserToken }

// route describes one REST endpoint for the shared middleware.
type route struct {
	mode           authMode
	free           bool   // does not count against the rate limit (GET /rate_limit)
	acceptedScopes string // X-Accepted-OAuth-Scopes
	acceptedPerms  string // X-Accepted-GitHub-Permissions
	// budget, when set, is a rate limit of the route's own instead of the
	// caller's core budget (POST /credentials/revoke).
	budget *budget
}

// budget is an hourly rate limit of its own, per client address.
type budget struct {
	resource string // X-RateLimit-Resource
	limit    func(*Server) int
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal)

// handle registers a REST endpoint behind faults, authentication and the
// rate limit. pattern is also the operation name the fault rules match.
func (s *Server) handle(pattern string, rt route, h handlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		resource := ""
		if o := r.PathValue("owner"); o != "" {
			resource = o + "/" + r.PathValue("repo")
		}
		switch o := s.faults.Decide(r.Context(), Service, pattern, resource); o {
		case fault.Throttle:
			// A secondary limit: the primary budget is neither spent nor
			// shown as exhausted, so clients tell the two apart.
			if p, _ := s.authenticate(r, rt, false); p != nil {
				s.setAuthHeaders(w.Header(), p, rt)
			}
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusForbidden, msgSecondary, docSecondaryRate)
			return
		case fault.ServerError, fault.Fail:
			writeFault(w, o)
			return
		}
		p, herr := s.authenticate(r, rt, !rt.free)
		if p != nil {
			s.setAuthHeaders(w.Header(), p, rt)
		}
		if herr != nil {
			doc := docREST
			if herr.status == http.StatusForbidden && p != nil && p.rate.remaining() == 0 {
				doc = docPrimaryRate
			}
			writeError(w, herr.status, herr.message, doc)
			return
		}
		if account := cmp.Or(r.PathValue("owner"), r.PathValue("org")); account != "" {
			s.mu.Lock()
			msg := s.policyBlock(p, account, htmlURL(r, ""))
			s.mu.Unlock()
			if msg != "" {
				writeError(w, http.StatusForbidden, msg, docREST)
				return
			}
		}
		h(w, r, p)
	})
}

// writeFault answers an injected server error (502) or failure (500).
func writeFault(w http.ResponseWriter, o fault.Outcome) {
	if o == fault.ServerError {
		writeMessage(w, http.StatusBadGateway, "Server Error")
		return
	}
	writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
}

// credential extracts the credential from Authorization: "token X",
// "Bearer X" or Basic with the token as password. present is true when the
// header is there at all, usable or not.
func credential(r *http.Request) (value string, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		return rest, true
	case "basic":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", true
		}
		u, p, _ := strings.Cut(string(b), ":")
		if p == "" {
			return u, true
		}
		return p, true
	}
	return "", true
}

// authenticate resolves the request's principal and, when count is set,
// spends one request of its budget and records the token's last use. A
// principal comes back with a rate-limit error so that its headers can be
// sent; with any other error it is nil.
func (s *Server) authenticate(r *http.Request, rt route, count bool) (*principal, *httpError) {
	mode := rt.mode
	val, present := credential(r)
	switch {
	case mode == authNone && present:
		return nil, &httpError{http.StatusForbidden, "This endpoint must be called without authentication."}
	case mode == authJWT && !present:
		return nil, &httpError{http.StatusUnauthorized, msgJWTDecode}
	case mode == authToken && !present:
		return nil, &httpError{http.StatusUnauthorized, msgRequiresAuth}
	}
	var p *principal
	if rt.budget != nil && !present {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		p = &principal{kind: anonymous, ip: ip, rateKey: rt.budget.resource + ":" + ip, limit: rt.budget.limit(s), resource: rt.budget.resource}
	}
	if mode == authJWT {
		appID, herr := s.verifyJWT(val)
		if herr != nil {
			return nil, herr
		}
		p = &principal{kind: byApp, appID: appID, rateKey: "app:" + strconv.FormatInt(appID, 10), limit: s.rateLimit}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch {
	case p != nil:
	case !present:
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		p = &principal{kind: anonymous, ip: ip, rateKey: "ip:" + ip, limit: s.anonLimit}
	default:
		p = s.lookupToken(val, now)
		if p == nil {
			return nil, &httpError{http.StatusUnauthorized, msgBadCredentials}
		}
	}
	rs, ok := s.spend(p.rateKey, p.limit, now, count)
	p.rate = rs
	if !ok {
		return p, &httpError{http.StatusForbidden, p.rateLimitMessage()}
	}
	s.recordUse(p, now, count)
	return p, nil
}

// recordUse notes a personal token's last use, as GitHub shows it in the
// web UI and the organisation's token list. Callers hold s.mu.
func (s *Server) recordUse(p *principal, now time.Time, count bool) {
	if !count || p.kind != byPAT {
		return
	}
	if t := s.st.pats[p.patID]; t != nil {
		t.LastUsedAt = now
	}
}

// lookupToken finds the live token with this value. Callers hold s.mu.
func (s *Server) lookupToken(val string, now time.Time) *principal {
	switch ghtoken.KindOf(val) {
	case ghtoken.KindClassicPAT, ghtoken.KindFineGrained:
		t := s.st.patByValue[val]
		if t == nil || t.state(now) != StateActive {
			return nil
		}
		u := s.st.user(t.User)
		if u == nil {
			return nil
		}
		return &principal{
			kind: byPAT, rateKey: "pat:" + strconv.FormatInt(t.ID, 10), limit: s.rateLimit, expires: t.ExpiresAt,
			patID: t.ID, created: t.CreatedAt, userID: u.ID, user: u.Login, patKind: t.Kind, scopes: t.Scopes, repos: t.Repositories, perms: t.Permissions,
		}
	case ghtoken.KindAppUser:
		t := s.st.userTokens[val]
		if t == nil || !t.live(now) {
			return nil
		}
		u := s.st.user(t.User)
		if u == nil {
			return nil
		}
		return &principal{
			kind: byUserToken, rateKey: "ghu:" + strconv.FormatInt(t.AppID, 10) + ":" + strconv.FormatInt(u.ID, 10), limit: s.rateLimit,
			expires: t.ExpiresAt, created: t.CreatedAt, userID: u.ID, user: u.Login, appID: t.AppID,
		}
	case ghtoken.KindInstallation:
		t := s.st.instTokens[val]
		if t == nil || !t.live(now) {
			return nil
		}
		return &principal{
			kind: byInstallation, rateKey: "ghs:" + ghtoken.Fingerprint(val), limit: s.rateLimit, expires: t.ExpiresAt,
			instID: t.InstallationID, instValue: val, perms: t.Permissions,
		}
	}
	return nil
}

func (p *principal) rateLimitMessage() string {
	switch p.kind {
	case byPAT:
		return fmt.Sprintf("API rate limit exceeded for user ID %d.", p.userID)
	case byInstallation:
		return fmt.Sprintf("API rate limit exceeded for installation ID %d.", p.instID)
	case byApp:
		return fmt.Sprintf("API rate limit exceeded for app ID %d.", p.appID)
	case byUserToken:
		return fmt.Sprintf("API rate limit exceeded for user ID %d.", p.userID)
	}
	if p.resource != "" {
		return "API rate limit exceeded for " + p.ip + "." // a budget of the route's own: no higher one with credentials
	}
	return "API rate limit exceeded for " + p.ip + ". (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)"
}

// The header GitHub sends with a credential that expires.
const expirationLayout = "2006-01-02 15:04:05 MST"

func (s *Server) setAuthHeaders(h http.Header, p *principal, rt route) {
	setRateHeaders(h, p.rate, p.resource)
	switch {
	case p.kind == byPAT && p.patKind == ghtoken.KindClassicPAT:
		h.Set("X-OAuth-Scopes", strings.Join(p.scopes, ", "))
		h.Set("X-Accepted-OAuth-Scopes", rt.acceptedScopes)
	case p.kind == byPAT || p.kind == byInstallation || p.kind == byUserToken:
		if rt.acceptedPerms != "" {
			h.Set("X-Accepted-GitHub-Permissions", rt.acceptedPerms)
		}
	}
	if !p.expires.IsZero() {
		h.Set("GitHub-Authentication-Token-Expiration", p.expires.UTC().Format(expirationLayout))
	}
}

// window is one hour of one principal's primary rate limit, starting at its
// first request as on GitHub.
type window struct {
	start time.Time
	used  int
}

type rateState struct {
	limit, used int
	reset       time.Time
}

func (r rateState) remaining() int { return max(r.limit-r.used, 0) }

// spend counts one request against key's budget, or only reports it when
// count is false. Callers hold s.mu.
func (s *Server) spend(key string, limit int, now time.Time, count bool) (rateState, bool) {
	w := s.rate[key]
	if w == nil || !now.Before(w.start.Add(time.Hour)) {
		w = &window{start: now}
		s.rate[key] = w
	}
	if count {
		if w.used >= limit {
			return rateState{limit, w.used, w.start.Add(time.Hour)}, false
		}
		w.used++
	}
	return rateState{limit, w.used, w.start.Add(time.Hour)}, true
}

func setRateHeaders(h http.Header, r rateState, resource string) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(r.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(r.remaining()))
	h.Set("X-RateLimit-Used", strconv.Itoa(r.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(r.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", cmp.Or(resource, "core"))
}
