package github

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/rotor-ci/rotor/internal/token"
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
		if !rp.member(p.user) {
			return false, fmt.Sprintf("user %s cannot see the private repository %s", p.user, full)
		}
		if p.patKind == token.KindClassicPAT {
			if !hasScope(p.scopes, "repo") {
				return false, fmt.Sprintf("the classic token lacks the repo scope that the private repository %s needs", full)
			}
			return true, ""
		}
		if !slices.ContainsFunc(p.repos, func(r string) bool { return strings.EqualFold(r, full) }) {
			return false, fmt.Sprintf("the fine-grained token does not include the repository %s", full)
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
	}
	return false, fmt.Sprintf("the repository %s is private and the request has no credentials", full)
}

// Authorize says whether tok could fetch owner/repo's contents right now,
// and if not why, exactly as GET /repos/{owner}/{repo}/tarball would decide:
// the token must be live, within its rate limit, and allowed to read the
// repository's contents. Like a real fetch it spends one request of the
// token's budget and records its last use. Fault rules do not apply: they
// are a property of the HTTP surface. An empty tok is an unauthenticated
// fetch. The reason never contains the token.
func (s *Server) Authorize(tok string, owner, repo string) (ok bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var p *principal
	if tok == "" {
		ip := net.IPv6loopback.String()
		p = &principal{kind: anonymous, ip: ip, rateKey: "ip:" + ip, limit: s.anonLimit}
	} else if p = s.lookupToken(tok, now); p == nil {
		return false, s.whyBadCredentials(tok)
	}
	if _, ok := s.spend(p.rateKey, p.limit, now, true); !ok {
		return false, "rate limit exceeded: " + p.rateLimitMessage()
	}
	if p.kind == byPAT {
		s.st.pats[p.patID].LastUsedAt = now
	}
	rp := s.st.repo(owner, repo)
	if rp == nil {
		return false, fmt.Sprintf("repository %s/%s does not exist", owner, repo)
	}
	return s.access(p, rp, needContents)
}

// whyBadCredentials explains a 401. Callers hold s.mu.
func (s *Server) whyBadCredentials(tok string) string {
	now := s.now()
	switch token.KindOf(tok) {
	case token.KindClassicPAT, token.KindFineGrained:
		if p := s.st.patByValue[tok]; p != nil {
			if p.state(now) == StateRevoked {
				return "bad credentials: the token was revoked"
			}
			return "bad credentials: the token expired at " + ts(p.ExpiresAt)
		}
	case token.KindInstallation:
		if t := s.st.instTokens[tok]; t != nil {
			if !t.RevokedAt.IsZero() {
				return "bad credentials: the installation token was revoked"
			}
			return "bad credentials: the installation token expired at " + ts(t.ExpiresAt)
		}
	}
	return "bad credentials: no such token (never issued, deleted or regenerated)"
}
