package awsaccounts

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// stsVersion is the only API version of STS.
const stsVersion = "2011-06-15"

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// stsOperations are the STS actions served.
var stsOperations = map[string]func(*Server, *http.Request, Caller) (any, *AuthError){
	"AssumeRole":        (*Server).assumeRole,
	"GetCallerIdentity": (*Server).getCallerIdentity,
}

// maxQueryBody bounds an STS request; AssumeRole with a session policy is
// a few KiB.
const maxQueryBody = 64 << 10

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeQueryError(w, &AuthError{Status: http.StatusBadRequest, Code: "InvalidAction", Message: "STS is POST / or GET / with an Action"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxQueryBody)
	if err := r.ParseForm(); err != nil {
		writeQueryError(w, &AuthError{Status: http.StatusBadRequest, Code: "MalformedQueryString", Message: "The request body could not be read as a form"})
		return
	}
	action := r.Form.Get("Action")
	if action == "" {
		writeQueryError(w, &AuthError{Status: http.StatusBadRequest, Code: "MissingAction", Message: "Missing Action"})
		return
	}
	op := stsOperations[action]
	if v := r.Form.Get("Version"); op == nil || v != stsVersion {
		writeQueryError(w, &AuthError{Status: http.StatusBadRequest, Code: "InvalidAction",
			Message: fmt.Sprintf("Could not find operation %s for version %s", clip(action), clip(v))})
		return
	}
	if r.Header.Get("Authorization") == "" && r.Form.Get("X-Amz-Credential") == "" {
		writeQueryError(w, &AuthError{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"})
		return
	}
	if status, code, msg := s.decide(r.Context(), ServiceSTS, action); code != "" {
		writeQueryError(w, &AuthError{Status: status, Code: code, Message: msg})
		return
	}
	caller, aerr := s.dir.Resolve(r)
	if aerr != nil {
		writeQueryError(w, aerr)
		return
	}
	result, aerr := op(s, r, caller)
	if aerr != nil {
		s.log.Debug("sts emulator: error", "action", action, "code", aerr.Code)
		writeQueryError(w, aerr)
		return
	}
	b, err := xml.Marshal(result)
	if err != nil {
		writeQueryError(w, &AuthError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "An internal error occurred"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// writeQueryError answers as the Query protocol does: an ErrorResponse
// with Type (Sender for a client's mistake, Receiver for the service's),
// Code and Message.
func writeQueryError(w http.ResponseWriter, e *AuthError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	b, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{Xmlns: stsNamespace, Error: struct{ Type, Code, Message string }{typ, e.Code, e.Message}, RequestID: w.Header().Get("X-Amzn-Requestid")})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// Patterns and ranges of the STS model (sts 2011-06-15).
var (
	reSessionName = regexp.MustCompile(`^[\w+=,.@-]*$`)
	reExternalID  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
)

// stsViolations renders model violations as the AWS front end does.
type stsViolations []string

func (v *stsViolations) add(value *string, at, constraint string) {
	val := "null"
	if value != nil {
		val = "'" + clip(*value) + "'"
	}
	*v = append(*v, "Value "+val+" at '"+at+"' failed to satisfy constraint: "+constraint)
}

func (v *stsViolations) check(form map[string][]string, name, at string, required bool, min, max int, re *regexp.Regexp) {
	vals, ok := form[name]
	if !ok || len(vals) == 0 {
		if required {
			v.add(nil, at, "Member must not be null")
		}
		return
	}
	s := vals[0]
	n := utf8.RuneCountInString(s)
	if n < min {
		v.add(&s, at, "Member must have length greater than or equal to "+strconv.Itoa(min))
	}
	if max > 0 && n > max {
		v.add(&s, at, "Member must have length less than or equal to "+strconv.Itoa(max))
	}
	if re != nil && !re.MatchString(s) {
		v.add(&s, at, "Member must satisfy regular expression pattern: "+strings.TrimSuffix(strings.TrimPrefix(re.String(), "^"), "$"))
	}
}

func (v stsViolations) err() *AuthError {
	if len(v) == 0 {
		return nil
	}
	return &AuthError{Status: http.StatusBadRequest, Code: "ValidationError",
		Message: fmt.Sprintf("%d validation error%s detected: %s", len(v), map[bool]string{true: "s"}[len(v) > 1], strings.Join(v, "; "))}
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
			Expiration      string
		}
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string
		}
		PackedPolicySize int `xml:",omitempty"`
	} `xml:"AssumeRoleResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

// assumeRole issues temporary credentials for a role whose trust policy
// allows the caller (with the external id it names, if any). Session
// policies (Policy, PolicyArns) are accepted and not applied.
func (s *Server) assumeRole(r *http.Request, c Caller) (any, *AuthError) {
	var v stsViolations
	v.check(r.Form, "RoleArn", "roleArn", true, 20, 2048, nil)
	v.check(r.Form, "RoleSessionName", "roleSessionName", true, 2, 64, reSessionName)
	v.check(r.Form, "ExternalId", "externalId", false, 2, 1224, reExternalID)
	duration := time.Hour
	if ds := r.Form.Get("DurationSeconds"); ds != "" {
		n, err := strconv.Atoi(ds)
		switch {
		case err != nil:
			v.add(&ds, "durationSeconds", "Member must be an integer")
		case n < 900:
			v.add(&ds, "durationSeconds", "Member must have value greater than or equal to 900")
		case n > 43200:
			v.add(&ds, "durationSeconds", "Member must have value less than or equal to 43200")
		default:
			duration = time.Duration(n) * time.Second
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	sess, err := s.dir.assume(c, r.Form.Get("RoleArn"), r.Form.Get("RoleSessionName"), r.Form.Get("ExternalId"), duration)
	if err != nil {
		return nil, err
	}
	out := assumeRoleResponse{Xmlns: stsNamespace}
	out.Result.Credentials.AccessKeyID = sess.AccessKeyID
	out.Result.Credentials.SecretAccessKey = randomToken(40)
	out.Result.Credentials.SessionToken = sess.SessionToken
	out.Result.Credentials.Expiration = sess.Expires.UTC().Format(time.RFC3339)
	out.Result.AssumedRoleUser.AssumedRoleID = sess.RoleID + ":" + sess.Name
	out.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + sess.Account + ":assumed-role/" + sess.Role + "/" + sess.Name
	out.Metadata.RequestID = newRequestID()
	return out, nil
}

type callerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string
		UserID  string `xml:"UserId"`
		Account string
	} `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

func (s *Server) getCallerIdentity(_ *http.Request, c Caller) (any, *AuthError) {
	out := callerIdentityResponse{Xmlns: stsNamespace}
	out.Result.Arn, out.Result.UserID, out.Result.Account = c.Arn, c.UserID, c.Account
	out.Metadata.RequestID = newRequestID()
	return out, nil
}
