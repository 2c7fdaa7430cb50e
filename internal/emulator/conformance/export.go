package conformance

import (
	"errors"
	"slices"
)

// Describes reports whether GitHub's description has method and path (a
// request path, or an emulator route such as "/repos/{owner}/{repo}/tarball/{ref...}"),
// and the description's path for it.
func Describes(method, path string) (string, bool, error) {
	gh := load().gh
	if gh == nil {
		return "", false, errors.New(load().whyNoGitHub)
	}
	t, _ := gh.route(routeToPath(path))
	if t == nil {
		return "", false, nil
	}
	return t.Path, slices.Contains(t.Methods, method), nil
}

// DescriptionVersion is the @octokit/openapi version loaded, "" if none.
func DescriptionVersion() string {
	if gh := load().gh; gh != nil {
		return gh.Version
	}
	return ""
}

// routeToPath turns a ServeMux pattern's wildcards into sample values, so
// that the pattern can be routed like a request path.
func routeToPath(p string) string {
	out := []byte{}
	for i := 0; i < len(p); i++ {
		if p[i] == '{' {
			for i < len(p) && p[i] != '}' {
				i++
			}
			out = append(out, 'x')
			continue
		}
		out = append(out, p[i])
	}
	return string(out)
}
