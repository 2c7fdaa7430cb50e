package codeconnections

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The model's constraints (codeconnections 2023-12-01; codestar-connections
// 2019-12-01 has the same shapes).
var (
	reConnectionArn = regexp.MustCompile(`^arn:aws(-[\w]+)*:.+:.+:[0-9]{12}:.+$`)
	reHostArn       = regexp.MustCompile(`^arn:aws(-[\w]+)*:(codestar-connections|codeconnections):.+:[0-9]{12}:host/.+$`)
	providerTypes   = []string{"Bitbucket", "GitHub", "GitHubEnterpriseServer", "GitLab", "GitLabSelfManaged", "AzureDevOps"}
)

// violations renders model-constraint failures as AWS's front end does.
type violations []string

func (v *violations) add(value *string, at, constraint string) {
	val := "null"
	if value != nil {
		val = "'" + clip(*value) + "'"
	}
	*v = append(*v, "Value "+val+" at '"+at+"' failed to satisfy constraint: "+constraint)
}

func (v *violations) str(value, at string, required bool, min, max int, re *regexp.Regexp, enum []string) {
	if value == "" {
		if required {
			v.add(nil, at, "Member must not be null")
		}
		return
	}
	n := utf8.RuneCountInString(value)
	if n < min {
		v.add(&value, at, "Member must have length greater than or equal to "+strconv.Itoa(min))
	}
	if max > 0 && n > max {
		v.add(&value, at, "Member must have length less than or equal to "+strconv.Itoa(max))
	}
	if re != nil && !re.MatchString(value) {
		v.add(&value, at, "Member must satisfy regular expression pattern: "+strings.TrimSuffix(strings.TrimPrefix(re.String(), "^"), "$"))
	}
	if enum != nil && !slices.Contains(enum, value) {
		v.add(&value, at, "Member must satisfy enum value set: ["+strings.Join(enum, ", ")+"]")
	}
}

func (v *violations) tags(tags []Tag, at string) {
	if len(tags) > 200 {
		v.add(nil, at, "Member must have length less than or equal to 200")
	}
	for i, t := range tags {
		v.str(t.Key, fmt.Sprintf("%s.%d.member.key", at, i+1), true, 1, 128, nil, nil)
		if utf8.RuneCountInString(t.Value) > 256 {
			v.add(&t.Value, fmt.Sprintf("%s.%d.member.value", at, i+1), "Member must have length less than or equal to 256")
		}
	}
}

func (v violations) err() *apiError {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return errorf(http.StatusBadRequest, "ValidationException", "1 validation error detected: %s", v[0])
	}
	return errorf(http.StatusBadRequest, "ValidationException", "%d validation errors detected: %s", len(v), strings.Join(v, "; "))
}

type connectionOut struct {
	ConnectionName   string `json:"ConnectionName"`
	ConnectionArn    string `json:"ConnectionArn"`
	ProviderType     string `json:"ProviderType"`
	OwnerAccountID   string `json:"OwnerAccountId"`
	ConnectionStatus string `json:"ConnectionStatus"`
	HostArn          string `json:"HostArn,omitempty"`
}

func (c *connection) out() connectionOut {
	return connectionOut{c.Name, c.Arn, c.ProviderType, c.Account, c.Status, c.HostArn}
}

// lookup finds a connection the caller's account and region hold; call
// with s.mu held.
func (s *Server) lookup(c call, arn string) *connection {
	conn := s.connections[arn]
	if conn == nil || conn.Account != c.account || conn.Region != c.region {
		return nil
	}
	return conn
}

type createInput struct {
	ProviderType   string
	ConnectionName string
	Tags           []Tag
	HostArn        string
}

func (s *Server) createConnection(c call, in *createInput) (any, *apiError) {
	var v violations
	v.str(in.ProviderType, "providerType", false, 0, 0, nil, providerTypes)
	v.str(in.ConnectionName, "connectionName", true, 1, 32, nil, nil)
	v.str(in.HostArn, "hostArn", false, 0, 256, reHostArn, nil)
	v.tags(in.Tags, "tags")
	if err := v.err(); err != nil {
		return nil, err
	}
	switch {
	case in.HostArn != "":
		// Hosts (GitHub Enterprise Server, GitLab self-managed) are not
		// modelled: no host exists.
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Host %s does not exist", clip(in.HostArn))
	case in.ProviderType == "":
		return nil, errorf(http.StatusBadRequest, "ValidationException", "ProviderType or HostArn is required")
	case in.ProviderType == providerGitHubEntSv:
		return nil, errorf(http.StatusBadRequest, "ValidationException", "A connection to GitHub Enterprise Server needs a HostArn")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, conn := range s.connections {
		if conn.Account == c.account && conn.Region == c.region {
			n++
		}
	}
	if n >= maxConnections {
		return nil, errorf(http.StatusBadRequest, "LimitExceededException", "Maximum number of connections (%d) reached for account %s in region %s", maxConnections, c.account, c.region)
	}
	conn := &connection{Name: in.ConnectionName, ProviderType: in.ProviderType, Account: c.account, Region: c.region,
		Status: statusPending, Tags: slices.Clone(in.Tags), Created: s.now().UTC(),
		Arn: fmt.Sprintf("arn:aws:%s:%s:%s:connection/%s", c.arnService(), c.region, c.account, newID())}
	s.connections[conn.Arn] = conn
	tags := conn.Tags
	if tags == nil {
		tags = []Tag{}
	}
	return struct {
		ConnectionArn string `json:"ConnectionArn"`
		Tags          []Tag  `json:"Tags"`
	}{conn.Arn, tags}, nil
}

type arnInput struct {
	ConnectionArn string
}

func checkArn(arn, at string) *apiError {
	var v violations
	v.str(arn, at, true, 0, 256, reConnectionArn, nil)
	return v.err()
}

func (s *Server) getConnection(c call, in *arnInput) (any, *apiError) {
	if err := checkArn(in.ConnectionArn, "connectionArn"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn := s.lookup(c, in.ConnectionArn)
	if conn == nil {
		return nil, notFound(in.ConnectionArn)
	}
	return struct {
		Connection connectionOut `json:"Connection"`
	}{conn.out()}, nil
}

func (s *Server) deleteConnection(c call, in *arnInput) (any, *apiError) {
	if err := checkArn(in.ConnectionArn, "connectionArn"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(c, in.ConnectionArn) == nil {
		return nil, notFound(in.ConnectionArn)
	}
	delete(s.connections, in.ConnectionArn)
	return struct{}{}, nil
}

type listInput struct {
	ProviderTypeFilter string
	HostArnFilter      string
	MaxResults         *int
	NextToken          string
}

func (s *Server) listConnections(c call, in *listInput) (any, *apiError) {
	var v violations
	v.str(in.ProviderTypeFilter, "providerTypeFilter", false, 0, 0, nil, providerTypes)
	v.str(in.HostArnFilter, "hostArnFilter", false, 0, 256, reHostArn, nil)
	v.str(in.NextToken, "nextToken", false, 1, 1024, nil, nil)
	if in.MaxResults != nil && (*in.MaxResults < 0 || *in.MaxResults > 100) {
		n := strconv.Itoa(*in.MaxResults)
		v.add(&n, "maxResults", "Member must have value between 0 and 100")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil && *in.MaxResults > 0 {
		limit = *in.MaxResults
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || !strings.HasPrefix(string(b), "arn:") {
			return nil, errorf(http.StatusBadRequest, "ValidationException", "The next token is not valid: use the NextToken of the previous ListConnections response")
		}
		after = string(b)
	}
	s.mu.Lock()
	var all []*connection
	for _, conn := range s.connections {
		if conn.Account != c.account || conn.Region != c.region {
			continue
		}
		if in.ProviderTypeFilter != "" && conn.ProviderType != in.ProviderTypeFilter || in.HostArnFilter != "" && conn.HostArn != in.HostArnFilter {
			continue
		}
		all = append(all, conn)
	}
	slices.SortFunc(all, func(a, b *connection) int { return strings.Compare(a.Arn, b.Arn) })
	out := struct {
		Connections []connectionOut `json:"Connections"`
		NextToken   string          `json:"NextToken,omitempty"`
	}{Connections: []connectionOut{}}
	for _, conn := range all {
		if conn.Arn <= after {
			continue
		}
		if len(out.Connections) == limit {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(out.Connections[limit-1].ConnectionArn))
			break
		}
		out.Connections = append(out.Connections, conn.out())
	}
	s.mu.Unlock()
	return out, nil
}

type tagsInput struct {
	ResourceArn string
	Tags        []Tag
	TagKeys     []string
}

func (s *Server) tagged(c call, in *tagsInput) (*connection, *apiError) {
	var v violations
	v.str(in.ResourceArn, "resourceArn", true, 1, 1011, reConnectionArn, nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	conn := s.lookup(c, in.ResourceArn)
	if conn == nil {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Resource %s does not exist", clip(in.ResourceArn))
	}
	return conn, nil
}

func (s *Server) listTags(c call, in *tagsInput) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.tagged(c, in)
	if err != nil {
		return nil, err
	}
	tags := slices.Clone(conn.Tags)
	if tags == nil {
		tags = []Tag{}
	}
	return struct {
		Tags []Tag `json:"Tags"`
	}{tags}, nil
}

func (s *Server) tagResource(c call, in *tagsInput) (any, *apiError) {
	var v violations
	if in.Tags == nil {
		v.add(nil, "tags", "Member must not be null")
	}
	v.tags(in.Tags, "tags")
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.tagged(c, in)
	if err != nil {
		return nil, err
	}
	tags := slices.Clone(conn.Tags)
	for _, t := range in.Tags {
		if i := slices.IndexFunc(tags, func(x Tag) bool { return x.Key == t.Key }); i >= 0 {
			tags[i] = t
		} else {
			tags = append(tags, t)
		}
	}
	if len(tags) > 200 {
		return nil, errorf(http.StatusBadRequest, "LimitExceededException", "A connection can have at most 200 tags")
	}
	conn.Tags = tags
	return struct{}{}, nil
}

func (s *Server) untagResource(c call, in *tagsInput) (any, *apiError) {
	var v violations
	if in.TagKeys == nil {
		v.add(nil, "tagKeys", "Member must not be null")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.tagged(c, in)
	if err != nil {
		return nil, err
	}
	conn.Tags = slices.DeleteFunc(slices.Clone(conn.Tags), func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	return struct{}{}, nil
}
