package github

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Documentation URLs GitHub puts in error bodies. go-github tells a secondary
// rate limit by the suffix "secondary-rate-limits".
const (
	docREST          = "https://docs.github.com/rest"
	docPrimaryRate   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#primary-rate-limit"
	docSecondaryRate = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docRevoke        = "https://docs.github.com/rest/credentials/revoke#revoke-a-list-of-credentials"
	docInstToken     = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
	docGetUser       = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
)

// Messages GitHub sends, word for word where known.
const (
	msgBadCredentials   = "Bad credentials"
	msgNotFound         = "Not Found"
	msgRequiresAuth     = "Requires authentication"
	msgNotByIntegration = "Resource not accessible by integration"
	msgBadJSON          = "Problems parsing JSON"
	msgJWTDecode        = "A JSON web token could not be decoded"
	msgJWTExpired       = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	msgJWTTooFar        = "'Expiration time' claim ('exp') is too far in the future"
	msgJWTIssuedAt      = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	msgIntegration      = "Integration not found"
	msgSecondary        = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)

type errorBody struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"Internal Server Error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, message, doc string) {
	writeJSON(w, status, errorBody{Message: message, DocumentationURL: doc})
}

func writeMessage(w http.ResponseWriter, status int, message string) {
	writeError(w, status, message, docREST)
}

func writeNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, msgNotFound, docREST)
}

func writeHTTPError(w http.ResponseWriter, e *httpError) {
	writeMessage(w, e.status, e.message)
}

// decodeJSON reads a request body into v the way GitHub does: malformed
// JSON is 400 "Problems parsing JSON", a value of the wrong type is 422.
func decodeJSON(r *http.Request, v any) *httpError {
	b, herr := readBody(r)
	if herr != nil {
		return herr
	}
	return decodeBytes(b, v)
}

func decodeBytes(b []byte, v any) *httpError {
	if err := json.Unmarshal(b, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return &httpError{http.StatusUnprocessableEntity,
				fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', %s is not a %s.", te.Field, te.Value, jsonKind(te.Type.Kind().String()))}
		}
		return &httpError{http.StatusBadRequest, msgBadJSON}
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	}
	return "integer"
}

// ts formats a time as GitHub does in JSON bodies.
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }
