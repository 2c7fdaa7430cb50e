package awsaccounts

import (
	"net/http"
	"strings"
)

// Credential is the SigV4 credential scope of a request: who signed it,
// for which region and service.
type Credential struct {
	AccessKeyID string
	Date        string // yyyymmdd
	Region      string
	Service     string // the signing name: "codepipeline", "sts", "codestar-connections"
}

// ParseCredential reads the credential scope from the Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=…, Signature=…") or, for presigned requests, the
// X-Amz-Credential query parameter. ok is false when the request carries
// neither in that form.
func ParseCredential(r *http.Request) (Credential, bool) {
	scope := ""
	if h := r.Header.Get("Authorization"); h != "" {
		_, params, _ := strings.Cut(h, " ")
		for _, p := range strings.Split(params, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "Credential="); ok {
				scope = v
				break
			}
		}
	} else {
		scope = r.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return Credential{}, false
	}
	return Credential{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}, true
}
