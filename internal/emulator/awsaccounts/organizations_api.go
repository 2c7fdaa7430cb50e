package awsaccounts

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// OrganizationsTargetPrefix starts every Organizations X-Amz-Target.
const OrganizationsTargetPrefix = "AWSOrganizationsV20161128."

type orgError struct {
	status       int
	typ, message string
	reason       string // InvalidInputException's Reason
}

type orgOp func(*Server, *organization, []byte) (any, *orgError)

var orgOperations = map[string]orgOp{
	"ListRoots":                        (*Server).listRoots,
	"ListOrganizationalUnitsForParent": (*Server).listUnits,
	"ListAccounts":                     (*Server).listAccounts,
	"ListAccountsForParent":            (*Server).listAccountsForParent,
}

func (s *Server) serveOrganizations(w http.ResponseWriter, r *http.Request, target string) {
	name, _ := strings.CutPrefix(target, OrganizationsTargetPrefix)
	op := orgOperations[name]
	if !strings.HasPrefix(target, OrganizationsTargetPrefix) || op == nil || r.Method != http.MethodPost || r.URL.Path != "/" {
		writeOrgError(w, &orgError{status: http.StatusBadRequest, typ: "UnknownOperationException", message: "Operation " + strconv.Quote(clip(target)) + " is not supported by this endpoint"})
		return
	}
	if r.Header.Get("Authorization") == "" {
		writeOrgError(w, &orgError{status: http.StatusBadRequest, typ: "MissingAuthenticationTokenException", message: "Missing Authentication Token"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueryBody))
	if err != nil {
		writeOrgError(w, &orgError{status: http.StatusBadRequest, typ: "SerializationException", message: "Could not read the request body"})
		return
	}
	if status, code, msg := s.decide(r.Context(), ServiceOrganizations, name); code != "" {
		writeOrgError(w, &orgError{status: status, typ: code, message: msg})
		return
	}
	caller, aerr := s.dir.Resolve(r)
	if aerr != nil {
		writeOrgError(w, &orgError{status: aerr.Status, typ: aerr.Code, message: aerr.Message})
		return
	}
	o := s.dir.org
	switch {
	case o == nil:
		writeOrgError(w, &orgError{status: http.StatusBadRequest, typ: "AWSOrganizationsNotInUseException", message: "Your account is not a member of an organization."})
		return
	case caller.Account != o.mgmt:
		// Only the management account (or a delegated administrator, not
		// modelled) may list the organisation.
		writeOrgError(w, &orgError{status: http.StatusBadRequest, typ: "AccessDeniedException", message: "You don't have permissions to access this resource."})
		return
	}
	out, oerr := op(s, o, body)
	if oerr != nil {
		writeOrgError(w, oerr)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeOrgError(w, &orgError{status: http.StatusInternalServerError, typ: "InternalFailure", message: "An internal error occurred"})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeOrgError(w http.ResponseWriter, e *orgError) {
	body := map[string]string{"__type": e.typ, "Message": e.message}
	if e.reason != "" {
		body["Reason"] = e.reason
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.typ)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

type pageInput struct {
	ParentID   string `json:"ParentId"`
	NextToken  string `json:"NextToken"`
	MaxResults *int   `json:"MaxResults"`
}

var reParentID = regexp.MustCompile(`^(?:r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)

func invalidInput(reason, msg string) *orgError {
	return &orgError{status: http.StatusBadRequest, typ: "InvalidInputException", message: msg, reason: reason}
}

// decodePage reads a List* input; needParent says whether ParentId is
// required. It returns the offset and page size.
func decodePage(body []byte, needParent bool) (pageInput, int, int, *orgError) {
	var in pageInput
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return in, 0, 0, &orgError{status: http.StatusBadRequest, typ: "SerializationException", message: "Cannot read member '" + te.Field + "'"}
			}
			return in, 0, 0, &orgError{status: http.StatusBadRequest, typ: "SerializationException", message: "Request body is not valid JSON"}
		}
	}
	if needParent {
		switch {
		case in.ParentID == "":
			return in, 0, 0, invalidInput("INPUT_REQUIRED", "You must specify a value for ParentId.")
		case len(in.ParentID) > 100 || !reParentID.MatchString(in.ParentID):
			return in, 0, 0, invalidInput("INVALID_PATTERN", "You specified an invalid value for ParentId.")
		}
	}
	limit := 20
	if in.MaxResults != nil {
		switch n := *in.MaxResults; {
		case n < 1:
			return in, 0, 0, invalidInput("MIN_VALUE_EXCEEDED", "You provided a value that is below the minimum allowed for MaxResults (1).")
		case n > 20:
			return in, 0, 0, invalidInput("MAX_VALUE_EXCEEDED", "You provided a value that exceeds the maximum allowed for MaxResults (20).")
		default:
			limit = n
		}
	}
	offset := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, aerr := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || aerr != nil || !strings.HasPrefix(string(b), "o:") || n < 0 {
			return in, 0, 0, invalidInput("INVALID_NEXT_TOKEN", "You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API.")
		}
		offset = n
	}
	return in, offset, limit, nil
}

// page cuts items[offset:offset+limit] and the token of what follows.
func page[T any](items []T, offset, limit int) ([]T, string) {
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+limit, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(end)))
	}
	return items[offset:end], next
}

type rootOut struct {
	ID          string     `json:"Id"`
	Arn         string     `json:"Arn"`
	Name        string     `json:"Name"`
	PolicyTypes []struct{} `json:"PolicyTypes"`
}

type unitOut struct {
	ID   string `json:"Id"`
	Arn  string `json:"Arn"`
	Name string `json:"Name"`
}

type accountOut struct {
	ID              string  `json:"Id"`
	Arn             string  `json:"Arn"`
	Email           string  `json:"Email"`
	Name            string  `json:"Name"`
	Status          string  `json:"Status"`
	State           string  `json:"State"`
	JoinedMethod    string  `json:"JoinedMethod"`
	JoinedTimestamp float64 `json:"JoinedTimestamp"`
}

func (s *Server) listRoots(o *organization, body []byte) (any, *orgError) {
	_, offset, limit, err := decodePage(body, false)
	if err != nil {
		return nil, err
	}
	roots, next := page([]rootOut{{ID: o.root.id, Arn: o.arn("root", o.root.id), Name: o.root.name, PolicyTypes: []struct{}{}}}, offset, limit)
	return struct {
		Roots     []rootOut `json:"Roots"`
		NextToken string    `json:"NextToken,omitempty"`
	}{roots, next}, nil
}

func (s *Server) listUnits(o *organization, body []byte) (any, *orgError) {
	in, offset, limit, err := decodePage(body, true)
	if err != nil {
		return nil, err
	}
	if !o.parentExists(in.ParentID) {
		return nil, &orgError{status: http.StatusBadRequest, typ: "ParentNotFoundException", message: "We can't find a root or OU with the ParentId that you specified."}
	}
	var all []unitOut
	for _, u := range o.units {
		if u.parent == in.ParentID {
			all = append(all, unitOut{ID: u.id, Arn: o.arn("ou", u.id), Name: u.name})
		}
	}
	units, next := page(all, offset, limit)
	if units == nil {
		units = []unitOut{}
	}
	return struct {
		OrganizationalUnits []unitOut `json:"OrganizationalUnits"`
		NextToken           string    `json:"NextToken,omitempty"`
	}{units, next}, nil
}

func (o *organization) accountsUnder(parent string) []accountOut {
	out := []accountOut{}
	for _, a := range o.accounts {
		if parent != "" && a.parent != parent {
			continue
		}
		method := "CREATED"
		if a.id == o.mgmt {
			method = "INVITED" // the management account created the organisation; AWS lists it INVITED
		}
		out = append(out, accountOut{ID: a.id, Arn: o.arn("account", a.id), Email: a.email, Name: a.name,
			Status: "ACTIVE", State: "ACTIVE", JoinedMethod: method, JoinedTimestamp: float64(a.joined.Truncate(time.Second).Unix())})
	}
	return out
}

func (s *Server) listAccounts(o *organization, body []byte) (any, *orgError) {
	_, offset, limit, err := decodePage(body, false)
	if err != nil {
		return nil, err
	}
	accts, next := page(o.accountsUnder(""), offset, limit)
	return struct {
		Accounts  []accountOut `json:"Accounts"`
		NextToken string       `json:"NextToken,omitempty"`
	}{accts, next}, nil
}

func (s *Server) listAccountsForParent(o *organization, body []byte) (any, *orgError) {
	in, offset, limit, err := decodePage(body, true)
	if err != nil {
		return nil, err
	}
	if !o.parentExists(in.ParentID) {
		return nil, &orgError{status: http.StatusBadRequest, typ: "ParentNotFoundException", message: "We can't find a root or OU with the ParentId that you specified."}
	}
	accts, next := page(o.accountsUnder(in.ParentID), offset, limit)
	return struct {
		Accounts  []accountOut `json:"Accounts"`
		NextToken string       `json:"NextToken,omitempty"`
	}{accts, next}, nil
}
