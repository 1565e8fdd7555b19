package web_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	// yaml/v4 is already required (indirectly) in go.mod, so the test adds
	// no module; the v3 modules would need a new go.mod line.
	yaml "go.yaml.in/yaml/v4"
)

// openAPIDoc is the part of an OpenAPI 3.1 document the tests look at.
type openAPIDoc struct {
	OpenAPI    string                     `yaml:"openapi"`
	Paths      map[string]openAPIPathItem `yaml:"paths"`
	Components struct {
		Responses map[string]openAPIResponse `yaml:"responses"`
		Schemas   map[string]any             `yaml:"schemas"`
	} `yaml:"components"`
}

// openAPIPathItem holds the operations of one path, by method.
type openAPIPathItem struct {
	Get     *openAPIOp `yaml:"get"`
	Head    *openAPIOp `yaml:"head"`
	Post    *openAPIOp `yaml:"post"`
	Put     *openAPIOp `yaml:"put"`
	Patch   *openAPIOp `yaml:"patch"`
	Delete  *openAPIOp `yaml:"delete"`
	Options *openAPIOp `yaml:"options"`
	Trace   *openAPIOp `yaml:"trace"`
}

// ops returns the operations that are present, keyed by upper-case method.
func (p openAPIPathItem) ops() map[string]*openAPIOp {
	all := map[string]*openAPIOp{
		"GET": p.Get, "HEAD": p.Head, "POST": p.Post, "PUT": p.Put,
		"PATCH": p.Patch, "DELETE": p.Delete, "OPTIONS": p.Options, "TRACE": p.Trace,
	}
	for m, op := range all {
		if op == nil {
			delete(all, m)
		}
	}
	return all
}

type openAPIOp struct {
	OperationID string                     `yaml:"operationId"`
	Responses   map[string]openAPIResponse `yaml:"responses"`
}

type openAPIResponse struct {
	Ref     string `yaml:"$ref"`
	Content map[string]struct {
		Schema struct {
			Ref string `yaml:"$ref"`
		} `yaml:"schema"`
	} `yaml:"content"`
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}

func loadOpenAPI(t *testing.T) (*openAPIDoc, []byte) {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return &doc, b
}

// apiRoutes returns "METHOD /path" for every /api/v1 route registered in
// routes.go, read from its syntax tree rather than from the text.
func apiRoutes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "HandleUpload") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || !slices.Contains(httpMethods, method) || !strings.HasPrefix(path, "/api/v1/") {
			return true // the "/api/" catch-all has no method; pages are not API
		}
		routes = append(routes, method+" "+openAPIPath(path))
		return true
	})
	if len(routes) == 0 {
		t.Fatal("found no /api/v1 routes in routes.go; has the registration changed shape?")
	}
	slices.Sort(routes)
	return routes
}

// openAPIPath turns a ServeMux pattern path into an OpenAPI path template:
// {id} stays {id}, {rest...} becomes {rest}, and {$} is dropped.
func openAPIPath(p string) string {
	p = strings.ReplaceAll(p, "{$}", "")
	return strings.ReplaceAll(p, "...}", "}")
}

func documentedRoutes(doc *openAPIDoc) []string {
	var routes []string
	for path, item := range doc.Paths {
		for m := range item.ops() {
			routes = append(routes, m+" "+path)
		}
	}
	slices.Sort(routes)
	return routes
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	code, documented := apiRoutes(t), documentedRoutes(doc)
	for _, r := range code {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is registered in routes.go but missing from openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(code, r) {
			t.Errorf("openapi.yaml documents %q, which routes.go does not register", r)
		}
	}
}

func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	if doc.Components.Schemas["Problem"] == nil {
		t.Fatal("components.schemas.Problem is missing")
	}
	for path, item := range doc.Paths {
		for method, op := range item.ops() {
			name := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", name)
			}
			has2xx := false
			for code, resp := range op.Responses {
				if strings.HasPrefix(code, "2") {
					has2xx = true
					continue
				}
				if resp.Ref != "" {
					const prefix = "#/components/responses/"
					shared, ok := doc.Components.Responses[strings.TrimPrefix(resp.Ref, prefix)]
					if !strings.HasPrefix(resp.Ref, prefix) || !ok {
						t.Errorf("%s %s: $ref %q does not resolve", name, code, resp.Ref)
						continue
					}
					resp = shared
				}
				c, ok := resp.Content["application/problem+json"]
				if !ok {
					t.Errorf("%s %s: no application/problem+json content", name, code)
					continue
				}
				if c.Schema.Ref != "#/components/schemas/Problem" {
					t.Errorf("%s %s: problem schema is %q, want the Problem schema", name, code, c.Schema.Ref)
				}
			}
			if !has2xx {
				t.Errorf("%s: no 2xx response", name)
			}
		}
	}
}

// TestOpenAPIRefsResolve catches a $ref to a component that does not exist.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	_, b := loadOpenAPI(t)
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					if !resolves(root, s) {
						t.Errorf("$ref %q does not resolve", s)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
}

func resolves(root map[string]any, ref string) bool {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var cur any = root
	for _, part := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	_, want := loadOpenAPI(t)
	ts := newTestServer(t)
	resp := ts.do(t, "GET", "/api/v1/openapi.yaml", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !bytes.Equal([]byte(resp.body), want) {
		t.Error("served document differs from openapi.yaml")
	}
}
