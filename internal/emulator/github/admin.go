package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// adminRoutes serve /_emulator/: what a person does in GitHub's web UI,
// as JSON. Faults do not apply here.
func (s *Server) adminRoutes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /_emulator/users", s.adminCreateUser)
	m.HandleFunc("POST /_emulator/repos", s.adminCreateRepo)
	m.HandleFunc("POST /_emulator/tokens", s.adminCreateToken)
	m.HandleFunc("GET /_emulator/tokens", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Tokens()) })
	m.HandleFunc("POST /_emulator/tokens/{id}/regenerate", s.adminRegenerate)
	m.HandleFunc("DELETE /_emulator/tokens/{id}", s.adminDeleteToken)
	m.HandleFunc("POST /_emulator/orgs", s.adminCreateOrg)
	m.HandleFunc("GET /_emulator/org-grants", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.OrgGrants()) })
	m.HandleFunc("GET /_emulator/secrets", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Secrets()) })
	m.HandleFunc("POST /_emulator/secrets/rotate-key", s.adminRotateSecretKey)
	m.HandleFunc("GET /_emulator/runs", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Runs()) })
	m.HandleFunc("POST /_emulator/device/approve", s.adminDevice(true))
	m.HandleFunc("POST /_emulator/device/deny", s.adminDevice(false))
	m.HandleFunc("GET /_emulator/user-tokens", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.UserTokens()) })
	m.HandleFunc("POST /_emulator/user-tokens", s.adminCreateUserToken)
	m.HandleFunc("POST /_emulator/apps/{name}/client-secrets", s.adminCreateClientSecret)
	m.HandleFunc("GET /_emulator/clock", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"now": ts(s.now())})
	})
	m.HandleFunc("POST /_emulator/clock", s.adminClock)
	m.HandleFunc("POST /_emulator/apps", s.adminCreateApp)
	m.HandleFunc("GET /_emulator/apps/{name}", s.adminGetApp)
	m.Handle("/_emulator/faults/", s.faults.AdminHandler(Service))
	s.admin = m
}

// adminDecode reads a JSON body strictly: unknown fields are mistakes.
func adminDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, herr := readBody(r)
	if herr != nil {
		writeJSON(w, herr.status, errorBody{Message: herr.message})
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Message: "invalid JSON body: " + err.Error()})
		return false
	}
	return true
}

// adminError maps the Go-level sentinels to statuses.
func adminError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrRevoked):
		status = http.StatusConflict
	case errors.Is(err, ErrInvalid):
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, errorBody{Message: err.Error()})
}

func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	var in UserSpec
	if !adminDecode(w, r, &in) {
		return
	}
	if err := s.CreateUser(in.Login); err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

func (s *Server) adminCreateRepo(w http.ResponseWriter, r *http.Request) {
	var in RepoSpec
	if !adminDecode(w, r, &in) {
		return
	}
	if err := s.CreateRepo(in); err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

// createdToken is the one response that carries a token's value.
type createdToken struct {
	TokenInfo
	Value string `json:"value"`
}

func (s *Server) adminCreateToken(w http.ResponseWriter, r *http.Request) {
	var in TokenSpec
	if !adminDecode(w, r, &in) {
		return
	}
	tok, info, err := s.CreateToken(in.User, in)
	if err != nil {
		adminError(w, err)
		return
	}
	// ?output=value: the value alone, one line of text, for a pipe into
	// 'rotor rotate NAME --token-stdin' (the person pasting it).
	if r.URL.Query().Get("output") == "value" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintln(w, tok.Reveal())
		return
	}
	writeJSON(w, http.StatusCreated, createdToken{info, tok.Reveal()})
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errorBody{Message: "token " + strconv.Quote(r.PathValue("id")) + ": not found"})
		return 0, false
	}
	return id, true
}

func (s *Server) adminRegenerate(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	tok, info, err := s.Regenerate(id)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, createdToken{info, tok.Reveal()})
}

func (s *Server) adminDeleteToken(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := s.DeleteToken(id); err != nil {
		adminError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// createdApp is the one response that carries an app's private key.
type createdApp struct {
	AppInfo
	InstallationIDs []int64 `json:"installation_ids"`
	PrivateKeyPEM   string  `json:"private_key_pem"`
}

func (s *Server) adminCreateApp(w http.ResponseWriter, r *http.Request) {
	var in AppSpec
	if !adminDecode(w, r, &in) {
		return
	}
	info, keyPEM, err := s.CreateApp(in)
	if err != nil {
		adminError(w, err)
		return
	}
	ids := []int64{}
	for _, in := range info.Installations {
		ids = append(ids, in.ID)
	}
	writeJSON(w, http.StatusCreated, createdApp{info, ids, string(keyPEM)})
}

func (s *Server) adminGetApp(w http.ResponseWriter, r *http.Request) {
	info, err := s.DescribeApp(r.PathValue("name"))
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) adminCreateOrg(w http.ResponseWriter, r *http.Request) {
	var in OrgSpec
	if !adminDecode(w, r, &in) {
		return
	}
	if err := s.CreateOrg(in); err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

func (s *Server) adminRotateSecretKey(w http.ResponseWriter, r *http.Request) {
	var in SecretScope
	if !adminDecode(w, r, &in) {
		return
	}
	id, err := s.RotateSecretKey(in)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"key_id": id})
}

// adminDevice plays the person at the verification page: approve
// {user_code, login} or deny {user_code}.
func (s *Server) adminDevice(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UserCode string `json:"user_code"`
			Login    string `json:"login"`
		}
		if !adminDecode(w, r, &in) {
			return
		}
		var err error
		if approve {
			err = s.ApproveDevice(in.UserCode, in.Login)
		} else {
			err = s.DenyDevice(in.UserCode)
		}
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

// adminCreateUserToken issues a user token pair {app, login} as the web
// flow would; the only time the values are shown.
func (s *Server) adminCreateUserToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		App   string `json:"app"`
		Login string `json:"login"`
	}
	if !adminDecode(w, r, &in) {
		return
	}
	access, refresh, err := s.CreateUserToken(in.App, in.Login)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"access_token": access.Reveal(), "expires_in": int(userTokenTTL.Seconds()),
		"refresh_token": refresh.Reveal(), "refresh_token_expires_in": int(refreshTokenTTL.Seconds()),
	})
}

func (s *Server) adminCreateClientSecret(w http.ResponseWriter, r *http.Request) {
	v, err := s.CreateClientSecret(r.PathValue("name"))
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"client_secret": v})
}

// adminClock moves the emulator's clock: {"advance": "8h"} (a Go duration
// or days, "30d").
func (s *Server) adminClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Advance Duration `json:"advance"`
	}
	if !adminDecode(w, r, &in) {
		return
	}
	now, err := s.Advance(in.Advance.Duration)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"now": ts(now)})
}
