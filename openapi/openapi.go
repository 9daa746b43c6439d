package openapi

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Partner is the OpenAPI 3.1 document of the partner API (paths relative
// to the server URL .../eco/v1).
//
//go:embed partner.json
var Partner []byte

// Customs is the OpenAPI 3.1 document of the customs API (paths from the
// listener's root).
//
//go:embed customs.json
var Customs []byte

// Handler serves doc as application/json.
func Handler(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(doc)
	})
}

// Operation is one path template and method of a document.
type Operation struct {
	Path   string // e.g. /envelopes/{id}
	Method string // upper case
}

// Contract checks answers against one OpenAPI document.
type Contract struct {
	name string
	doc  map[string]any
	c    *jsonschema.Compiler
	mu   sync.Mutex
	sch  map[string]*jsonschema.Schema
}

// NewContract parses an OpenAPI document (name identifies it in errors and
// schema locations, e.g. "partner.json").
func NewContract(name string, doc []byte) (*Contract, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("openapi %s: %w", name, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi %s: not a JSON object", name)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("urn:openapi:"+name, v); err != nil {
		return nil, fmt.Errorf("openapi %s: %w", name, err)
	}
	return &Contract{name: name, doc: m, c: c, sch: map[string]*jsonschema.Schema{}}, nil
}

// Operations lists every path and method the document declares, sorted.
func (c *Contract) Operations() []Operation {
	var ops []Operation
	paths, _ := c.doc["paths"].(map[string]any)
	for p, v := range paths {
		item, _ := v.(map[string]any)
		for m := range item {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options":
				ops = append(ops, Operation{Path: p, Method: strings.ToUpper(m)})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops
}

func esc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

func (c *Contract) compile(ptr string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sch[ptr]; s != nil {
		return s, nil
	}
	s, err := c.c.Compile("urn:openapi:" + c.name + "#" + ptr)
	if err != nil {
		return nil, err
	}
	c.sch[ptr] = s
	return s, nil
}

// resolve follows a local $ref of the document.
func (c *Contract) resolve(v any) (any, string) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, ""
	}
	ref, ok := m["$ref"].(string)
	if !ok || !strings.HasPrefix(ref, "#/") {
		return v, ""
	}
	var cur any = c.doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		mm, _ := cur.(map[string]any)
		cur = mm[part]
	}
	return cur, ref[1:]
}

// Check checks an answer to op (status, Content-Type and body) against the
// document: the status must be declared (or "default"), the media type
// must be one declared for it, and a JSON body must match its schema; an
// application/jose body must be a compact JWS whose payload matches the
// schema named by x-jws-payload. It returns nil when the answer conforms.
func (c *Contract) Check(op Operation, status int, contentType string, body []byte) error {
	paths, _ := c.doc["paths"].(map[string]any)
	item, _ := paths[op.Path].(map[string]any)
	o, _ := item[strings.ToLower(op.Method)].(map[string]any)
	if o == nil {
		return fmt.Errorf("%s %s is not in %s", op.Method, op.Path, c.name)
	}
	resps, _ := o["responses"].(map[string]any)
	code := strconv.Itoa(status)
	r, ok := resps[code]
	if !ok {
		if r, ok = resps["default"]; !ok {
			return fmt.Errorf("status %d is not one %s declares for %s %s", status, c.name, op.Method, op.Path)
		}
		code = "default"
	}
	base := "/paths/" + esc(op.Path) + "/" + strings.ToLower(op.Method) + "/responses/" + code
	rr, refPtr := c.resolve(r)
	if refPtr != "" {
		base = refPtr
	}
	resp, _ := rr.(map[string]any)
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("status %d: Content-Type %q is not a media type", status, contentType)
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		var want []string
		for k := range content {
			want = append(want, k)
		}
		sort.Strings(want)
		return fmt.Errorf("status %d: Content-Type %s, but %s declares %s", status, mt, c.name, strings.Join(want, ", "))
	}
	ptr := base + "/content/" + esc(mt)
	switch {
	case mt == "application/json":
		return c.validate(ptr+"/schema", body)
	case mt == "application/jose":
		if err := c.validateValue(ptr+"/schema", string(body)); err != nil {
			return err
		}
		if _, ok := media["x-jws-payload"]; !ok {
			return nil
		}
		parts := strings.Split(strings.TrimSpace(string(body)), ".")
		if len(parts) != 3 { // the schema's pattern already says so; not a panic if it ever does not
			return fmt.Errorf("status %d: the body is not a compact JWS (three base64url parts separated by dots)", status)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return fmt.Errorf("JWS payload is not base64url: %v", err)
		}
		return c.validate(ptr+"/x-jws-payload", payload)
	}
	return nil
}

// Validate checks a JSON value against a schema of the document named by
// a JSON pointer (e.g. /components/schemas/Receipt).
func (c *Contract) Validate(pointer string, body []byte) error { return c.validate(pointer, body) }

func (c *Contract) validate(ptr string, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	return c.validateValue(ptr, v)
}

func (c *Contract) validateValue(ptr string, v any) error {
	s, err := c.compile(ptr)
	if err != nil {
		return fmt.Errorf("%s%s: %v", c.name, ptr, err)
	}
	if err := s.Validate(v); err != nil {
		msg := err.Error()
		if len(msg) > 600 {
			msg = msg[:600] + "..."
		}
		return fmt.Errorf("does not match %s#%s: %s", c.name, ptr, msg)
	}
	return nil
}
