package fault

import (
	"encoding/json"
	"net/http"
	"strings"
)

// AdminHandler serves one service's faults under whatever prefix the caller
// mounts it at (http.StripPrefix is applied by the caller or not at all: only
// the last path element matters):
//
//	GET    …/rules   → [Rule] of this service
//	PUT    …/rules   ← [Rule] replaces this service's rules (others are kept)
//	GET    …/counts  → {"operation": Count} of this service
//	DELETE …/counts  → resets every count
func (i *Injector) AdminHandler(service string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		switch {
		case last == "rules" && r.Method == http.MethodGet:
			var mine []Rule
			for _, rule := range i.Rules() {
				if rule.Service == service || rule.Service == "" {
					mine = append(mine, rule)
				}
			}
			writeJSON(w, http.StatusOK, nonNil(mine))
		case last == "rules" && r.Method == http.MethodPut:
			var in []Rule
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"message": "rules: " + err.Error()})
				return
			}
			for n := range in {
				if err := in[n].Validate(); err != nil {
					writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
					return
				}
				in[n].Service = service
			}
			var keep []Rule
			for _, rule := range i.Rules() {
				if rule.Service != service {
					keep = append(keep, rule)
				}
			}
			i.SetRules(append(keep, in...))
			writeJSON(w, http.StatusOK, in)
		case last == "counts" && r.Method == http.MethodGet:
			out := map[string]Count{}
			for k, c := range i.Counts() {
				if op, ok := strings.CutPrefix(k, service+" "); ok {
					out[op] = c
				}
			}
			writeJSON(w, http.StatusOK, out)
		case last == "counts" && r.Method == http.MethodDelete:
			i.ResetCounts()
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "faults: use GET/PUT rules or GET/DELETE counts"})
		}
	})
}

func nonNil(r []Rule) []Rule {
	if r == nil {
		return []Rule{}
	}
	return r
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
