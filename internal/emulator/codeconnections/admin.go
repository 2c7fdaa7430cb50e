package codeconnections

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// AdminPrefix is where the admin API lives, on the AWS endpoint.
const AdminPrefix = "/_emulator/connections"

// serveAdmin serves what a person does in AWS's console:
//
//	GET  /_emulator/connections            → {"connections":[Connection]} of every account
//	POST /_emulator/connections/handshake  {connection_arn, github_account, repositories?}
//	                                       → 200 Connection (AVAILABLE)
//	PUT  /_emulator/connections/status     {connection_arn, status} → 200 Connection
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, AdminPrefix)
	switch {
	case (rest == "" || rest == "/") && r.Method == http.MethodGet:
		adminJSON(w, http.StatusOK, struct {
			Connections []Connection `json:"connections"`
		}{s.Connections()})
	case rest == "/handshake" && r.Method == http.MethodPost:
		var in struct {
			ConnectionArn string   `json:"connection_arn"`
			GitHubAccount string   `json:"github_account"`
			Repositories  []string `json:"repositories"`
		}
		if !adminDecode(w, r, &in) {
			return
		}
		c, err := s.Handshake(r.Context(), in.ConnectionArn, in.GitHubAccount, in.Repositories)
		if err != nil {
			adminError(w, err)
			return
		}
		adminJSON(w, http.StatusOK, c)
	case rest == "/status" && r.Method == http.MethodPut:
		var in struct {
			ConnectionArn string `json:"connection_arn"`
			Status        string `json:"status"`
		}
		if !adminDecode(w, r, &in) {
			return
		}
		if err := s.SetStatus(in.ConnectionArn, in.Status); err != nil {
			adminError(w, err)
			return
		}
		i := slices.IndexFunc(s.Connections(), func(c Connection) bool { return c.Arn == in.ConnectionArn })
		adminJSON(w, http.StatusOK, s.Connections()[i])
	default:
		adminJSON(w, http.StatusNotFound, map[string]string{"message": "unknown admin endpoint; see docs/emulator.md"})
	}
}

func adminDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
		adminJSON(w, http.StatusBadRequest, map[string]string{"message": "cannot read the body"})
		return false
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid JSON body: " + err.Error()})
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, errNoConnection):
		status = http.StatusNotFound
	case errors.Is(err, errNotPending):
		status = http.StatusConflict
	}
	adminJSON(w, status, map[string]string{"message": err.Error()})
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
