package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	// jsonschema/v6 is already required (indirectly, by goose's
	// dependencies) in go.mod; OpenAPI 3.1 schemas are JSON Schema 2020-12.
	"github.com/bazaarhq/bazaar/internal/web"
	"github.com/santhosh-tekuri/jsonschema/v6"
	yaml "go.yaml.in/yaml/v4"
)

// contract checks real responses against openapi.yaml: the status must
// be documented for the operation, the Content-Type must be one the
// document lists, and the body must validate against its schema.
type contract struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
}

const contractURL = "file:///openapi.json"

func newContract(t *testing.T) *contract {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	// Round-trip through JSON so numbers and maps have the types the
	// validator expects.
	j, err := json.Marshal(y)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(contractURL, doc); err != nil {
		t.Fatal(err)
	}
	return &contract{doc: doc.(map[string]any), compiler: c}
}

// lookup follows a JSON pointer ("#/a/b") from the document root.
func (c *contract) lookup(ptr string) (any, bool) {
	var cur any = c.doc
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "#/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// check validates r as an answer of the operation method+path (the
// document's path template).
func (c *contract) check(t *testing.T, method, path string, r *response) {
	t.Helper()
	name := method + " " + path + " " + strconv.Itoa(r.StatusCode)
	escaped := strings.ReplaceAll(strings.ReplaceAll(path, "~", "~0"), "/", "~1")
	respPtr := "#/paths/" + escaped + "/" + strings.ToLower(method) + "/responses/" + strconv.Itoa(r.StatusCode)
	resp, ok := c.lookup(respPtr)
	if !ok {
		t.Errorf("%s: status not documented; body: %s", name, r.body)
		return
	}
	if ref, ok := resp.(map[string]any)["$ref"].(string); ok {
		respPtr = ref
		if resp, ok = c.lookup(ref); !ok {
			t.Errorf("%s: $ref %s does not resolve", name, ref)
			return
		}
	}
	for h := range resp.(map[string]any)["headers"].(map[string]any) {
		if r.Header.Get(h) == "" {
			t.Errorf("%s: documented header %s is missing", name, h)
		}
	}
	content, _ := resp.(map[string]any)["content"].(map[string]any)
	if len(content) == 0 {
		if r.body != "" {
			t.Errorf("%s: documented without a body, got %q", name, r.body)
		}
		return
	}
	ct := r.Header.Get("Content-Type")
	if _, ok := content[ct]; !ok {
		t.Errorf("%s: Content-Type %q is not documented", name, ct)
		return
	}
	if !strings.Contains(ct, "json") {
		return
	}
	sch, err := c.compiler.Compile(contractURL + respPtr + "/content/" + strings.ReplaceAll(ct, "/", "~1") + "/schema")
	if err != nil {
		t.Fatalf("%s: compile schema: %v", name, err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(r.body))
	if err != nil {
		t.Errorf("%s: body is not JSON: %v", name, err)
		return
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s: body does not match the documented schema: %v\nbody: %s", name, err, r.body)
	}
}

// TestOpenAPIContract sends each documented operation a request for each of
// its outcomes the tests can produce, and checks the answers against the
// document.
func TestOpenAPIContract(t *testing.T) {
	t.Parallel()
	c := newContract(t)
	ts := newTestServer(t)
	const (
		list = "/api/v1/listings"
		item = "/api/v1/listings/{id}"
	)
	ids := ts.createListings(t, 3)
	one := "/api/v1/listings/" + strconv.FormatInt(ids[0], 10)
	cross := append([]string{"Content-Type", "application/json"}, crossSite...)
	for _, tt := range []struct {
		method, template, path, body string
		hdr                          []string
	}{
		{"GET", list, list, "", nil},
		{"GET", list, list + "?limit=1", "", nil},
		{"GET", list, list + "?limit=1&before=" + strconv.FormatInt(ids[2], 10), "", nil},
		{"GET", list, list + "?limit=500", "", nil},
		{"GET", list, list + "?before=x&after=y", "", nil},
		{"POST", list, list, lampJSON, nil},
		{"POST", list, list, `{"name":"Mug","description":"","price_cents":1,"quantity":0,"currency":"EUR"}`, nil},
		{"POST", list, list, `{"name":"","price_cents":0,"quantity":-1}`, nil},
		{"POST", list, list, `{"nope":1}`, nil},
		{"POST", list, list, `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, nil},
		{"POST", list, list, lampJSON, cross},
		{"GET", item, one, "", nil},
		{"GET", item, "/api/v1/listings/999999", "", nil},
		{"GET", item, "/api/v1/listings/abc", "", nil},
		{"PATCH", item, one, `{"quantity":0}`, nil},
		{"PATCH", item, one, `{"quantity":2}`, []string{"Content-Type", "application/json", "If-Match", `"1"`}},
		{"PATCH", item, one, `{"price_cents":0}`, nil},
		{"PATCH", item, "/api/v1/listings/999999", `{"quantity":1}`, nil},
		{"PATCH", item, one, `{"quantity":1}`, cross},
		{"DELETE", item, one, "", cross},
		{"DELETE", item, one, "", nil},
		{"DELETE", item, one, "", nil},
		{"GET", "/api/v1/openapi.yaml", "/api/v1/openapi.yaml", "", nil},
	} {
		hdr := tt.hdr
		if hdr == nil && tt.body != "" {
			hdr = []string{"Content-Type", "application/json"}
		}
		r := ts.do(t, tt.method, tt.path, strings.NewReader(tt.body), hdr)
		c.check(t, tt.method, tt.template, r)
	}

	dead := newTestServer(t, func(cfg *web.Config) { cfg.DB = deadDB(t) })
	for _, tt := range []struct{ method, template, path, body string }{
		{"GET", list, list, ""},
		{"POST", list, list, lampJSON},
		{"GET", item, "/api/v1/listings/1", ""},
		{"PATCH", item, "/api/v1/listings/1", `{"quantity":1}`},
		{"DELETE", item, "/api/v1/listings/1", ""},
	} {
		r := dead.do(t, tt.method, tt.path, strings.NewReader(tt.body), []string{"Content-Type", "application/json"})
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the database down: %d", tt.method, tt.path, r.StatusCode)
		}
		c.check(t, tt.method, tt.template, r)
	}
}

// TestOpenAPIRequestSchemas checks that the documented request schemas
// accept exactly the bodies the server accepts. (Trimming is the one rule
// a schema cannot say: "   " passes minLength but is no name, which the
// schema's description says.)
func TestOpenAPIRequestSchemas(t *testing.T) {
	t.Parallel()
	c := newContract(t)
	ts := newTestServer(t)
	id := ts.createAPI(t, lampJSON).ID
	post := c.compiler.MustCompile(contractURL + "#/components/schemas/ListingInput")
	patch := c.compiler.MustCompile(contractURL + "#/components/schemas/ListingPatch")
	long := func(n int) string { return strings.Repeat("é", n) }
	for _, body := range []string{
		`{"name":"x","price_cents":1,"quantity":0}`,
		`{"name":"` + long(200) + `","description":"` + long(5000) + `","price_cents":100000000,"quantity":100000,"currency":"JPY"}`,
		`{"name":"x","price_cents":1,"quantity":0,"currency":""}`,
		`{"name":"` + long(201) + `","price_cents":1,"quantity":0}`,
		`{"name":"x","description":"` + long(5001) + `","price_cents":1,"quantity":0}`,
		`{"name":"","price_cents":1,"quantity":0}`,
		`{"name":"x","price_cents":0,"quantity":0}`,
		`{"name":"x","price_cents":100000001,"quantity":0}`,
		`{"name":"x","price_cents":1,"quantity":-1}`,
		`{"name":"x","price_cents":1,"quantity":100001}`,
		`{"name":"x","price_cents":1,"quantity":1.5}`,
		`{"name":"x","price_cents":"1","quantity":1}`,
		`{"name":"x","price_cents":1,"quantity":1,"currency":"usd"}`,
		`{"name":"x","price_cents":1,"quantity":1,"currency":"EURO"}`,
		`{"name":"x","price_cents":1,"quantity":1,"extra":true}`,
		`{"price_cents":1,"quantity":1}`,
		`{"name":"x","quantity":1}`,
		`{"name":"x","price_cents":1}`,
		`{"name":null,"price_cents":1,"quantity":1}`,
		`{}`,
	} {
		for _, op := range []struct {
			method, path string
			schema       *jsonschema.Schema
		}{
			{"POST", "/api/v1/listings", post},
			{"PATCH", "/api/v1/listings/" + strconv.FormatInt(id, 10), patch},
		} {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			schemaOK := op.schema.Validate(v) == nil
			r := ts.api(t, op.method, op.path, body)
			serverOK := r.StatusCode < 300
			if schemaOK != serverOK {
				t.Errorf("%s %s: the schema says valid=%v, the server answered %d: %s",
					op.method, abbrev(body), schemaOK, r.StatusCode, abbrev(r.body))
			}
		}
	}
}

// TestOpenAPIAccountsContract: the account and seller routes answer as
// openapi.yaml documents, for a signed-in caller and a guest.
func TestOpenAPIAccountsContract(t *testing.T) {
	t.Parallel()
	c := newContract(t)
	ts := newTestServer(t)
	g := ts.guest(t)
	l := ts.createAPI(t, lampJSON)
	tok := decode[struct {
		ID int64 `json:"id"`
	}](t, ts.api(t, "POST", "/api/v1/tokens", `{"name":"revoke me"}`))
	seller := "/api/v1/sellers/" + strconv.FormatInt(ts.User.ID, 10)
	signup := `{"email":"contract@example.com","display_name":"C","password":"` + testPassword + `"}`
	for _, tt := range []struct {
		as                           *testServer
		method, template, path, body string
	}{
		{ts, "GET", "/api/v1/me", "/api/v1/me", ""},
		{g, "GET", "/api/v1/me", "/api/v1/me", ""},
		{ts, "GET", "/api/v1/tokens", "/api/v1/tokens", ""},
		{g, "GET", "/api/v1/tokens", "/api/v1/tokens", ""},
		{ts, "POST", "/api/v1/tokens", "/api/v1/tokens", `{"name":"script"}`},
		{g, "POST", "/api/v1/tokens", "/api/v1/tokens", `{"email":"` + ts.User.Email + `","password":"` + testPassword + `","name":"script"}`},
		{g, "POST", "/api/v1/tokens", "/api/v1/tokens", `{"email":"` + ts.User.Email + `","password":"wrong password","name":"script"}`},
		{g, "POST", "/api/v1/tokens", "/api/v1/tokens", `{"name":"script"}`},
		{ts, "POST", "/api/v1/tokens", "/api/v1/tokens", `{"name":""}`},
		{ts, "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/" + strconv.FormatInt(tok.ID, 10), ""},
		{ts, "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/" + strconv.FormatInt(tok.ID, 10), ""},
		{g, "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/1", ""},
		{g, "POST", "/api/v1/users", "/api/v1/users", signup},
		{g, "POST", "/api/v1/users", "/api/v1/users", signup},
		{g, "POST", "/api/v1/users", "/api/v1/users", `{"email":"x","display_name":"","password":"short"}`},
		{g, "GET", "/api/v1/sellers/{id}", seller, ""},
		{g, "GET", "/api/v1/sellers/{id}", seller + "?limit=0", ""},
		{g, "GET", "/api/v1/sellers/{id}", "/api/v1/sellers/999999", ""},
		{g, "POST", "/api/v1/listings", "/api/v1/listings", lampJSON},
		{g, "PATCH", "/api/v1/listings/{id}", "/api/v1/listings/" + strconv.FormatInt(l.ID, 10), `{"quantity":1}`},
		{g, "DELETE", "/api/v1/listings/{id}", "/api/v1/listings/" + strconv.FormatInt(l.ID, 10), ""},
	} {
		c.check(t, tt.method, tt.template, tt.as.api(t, tt.method, tt.path, tt.body))
	}
	// Past the limit of failed sign-ins: 429 with Retry-After.
	var r *response
	for range 11 {
		r = g.api(t, "POST", "/api/v1/tokens", `{"email":"`+ts.User.Email+`","password":"wrong password","name":"x"}`)
	}
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("11th failure: %d", r.StatusCode)
	}
	c.check(t, "POST", "/api/v1/tokens", r)
}
