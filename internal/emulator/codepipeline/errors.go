package codepipeline

import (
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error answered on the wire as AWS JSON 1.1 does:
// {"__type": Type, "message": Message} with an HTTP status.
type apiError struct {
	Status  int
	Type    string
	Message string
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func newError(status int, typ, format string, args ...any) *apiError {
	return &apiError{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// The error types the emulator answers with; the names are the model's.
const (
	typeValidation        = "ValidationException"
	typeSerialization     = "SerializationException"
	typeUnknownOperation  = "UnknownOperationException"
	typeMissingAuth       = "MissingAuthenticationTokenException"
	typeThrottling        = "ThrottlingException"
	typeInternalFailure   = "InternalFailure"
	typeEntityTooLarge    = "RequestEntityTooLargeException"
	typePipelineNotFound  = "PipelineNotFoundException"
	typeVersionNotFound   = "PipelineVersionNotFoundException"
	typeExecutionNotFound = "PipelineExecutionNotFoundException"
	typeNameInUse         = "PipelineNameInUseException"
	typeResourceNotFound  = "ResourceNotFoundException"
	typeInvalidStructure  = "InvalidStructureException"
	typeInvalidStage      = "InvalidStageDeclarationException"
	typeInvalidAction     = "InvalidActionDeclarationException"
	typeInvalidNextToken  = "InvalidNextTokenException"
	typeInvalidTags       = "InvalidTagsException"
	typeTooManyTags       = "TooManyTagsException"
	typeInvalidArn        = "InvalidArnException"
	typeLimitExceeded     = "LimitExceededException"
)

func errPipelineNotFound(account, name string) *apiError {
	return newError(http.StatusBadRequest, typePipelineNotFound,
		"Account '%s' does not have a pipeline with name '%s'", account, name)
}

// errUpdateNotFound is UpdatePipeline's answer for a pipeline that does not
// exist. The model declares no not-found error for UpdatePipeline, only
// ValidationException among the ones that fit; moto answers
// ResourceNotFoundException, which the model does not declare for it (the
// conformance check found the emulator answering that too).
func errUpdateNotFound(account, name string) *apiError {
	return newError(http.StatusBadRequest, typeValidation,
		"Account '%s' does not have a pipeline with name '%s'", account, name)
}

// errResourceNotFound is what the tag operations answer for a pipeline that
// does not exist.
func errResourceNotFound(account, name string) *apiError {
	return newError(http.StatusBadRequest, typeResourceNotFound,
		"The account with id '%s' does not include a pipeline with the name '%s'", account, name)
}

func structureError(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, typeInvalidStructure, format, args...)
}

func stageError(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, typeInvalidStage, format, args...)
}

func actionError(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, typeInvalidAction, format, args...)
}

// violations collects model-constraint failures and renders them the way the
// AWS front end does: "2 validation errors detected: Value 'x' at 'a.b'
// failed to satisfy constraint: Member must …; Value …".
type violations []string

func (v *violations) add(value *string, at, constraint string) {
	var b strings.Builder
	switch {
	case value == nil:
		b.WriteString("Value null")
	default:
		b.WriteString("Value '")
		b.WriteString(clip(*value))
		b.WriteString("'")
	}
	b.WriteString(" at '")
	b.WriteString(at)
	b.WriteString("' failed to satisfy constraint: ")
	b.WriteString(constraint)
	*v = append(*v, b.String())
}

// addHidden records a violation without the value (configuration values may
// be secrets; AWS leaves map values out too).
func (v *violations) addHidden(at, constraint string) {
	*v = append(*v, "Value at '"+at+"' failed to satisfy constraint: "+constraint)
}

func (v violations) err() *apiError {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return newError(http.StatusBadRequest, typeValidation, "1 validation error detected: %s", v[0])
	}
	return newError(http.StatusBadRequest, typeValidation, "%d validation errors detected: %s", len(v), strings.Join(v, "; "))
}

// clip keeps error messages bounded whatever a client sends.
func clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
