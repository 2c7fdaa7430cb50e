package github

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rotor-ci/rotor/internal/emulator/ghtoken"
)

// need is what a request reads from a repository.
type need int

const (
	needMetadata need = iota // GET /repos/{owner}/{repo}
	needContents             // the tarball: what a CodePipeline source stage fetches
)

// access decides whether p may read rp; the reason says why not (never a
// token value). GitHub hides a private repository it will not show behind a
// 404, so every refusal is a 404 on the wire. Callers hold s.mu.
func (s *Server) access(p *principal, rp *repo, n need) (bool, string) {
	if !rp.Private {
		return true, "" // everyone reads public repositories, whatever their token grants
	}
	full := rp.fullName()
	switch p.kind {
	case byPAT:
		if s.st.role(rp, p.user) == roleNone {
			return false, fmt.Sprintf("user %s cannot see the private repository %s", p.user, full)
		}
		if p.patKind == ghtoken.KindClassicPAT {
			if !hasScope(p.scopes, "repo") {
				return false, fmt.Sprintf("the classic token lacks the repo scope that the private repository %s needs", full)
			}
			return true, ""
		}
		if !p.listsRepo(rp) {
			return false, fmt.Sprintf("the fine-grained token does not include the repository %s", full)
		}
		if s.grantRevoked(p, rp.Owner) {
			return false, fmt.Sprintf("the organisation %s revoked the fine-grained token's access", rp.Owner)
		}
		if n == needContents && !grants(p.perms, "contents", "read") {
			return false, fmt.Sprintf("the fine-grained token lacks contents:read on %s", full)
		}
		return true, ""
	case byInstallation:
		t := s.st.instTokens[p.instValue]
		if t == nil || !slices.ContainsFunc(s.st.tokenRepos(t), func(r *repo) bool { return r == rp }) {
			return false, fmt.Sprintf("the installation token does not cover the repository %s", full)
		}
		if n == needContents && !grants(p.perms, "contents", "read") {
			return false, fmt.Sprintf("the installation token lacks contents:read on %s", full)
		}
		return true, ""
	case byUserToken:
		// Both the user and the app must reach it ("Generating a user
		// access token for a GitHub App").
		if s.st.role(rp, p.user) == roleNone {
			return false, fmt.Sprintf("user %s cannot see the private repository %s", p.user, full)
		}
		in := s.st.appInstallationFor(p.appID, rp)
		if in == nil {
			return false, fmt.Sprintf("the GitHub App of the user token is not installed for the repository %s", full)
		}
		if n == needContents && !grants(in.Permissions, "contents", "read") {
			return false, fmt.Sprintf("the GitHub App user token lacks contents:read on %s", full)
		}
		return true, ""
	}
	return false, fmt.Sprintf("the repository %s is private and the request has no credentials", full)
}

// listsRepo reports whether a fine-grained token's repositories include rp.
func (p *principal) listsRepo(rp *repo) bool {
	return slices.ContainsFunc(p.repos, func(r string) bool { return strings.EqualFold(r, rp.fullName()) })
}

// Authorize says whether tok could fetch owner/repo's contents right now,
// and if not why, exactly as GET /repos/{owner}/{repo}/tarball would decide:
// the token must be live, within its rate limit, not blocked by the
// owner's token policy, and allowed to read the repository's contents.
// Like a real fetch it spends one request of the token's budget and
// records its last use. Fault rules do not apply: they are a property of
// the HTTP surface. An empty tok is an unauthenticated fetch. The reason
// never contains the token.
func (s *Server) Authorize(tok string, owner, repo string) (ok bool, reason string) {
	s.lockAdvance()
	defer s.mu.Unlock()
	return s.authorize(tok, owner, repo, s.now())
}

// authorize is Authorize at the instant now. Callers hold s.mu.
func (s *Server) authorize(tok string, owner, repo string, now time.Time) (ok bool, reason string) {
	var p *principal
	if tok == "" {
		ip := net.IPv6loopback.String()
		p = &principal{kind: anonymous, ip: ip, rateKey: "ip:" + ip, limit: s.anonLimit}
	} else if p = s.lookupToken(tok, now); p == nil {
		return false, s.whyBadCredentials(tok, now)
	}
	if _, ok := s.spend(p.rateKey, p.limit, now, true); !ok {
		return false, "rate limit exceeded: " + p.rateLimitMessage()
	}
	s.recordUse(p, now, true)
	if msg := s.policyBlock(p, owner, "https://github.com"); msg != "" {
		return false, fmt.Sprintf("%d %s: %s", http.StatusForbidden, http.StatusText(http.StatusForbidden), msg)
	}
	rp := s.st.repo(owner, repo)
	if rp == nil {
		return false, fmt.Sprintf("repository %s/%s does not exist", owner, repo)
	}
	return s.access(p, rp, needContents)
}

// whyBadCredentials explains a 401. Callers hold s.mu.
func (s *Server) whyBadCredentials(tok string, now time.Time) string {
	switch ghtoken.KindOf(tok) {
	case ghtoken.KindClassicPAT, ghtoken.KindFineGrained:
		if p := s.st.patByValue[tok]; p != nil {
			if p.state(now) == StateRevoked {
				return "bad credentials: the token was revoked"
			}
			return "bad credentials: the token expired at " + ts(p.ExpiresAt)
		}
	case ghtoken.KindInstallation:
		if t := s.st.instTokens[tok]; t != nil {
			if !t.RevokedAt.IsZero() {
				return "bad credentials: the installation token was revoked"
			}
			return "bad credentials: the installation token expired at " + ts(t.ExpiresAt)
		}
	case ghtoken.KindAppUser:
		if t := s.st.userTokens[tok]; t != nil {
			return "bad credentials: the GitHub App user token " + t.why(now)
		}
	case ghtoken.KindAppRefresh:
		return "bad credentials: a refresh token (ghr_) is not an API credential"
	}
	return "bad credentials: no such token (never issued, deleted or regenerated)"
}
