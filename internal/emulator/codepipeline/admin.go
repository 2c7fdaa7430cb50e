package codepipeline

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rotor-ci/rotor/internal/token"
)

// AdminPrefix is where the admin API lives, beside the AWS API.
const AdminPrefix = "/_emulator/"

// mountAdmin serves the emulator's own API:
//
//	GET    /_emulator/fetches[?pipeline=NAME]  → {"total","failed","dropped","fetches":[Fetch]}
//	DELETE /_emulator/fetches                  → 204, record and counts emptied
//	GET    /_emulator/pipelines/{name}/token-fingerprints
//	                                           → {"pipeline","version","actions":{"<action>":"sha256:…"}}
//	…      /_emulator/faults/rules|counts      → fault.AdminHandler("codepipeline")
func (s *Server) mountAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /_emulator/fetches", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("pipeline")
		all := s.Fetches()
		out := make([]Fetch, 0, len(all))
		for _, f := range all {
			if name == "" || f.Pipeline == name {
				out = append(out, f)
			}
		}
		sum := s.FetchSummary()
		adminJSON(w, http.StatusOK, struct {
			FetchSummary
			Fetches []Fetch `json:"fetches"`
		}{sum, out})
	})
	mux.HandleFunc("DELETE /_emulator/fetches", func(w http.ResponseWriter, r *http.Request) {
		s.ResetFetches()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_emulator/pipelines/{name}/token-fingerprints", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		p := s.lookup(name)
		if p == nil {
			adminJSON(w, http.StatusNotFound, map[string]string{"message": "no pipeline named " + clip(name)})
			return
		}
		rev := p.cur.Load()
		fps := map[string]string{}
		for _, src := range rev.sources {
			fps[src.action] = src.token.Fingerprint()
		}
		adminJSON(w, http.StatusOK, struct {
			Pipeline string            `json:"pipeline"`
			Version  int               `json:"version"`
			Actions  map[string]string `json:"actions"`
		}{name, rev.version, fps})
	})
	mux.Handle(AdminPrefix+"faults/", s.faults.AdminHandler(Service))
	mux.HandleFunc(AdminPrefix, func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusNotFound, map[string]string{"message": "unknown admin endpoint; see docs/emulator.md"})
	})
}

func adminJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Pipeline returns a pipeline's current declaration as GetPipeline shows it
// (secrets masked) and its version.
func (s *Server) Pipeline(name string) (json.RawMessage, int, bool) {
	p := s.lookup(name)
	if p == nil {
		return nil, 0, false
	}
	r := p.cur.Load()
	return append(json.RawMessage(nil), r.masked...), r.version, true
}

// PipelineNames lists the pipelines in name order.
func (s *Server) PipelineNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.names...)
}

// StoredToken returns the real token a GitHub source action holds. It is for
// tests and the demo only: the real service never reveals it, and rotor must
// not depend on it.
func (s *Server) StoredToken(pipeline, action string) (token.Token, bool) {
	p := s.lookup(pipeline)
	if p == nil {
		return token.Token{}, false
	}
	for _, src := range p.cur.Load().sources {
		if src.action == action {
			return src.token, true
		}
	}
	return token.Token{}, false
}

// ManageByStack gives a pipeline the system tag aws:cloudformation:stack-name,
// as CloudFormation does for the pipelines it creates (no API caller may set
// an aws: tag). Tests and rehearsals use it to play a stack-managed pipeline.
func (s *Server) ManageByStack(pipeline, stack string) error {
	p := s.lookup(pipeline)
	if p == nil {
		return fmt.Errorf("no pipeline %q", pipeline)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tags = mergeTags(p.tags, []Tag{{Key: "aws:cloudformation:stack-name", Value: stack}})
	return nil
}
