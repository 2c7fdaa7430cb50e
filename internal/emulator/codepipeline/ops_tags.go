package codepipeline

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

type listTagsInput struct {
	ResourceArn string `json:"resourceArn"`
	NextToken   string `json:"nextToken"`
	MaxResults  *int   `json:"maxResults"`
}

type tagInput struct {
	ResourceArn string `json:"resourceArn"`
	Tags        []Tag  `json:"tags"`
}

type untagInput struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

// arnName is the pipeline name at the end of a pipeline ARN.
func arnName(arn string) string {
	return arn[strings.LastIndex(arn, ":")+1:]
}

// tagged resolves a resource ARN to a pipeline of this account and region.
func (s *Server) tagged(arn string) (*pipeline, *apiError) {
	var v violations
	v.check(arn, "resourceArn", ruleArn)
	if err := v.err(); err != nil {
		return nil, err
	}
	parts := strings.SplitN(arn, ":", 6) // arn aws codepipeline region account name
	if len(parts) != 6 {
		return nil, newError(http.StatusBadRequest, typeInvalidArn, "The ARN %s is not a pipeline ARN", clip(arn))
	}
	region, account, name := parts[3], parts[4], parts[5]
	if region != s.region || account != s.account {
		return nil, errResourceNotFound(account, name)
	}
	p := s.lookup(name)
	if p == nil {
		return nil, errResourceNotFound(account, name)
	}
	return p, nil
}

func (s *Server) listTags(_ context.Context, in *listTagsInput) (any, *apiError) {
	var v violations
	v.check(in.NextToken, "nextToken", ruleNextToken)
	v.checkRange(in.MaxResults, "maxResults", 1, 100)
	if err := v.err(); err != nil {
		return nil, err
	}
	p, err := s.tagged(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	tags := slices.Clone(p.tags)
	p.mu.Unlock()
	start := 0
	if in.NextToken != "" {
		n, perr := strconv.Atoi(in.NextToken)
		if perr != nil || n < 0 || n > len(tags) {
			return nil, newError(http.StatusBadRequest, typeInvalidNextToken, "The next token is not valid: use the nextToken of the previous ListTagsForResource response")
		}
		start = n
	}
	end := len(tags)
	if in.MaxResults != nil {
		end = min(start+*in.MaxResults, len(tags))
	}
	out := struct {
		Tags      []Tag  `json:"tags"`
		NextToken string `json:"nextToken,omitempty"`
	}{Tags: append([]Tag{}, tags[start:end]...)}
	if end < len(tags) {
		out.NextToken = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) tagResource(_ context.Context, in *tagInput) (any, *apiError) {
	if in.Tags == nil {
		var v violations
		v.add(nil, "tags", "Member must not be null")
		return nil, v.err()
	}
	if err := validateTags(in.Tags, "tags"); err != nil {
		return nil, err
	}
	p, err := s.tagged(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	merged := mergeTags(p.tags, in.Tags)
	if len(merged) > maxTags {
		return nil, newError(http.StatusBadRequest, typeTooManyTags, "Tag limit exceeded for resource [%s].", p.arn)
	}
	p.tags = merged
	return struct{}{}, nil
}

func (s *Server) untagResource(_ context.Context, in *untagInput) (any, *apiError) {
	if in.TagKeys == nil {
		var v violations
		v.add(nil, "tagKeys", "Member must not be null")
		return nil, v.err()
	}
	p, err := s.tagged(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		if strings.HasPrefix(k, "aws:") {
			return nil, errSystemTags
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tags = slices.DeleteFunc(slices.Clone(p.tags), func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	return struct{}{}, nil
}

// mergeTags sets each of add on tags (a later value for a key wins) and
// keeps the result sorted by key.
func mergeTags(tags, add []Tag) []Tag {
	out := slices.Clone(tags)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return out
}
