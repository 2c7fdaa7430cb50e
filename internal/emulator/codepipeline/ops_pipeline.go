package codepipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"unicode/utf8"
)

// defaultPageSize is how many pipelines ListPipelines returns without
// maxResults.
const defaultPageSize = 100

type createInput struct {
	Pipeline *Declaration `json:"pipeline"`
	Tags     []Tag        `json:"tags"`
}

type updateInput struct {
	Pipeline *Declaration `json:"pipeline"`
}

type nameInput struct {
	Name    string `json:"name"`
	Version *int   `json:"version"`
}

type listInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int   `json:"maxResults"`
}

type metadata struct {
	PipelineArn string `json:"pipelineArn"`
	Created     epoch  `json:"created"`
	Updated     epoch  `json:"updated"`
}

type pipelineSummary struct {
	Name          string `json:"name"`
	Version       int    `json:"version"`
	PipelineType  string `json:"pipelineType"`
	ExecutionMode string `json:"executionMode"`
	Created       epoch  `json:"created"`
	Updated       epoch  `json:"updated"`
}

// checkDeclaration validates a Create or Update input's declaration.
func checkDeclaration(d *Declaration) *apiError {
	if d == nil {
		var v violations
		v.add(nil, "pipeline", "Member must not be null")
		return v.err()
	}
	d.normalise()
	return validateDeclaration(d)
}

func (s *Server) createPipeline(_ context.Context, in *createInput) (any, *apiError) {
	if err := checkDeclaration(in.Pipeline); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags, "tags"); err != nil {
		return nil, err
	}
	if len(in.Tags) > maxTags {
		return nil, newError(http.StatusBadRequest, typeTooManyTags, "Tag limit exceeded for resource [%s].", s.arn(in.Pipeline.Name))
	}
	now := s.now()
	p, err := s.newPipeline(*in.Pipeline, now)
	if err != nil {
		return nil, internal(err)
	}
	p.tags = mergeTags(nil, in.Tags)
	if err := s.insert(p); err != nil {
		return nil, err
	}
	// AWS starts a pipeline as soon as it is created.
	s.start(p, "CreatePipeline", "")
	tags := in.Tags
	if tags == nil {
		tags = []Tag{}
	}
	return struct {
		Pipeline json.RawMessage `json:"pipeline"`
		Tags     []Tag           `json:"tags"`
	}{p.cur.Load().masked, tags}, nil
}

func (s *Server) getPipeline(_ context.Context, in *nameInput) (any, *apiError) {
	var v violations
	v.check(in.Name, "name", ruleName)
	v.checkRange(in.Version, "version", 1, 0)
	if err := v.err(); err != nil {
		return nil, err
	}
	p := s.lookup(in.Name)
	if p == nil {
		return nil, errPipelineNotFound(s.account, in.Name)
	}
	r := p.cur.Load()
	decl := r.masked
	if in.Version != nil && *in.Version != r.version {
		var ok bool
		if decl, ok = p.version(*in.Version); !ok {
			return nil, newError(http.StatusBadRequest, typeVersionNotFound,
				"Pipeline '%s' has no version %d (its current version is %d)", in.Name, *in.Version, r.version)
		}
	}
	return struct {
		Pipeline json.RawMessage `json:"pipeline"`
		Metadata metadata        `json:"metadata"`
	}{decl, metadata{p.arn, epoch(p.created), epoch(r.updated)}}, nil
}

// updatePipeline replaces the declaration. The version a caller sends is
// ignored: the stored version goes up by exactly one, as AWS does. It stops
// the executions in progress (see pipeline.update).
func (s *Server) updatePipeline(_ context.Context, in *updateInput) (any, *apiError) {
	if err := checkDeclaration(in.Pipeline); err != nil {
		return nil, err
	}
	p := s.lookup(in.Pipeline.Name)
	if p == nil {
		return nil, errUpdateNotFound(s.account, in.Pipeline.Name)
	}
	r, u, ok, err := p.update(*in.Pipeline, s.now())
	switch {
	case err != nil:
		return nil, internal(err)
	case !ok:
		return nil, errUpdateNotFound(s.account, in.Pipeline.Name)
	}
	s.updates.add(u)
	if len(u.Stopped) > 0 {
		s.log.Debug("codepipeline emulator: update stopped executions", "pipeline", p.name, "version", u.Version, "stopped", len(u.Stopped))
	}
	return struct {
		Pipeline json.RawMessage `json:"pipeline"`
	}{r.masked}, nil
}

func (s *Server) listPipelines(_ context.Context, in *listInput) (any, *apiError) {
	var v violations
	v.check(in.NextToken, "nextToken", ruleNextToken)
	v.checkRange(in.MaxResults, "maxResults", 1, 1000)
	if err := v.err(); err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 || !utf8.Valid(b) {
			return nil, newError(http.StatusBadRequest, typeInvalidNextToken, "The next token is not valid: use the nextToken of the previous ListPipelines response")
		}
		after = string(b)
	}
	limit := defaultPageSize
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	s.mu.RLock()
	i, found := slices.BinarySearch(s.names, after)
	if found {
		i++
	}
	page := make([]*pipeline, 0, min(limit, len(s.names)-i))
	for ; i < len(s.names) && len(page) < limit; i++ {
		page = append(page, s.pipelines[s.names[i]])
	}
	more := i < len(s.names)
	s.mu.RUnlock()

	out := struct {
		Pipelines []pipelineSummary `json:"pipelines"`
		NextToken string            `json:"nextToken,omitempty"`
	}{Pipelines: make([]pipelineSummary, len(page))}
	for n, p := range page {
		r := p.cur.Load()
		out.Pipelines[n] = pipelineSummary{
			Name: p.name, Version: r.version,
			PipelineType: r.decl.PipelineType, ExecutionMode: r.decl.ExecutionMode,
			Created: epoch(p.created), Updated: epoch(r.updated),
		}
	}
	if more && len(page) > 0 {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].name))
	}
	return out, nil
}

func (s *Server) deletePipeline(_ context.Context, in *nameInput) (any, *apiError) {
	var v violations
	v.check(in.Name, "name", ruleName)
	if err := v.err(); err != nil {
		return nil, err
	}
	s.remove(in.Name)
	return nil, nil
}

func internal(err error) *apiError {
	return newError(http.StatusInternalServerError, typeInternalFailure, "An internal error occurred: %s", err.Error())
}
