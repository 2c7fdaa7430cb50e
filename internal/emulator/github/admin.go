package github

import (
	"bytes"
	"encoding/json"
	"errors"
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
