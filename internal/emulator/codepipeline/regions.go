package codepipeline

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"

	"github.com/rotor-ci/rotor/internal/emulator/awsaccounts"
	"github.com/rotor-ci/rotor/internal/emulator/fault"
)

// RegionSpec is one more account × region of a world, beside the default
// one (World.Account, World.Region): its own pipelines, its own run times
// and its own fault rules, with their own token buckets, because AWS's
// limits are per account and region.
//
//	codepipeline:
//	  regions:
//	    - account: "111111111111"
//	      region: eu-west-1
//	      pipelines: [...]
//	      faults: [{operation: GetPipeline, rate_per_second: 20, burst: 20}, {latency: 20ms}]
type RegionSpec struct {
	Account   string         `yaml:"account" json:"account"`
	Region    string         `yaml:"region" json:"region"`
	Pipelines []PipelineSpec `yaml:"pipelines,omitempty" json:"pipelines,omitempty"`
	RunTimes  []RunTime      `yaml:"run_times,omitempty" json:"run_times,omitempty"`
	// Faults apply to this account and region only (service codepipeline
	// implied), after the world's top-level codepipeline rules, which
	// every account and region gets its own copy of.
	Faults []fault.Rule `yaml:"faults,omitempty" json:"faults,omitempty"`
}

// Place is one account and region the emulator serves.
type Place struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// reRegion is an AWS region name (us-east-1, eu-west-3, us-gov-west-1).
var reRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)

// regionSet is every account × region of a Server beside the default one.
// Only the default server holds one; the others answer through it.
type regionSet struct {
	multi bool // route by caller; false: everything is the default's

	mu     sync.RWMutex
	places map[Place]*Server
}

// Accounts is what the emulator asks who sent a request and whether a
// pipeline's role may do something. *awsaccounts.Directory is one.
type Accounts interface {
	Resolve(*http.Request) (awsaccounts.Caller, *awsaccounts.AuthError)
	Allowed(roleArn, action, resource string) bool
	Accounts() []string
}

// In returns the server of one account and region, creating an empty one
// (as AWS has for every account in every region) when the world declares
// none there. It returns nil when the emulator serves one account and
// region only and this is not it.
func (s *Server) In(account, region string) *Server {
	h := s.home()
	if account == h.account && region == h.region {
		return h
	}
	if !h.regions.multi {
		return nil
	}
	p, err := h.place(Place{account, region}, nil)
	if err != nil {
		return nil
	}
	return p
}

// Places lists the accounts and regions with a server, the default first.
func (s *Server) Places() []Place {
	h := s.home()
	out := []Place{{h.account, h.region}}
	h.regions.mu.RLock()
	for p := range h.regions.places {
		out = append(out, p)
	}
	h.regions.mu.RUnlock()
	slices.SortFunc(out[1:], func(a, b Place) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	return out
}

func (s *Server) home() *Server {
	if s.parent != nil {
		return s.parent
	}
	return s
}

// place returns the server of p, building it from spec (nil: empty) the
// first time.
func (s *Server) place(p Place, spec *RegionSpec) (*Server, error) {
	s.regions.mu.RLock()
	srv := s.regions.places[p]
	s.regions.mu.RUnlock()
	if srv != nil {
		return srv, nil
	}
	s.regions.mu.Lock()
	defer s.regions.mu.Unlock()
	if srv := s.regions.places[p]; srv != nil {
		return srv, nil
	}
	w := World{Account: p.Account, Region: p.Region}
	var rules []fault.Rule
	for _, r := range s.faults.Rules() {
		if r.Service == "" || r.Service == Service {
			rules = append(rules, r)
		}
	}
	if spec != nil {
		w.Pipelines, w.RunTimes = spec.Pipelines, spec.RunTimes
		for _, r := range spec.Faults {
			r.Service = Service
			rules = append(rules, r)
		}
	}
	opts := s.opts
	opts.Faults = fault.New(rules...)
	opts.PollInterval = s.pollInterval
	if s.pollInterval <= 0 {
		opts.PollInterval = -1
	}
	srv, err := newServer(w, opts, s)
	if err != nil {
		return nil, err
	}
	if s.regions.places == nil {
		s.regions.places = map[Place]*Server{}
	}
	s.regions.places[p] = srv
	return srv, nil
}

// route picks the server a request is for: the account of its credentials
// and the region of its credential scope, as AWS routes it. With one
// account and region, everything is the default's.
func (s *Server) route(r *http.Request) (*Server, *apiError) {
	if !s.regions.multi {
		return s, nil
	}
	var c awsaccounts.Caller
	if s.accounts != nil {
		var aerr *awsaccounts.AuthError
		if c, aerr = s.accounts.Resolve(r); aerr != nil {
			code := aerr.Code
			if code == "InvalidClientTokenId" {
				code = "UnrecognizedClientException" // the JSON protocols' name for it
			}
			return nil, newError(aerr.Status, code, "%s", aerr.Message)
		}
	} else if cred, ok := awsaccounts.ParseCredential(r); ok {
		c.Region = cred.Region
	}
	p := Place{Account: cmp.Or(c.Account, s.account), Region: cmp.Or(c.Region, s.region)}
	if p.Account == s.account && p.Region == s.region {
		return s, nil
	}
	srv, err := s.place(p, nil)
	if err != nil {
		return nil, internal(err)
	}
	return srv, nil
}

// adminTarget picks the server an admin request is about: ?account=&region=
// (each defaulting to the default's), or the default.
func (s *Server) adminTarget(r *http.Request) (*Server, bool) {
	q := r.URL.Query()
	acct, region := q.Get("account"), q.Get("region")
	if acct == "" && region == "" {
		return s, true
	}
	srv := s.In(cmp.Or(acct, s.account), cmp.Or(region, s.region))
	return srv, srv != nil
}

// validateRegions checks the world's regions section.
func (w World) validateRegions() error {
	seen := map[Place]bool{{Account: orDefault(w.Account, DefaultAccount), Region: orDefault(w.Region, DefaultRegion)}: true}
	for i, rs := range w.Regions {
		at := fmt.Sprintf("regions[%d]", i)
		switch {
		case !reAccount.MatchString(rs.Account):
			return fmt.Errorf("%s.account %q: want 12 digits (quote it in YAML)", at, rs.Account)
		case !reRegion.MatchString(rs.Region):
			return fmt.Errorf("%s.region %q: not an AWS region name (us-east-1)", at, rs.Region)
		case seen[Place{rs.Account, rs.Region}]:
			return fmt.Errorf("%s: account %s region %s is declared twice", at, rs.Account, rs.Region)
		}
		seen[Place{rs.Account, rs.Region}] = true
		if err := validateRunTimes(rs.RunTimes); err != nil {
			return fmt.Errorf("%s.%w", at, err)
		}
		for j, r := range rs.Faults {
			if err := r.Validate(); err != nil {
				return fmt.Errorf("%s.faults[%d]: %w", at, j, err)
			}
			if r.Service != "" && r.Service != Service {
				return fmt.Errorf("%s.faults[%d].service %q: a region's rules are codepipeline's (leave service out)", at, j, r.Service)
			}
		}
		sub := World{Account: rs.Account, Region: rs.Region, Pipelines: rs.Pipelines}
		if _, err := sub.declarations(); err != nil {
			if we, ok := err.(*WorldError); ok {
				we.In = at
				return we
			}
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	return nil
}

// regionStates snapshots the other accounts and regions.
func (s *Server) regionStates() ([]json.RawMessage, error) {
	var out []json.RawMessage
	for _, p := range s.Places()[1:] {
		srv := s.In(p.Account, p.Region)
		b, err := srv.Snapshot()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
