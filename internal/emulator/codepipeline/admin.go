package codepipeline

import (
	"encoding/json"
	"fmt"
	"net/http"

	token "github.com/rotor-ci/rotor/internal/emulator/ghtoken" // the emulators' own token code, not rotor's
)

// AdminPrefix is where the admin API lives, beside the AWS API.
const AdminPrefix = "/_emulator/"

// mountAdmin serves the emulator's own API:
//
//	GET    /_emulator/fetches[?pipeline=NAME]  → {"total","failed","dropped","fetches":[Fetch]}
//	DELETE /_emulator/fetches                  → 204, record and counts emptied
//	GET    /_emulator/updates                  → {"updates":[Update]}
//	DELETE /_emulator/updates                  → 204, record emptied
//	GET    /_emulator/executions[?pipeline=NAME] → {"executions":[Execution]}
//	GET    /_emulator/pipelines/{name}/token-fingerprints
//	                                           → {"pipeline","version","actions":{"<action>":"sha256:…"}}
//	GET    /_emulator/pipelines/{name}/token[?action=NAME]
//	                                           → text/plain: the token the (first) GitHub
//	                                             action holds, as the person who set it up knows it
//	GET    /_emulator/places                   → {"places":[{"account","region"}]}
//	…      /_emulator/faults/rules|counts      → fault.AdminHandler("codepipeline")
//
// Every endpoint takes ?account=&region= to address another account and
// region than the default (World.Regions, or any that a request reached).
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
	mux.HandleFunc("GET /_emulator/updates", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, struct {
			Updates []Update `json:"updates"`
		}{s.Updates()})
	})
	mux.HandleFunc("DELETE /_emulator/updates", func(w http.ResponseWriter, r *http.Request) {
		s.ResetUpdates()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_emulator/executions", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("pipeline")
		out := []Execution{}
		for _, e := range s.Executions() {
			if name == "" || e.Pipeline == name {
				out = append(out, e)
			}
		}
		adminJSON(w, http.StatusOK, struct {
			Executions []Execution `json:"executions"`
		}{out})
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
			if !src.v2() {
				fps[src.action] = src.token.Fingerprint()
			}
		}
		adminJSON(w, http.StatusOK, struct {
			Pipeline string            `json:"pipeline"`
			Version  int               `json:"version"`
			Actions  map[string]string `json:"actions"`
		}{name, rev.version, fps})
	})
	// The value a pipeline's GitHub action holds. AWS shows it only as
	// ****; the person who configured the pipeline has it in their password
	// manager, and 'rotor adopt' asks them for it. A rehearsal against the
	// emulator has no such person, so this route plays them.
	mux.HandleFunc("GET /_emulator/pipelines/{name}/token", func(w http.ResponseWriter, r *http.Request) {
		name, action := r.PathValue("name"), r.URL.Query().Get("action")
		p := s.lookup(name)
		if p == nil {
			adminJSON(w, http.StatusNotFound, map[string]string{"message": "no pipeline named " + clip(name)})
			return
		}
		for _, src := range p.cur.Load().sources {
			if !src.v2() && (action == "" || src.action == action) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				fmt.Fprintln(w, src.token.Reveal())
				return
			}
		}
		adminJSON(w, http.StatusNotFound, map[string]string{"message": fmt.Sprintf("pipeline %s has no GitHub (version 1) action %s", clip(name), clip(action))})
	})
	mux.HandleFunc("GET /_emulator/places", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, http.StatusOK, struct {
			Places []Place `json:"places"`
		}{s.Places()})
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
		if src.action == action && !src.v2() {
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
