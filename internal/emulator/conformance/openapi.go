package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// GitHub's description is 13 MB; kin-openapi takes seconds and hundreds of
// megabytes to load it whole, more under -race, in every test process. So
// the check loads, per path it meets, a small self-contained document: that
// path's item and the components it refers to, cut from the whole once and
// kept on disk beside the description (cutDir), where the next test
// process finds it. The whole document is parsed at most once per process,
// and only when a cut is missing.

// cutFormat changes when the cut documents change shape.
const cutFormat = "1"

type openAPI struct {
	file    string
	cutDir  string // "" when the cuts cannot be kept on disk
	Version string // the package's info.version ("23.0.2")

	templates []template // every path of the description

	mu   sync.Mutex
	docs map[string]*openapi3.T // by path template
	errs map[string]error

	whole    sync.Once
	wholeDoc *wholeDoc
	wholeErr error
}

// template is one path of the description, compiled for matching.
type template struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods"`
	re      *regexp.Regexp
	greedy  *regexp.Regexp // the last parameter matches "/" too; nil if the path ends in a literal
	literal int            // literal segments: more is a better match
}

type wholeDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Info       json.RawMessage                       `json:"info"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

type index struct {
	Version   string     `json:"version"`
	Templates []template `json:"templates"`
}

func newOpenAPI(file string) (*openAPI, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d|%s", file, fi.Size(), fi.ModTime().UnixNano(), cutFormat)))
	o := &openAPI{file: file, docs: map[string]*openapi3.T{}, errs: map[string]error{}}
	o.cutDir = filepath.Join(filepath.Dir(file), ".rotor-cuts-"+hex.EncodeToString(key[:6]))
	if err := os.MkdirAll(o.cutDir, 0o755); err != nil {
		o.cutDir = ""
	}
	var ix index
	if b, err := o.readCut("index.json"); err == nil && json.Unmarshal(b, &ix) == nil && len(ix.Templates) > 0 {
		o.Version, o.templates = ix.Version, ix.Templates
	} else {
		w, err := o.parseWhole()
		if err != nil {
			return nil, err
		}
		var info struct{ Version string }
		_ = json.Unmarshal(w.Info, &info)
		ix.Version = info.Version
		for p, item := range w.Paths {
			t := template{Path: p}
			for m := range item {
				switch m {
				case "get", "put", "post", "delete", "patch", "head", "options":
					t.Methods = append(t.Methods, strings.ToUpper(m))
				}
			}
			sort.Strings(t.Methods)
			ix.Templates = append(ix.Templates, t)
		}
		sort.Slice(ix.Templates, func(i, j int) bool { return ix.Templates[i].Path < ix.Templates[j].Path })
		b, _ := json.Marshal(ix)
		o.writeCut("index.json", b)
		o.Version, o.templates = ix.Version, ix.Templates
	}
	for i := range o.templates {
		o.templates[i].compile()
	}
	return o, nil
}

var param = regexp.MustCompile(`\{[^}]+\}`)

func (t *template) compile() {
	segs := strings.Split(t.Path, "/")
	for i, s := range segs {
		if param.MatchString(s) {
			segs[i] = "[^/]+"
		} else {
			segs[i] = regexp.QuoteMeta(s)
			t.literal++
		}
	}
	t.re = regexp.MustCompile("^" + strings.Join(segs, "/") + "$")
	if strings.HasSuffix(t.Path, "{ref}") || strings.HasSuffix(t.Path, "{branch}") {
		last := len(segs) - 1
		segs[last] = ".+"
		t.greedy = regexp.MustCompile("^" + strings.Join(segs, "/") + "$")
	}
}

// route finds the description's path for a request path: the matching
// template with the most literal segments. A ref or branch may hold "/"
// (GitHub accepts "feature/x" where the description says {ref}), so when
// nothing matches, a last {ref} or {branch} takes the rest of the path.
func (o *openAPI) route(path string) (*template, map[string]string) {
	var best *template
	for _, greedy := range []bool{false, true} {
		for i := range o.templates {
			t := &o.templates[i]
			re := t.re
			if greedy {
				re = t.greedy
			}
			if re != nil && re.MatchString(path) && (best == nil || t.literal > best.literal) {
				best = t
			}
		}
		if best != nil {
			return best, pathParams(best.Path, path)
		}
	}
	return nil, nil
}

// pathParams reads {name} values from path along tpl; the last one takes
// whatever is left.
func pathParams(tpl, path string) map[string]string {
	ts, ps := strings.Split(tpl, "/"), strings.SplitN(path, "/", strings.Count(tpl, "/")+1)
	out := map[string]string{}
	for i, s := range ts {
		if i < len(ps) && strings.HasPrefix(s, "{") {
			out[strings.Trim(s, "{}")] = ps[i]
		}
	}
	return out
}

// doc is the cut document of one path, loaded by kin-openapi.
func (o *openAPI) doc(path string) (*openapi3.T, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d, ok := o.docs[path]; ok {
		return d, o.errs[path]
	}
	d, err := o.loadCut(path)
	o.docs[path], o.errs[path] = d, err
	return d, err
}

func (o *openAPI) loadCut(path string) (*openapi3.T, error) {
	sum := sha256.Sum256([]byte(path))
	name := "path-" + hex.EncodeToString(sum[:8]) + ".json"
	b, err := o.readCut(name)
	if err != nil {
		w, err := o.parseWhole()
		if err != nil {
			return nil, err
		}
		if b, err = w.cut(path); err != nil {
			return nil, err
		}
		o.writeCut(name, b)
	}
	l := openapi3.NewLoader()
	d, err := l.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("load the description of %s: %w", path, err)
	}
	return d, nil
}

func (o *openAPI) parseWhole() (*wholeDoc, error) {
	o.whole.Do(func() {
		b, err := os.ReadFile(o.file)
		if err != nil {
			o.wholeErr = err
			return
		}
		var w wholeDoc
		if err := json.Unmarshal(b, &w); err != nil {
			o.wholeErr = fmt.Errorf("%s: %w", o.file, err)
			return
		}
		o.wholeDoc = &w
	})
	return o.wholeDoc, o.wholeErr
}

var refRe = regexp.MustCompile(`"\$ref":\s*"#/components/([^/"]+)/([^"]+)"`)

// cut is a document with path's item and, transitively, every component it
// refers to, plus basic-error (the body of the errors GitHub answers on any
// endpoint).
func (w *wholeDoc) cut(path string) ([]byte, error) {
	item, ok := w.Paths[path]
	if !ok {
		return nil, fmt.Errorf("the description has no path %s", path)
	}
	comps := map[string]map[string]json.RawMessage{}
	var visit func(raw []byte)
	visit = func(raw []byte) {
		for _, m := range refRe.FindAllSubmatch(raw, -1) {
			kind, name := string(m[1]), string(m[2])
			if comps[kind] == nil {
				comps[kind] = map[string]json.RawMessage{}
			}
			if _, seen := comps[kind][name]; seen {
				continue
			}
			c, ok := w.Components[kind][name]
			if !ok {
				continue
			}
			comps[kind][name] = c
			visit(c)
		}
	}
	itemJSON, err := json.Marshal(item)
	if err != nil {
		return nil, err
	}
	visit(itemJSON)
	visit([]byte(`"$ref": "#/components/schemas/basic-error"`))
	var buf bytes.Buffer
	err = json.NewEncoder(&buf).Encode(map[string]any{
		"openapi": w.OpenAPI, "info": w.Info, "paths": map[string]any{path: item}, "components": comps,
	})
	return buf.Bytes(), err
}

func (o *openAPI) readCut(name string) ([]byte, error) {
	if o.cutDir == "" {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(filepath.Join(o.cutDir, name))
}

// writeCut writes atomically: test processes run side by side.
func (o *openAPI) writeCut(name string, b []byte) {
	if o.cutDir == "" {
		return
	}
	f, err := os.CreateTemp(o.cutDir, name+".tmp*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), filepath.Join(o.cutDir, name)) != nil {
		_ = os.Remove(f.Name())
	}
}
