package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parleyhq/parley/httpapi"
)

const openAPIPath = "../../docs/openapi.yaml"

// spec is a loaded OpenAPI document, as generic YAML values.
type spec struct {
	doc   map[string]any
	paths map[string]any
}

func loadSpec(tb testing.TB) *spec {
	tb.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		tb.Fatalf("%s: %v", openAPIPath, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		tb.Fatalf("%s: openapi %q, want 3.1.x", openAPIPath, v)
	}
	paths, _ := doc["paths"].(map[string]any)
	return &spec{doc: doc, paths: paths}
}

// TestOpenAPIRoutes checks that every route of the API's route table is
// described in docs/openapi.yaml, and that the document describes no
// route the server does not have.
func TestOpenAPIRoutes(t *testing.T) {
	sp := loadSpec(t)
	api := httpapi.New(httpapi.Services{}, httpapi.Config{}, nil)
	served := map[string]bool{"GET /metrics": true} // added beside the table
	for _, pattern := range api.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			continue // the /v1/ catch-all that answers 404 and 405
		}
		served[pattern] = true
		ops, _ := sp.paths[path].(map[string]any)
		if ops[strings.ToLower(method)] == nil {
			t.Errorf("route %q is not described in %s", pattern, openAPIPath)
		}
	}
	for path, v := range sp.paths {
		for method := range v.(map[string]any) {
			if !served[strings.ToUpper(method)+" "+path] && !slices.Contains([]string{"parameters", "summary", "description"}, method) {
				t.Errorf("%s describes %s %s, which the server does not route", openAPIPath, strings.ToUpper(method), path)
			}
		}
	}
}

// openAPIRecorder returns a client hook that keeps every answer and, when
// the test ends, checks each against the OpenAPI document: its status is
// documented for the operation, and a JSON body matches the schema.
func openAPIRecorder(t *testing.T) func(method, path string, status int, contentType string, body []byte) {
	sp := loadSpec(t)
	type answer struct {
		method, path, contentType string
		status                    int
		body                      []byte
	}
	var mu sync.Mutex
	var answers []answer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		checked := 0
		for _, a := range answers {
			err, ok := sp.check(a.method, a.path, a.status, a.contentType, a.body)
			if err != nil {
				t.Errorf("%s %s → %d: %v\n%s", a.method, a.path, a.status, err, a.body)
			}
			if ok {
				checked++
			}
		}
		t.Logf("%d of %d answers checked against %s", checked, len(answers), openAPIPath)
		if checked == 0 {
			t.Error("no answer matched a documented operation")
		}
	})
	return func(method, path string, status int, contentType string, body []byte) {
		mu.Lock()
		answers = append(answers, answer{method, path, contentType, status, append([]byte(nil), body...)})
		mu.Unlock()
	}
}

// check validates one answer. ok is false for a path the document does
// not describe (the API's 404 for unknown endpoints).
func (sp *spec) check(method, rawPath string, status int, contentType string, body []byte) (err error, ok bool) {
	path, _, _ := strings.Cut(rawPath, "?")
	tmpl := sp.match(path)
	if tmpl == "" {
		return nil, false
	}
	ops := sp.paths[tmpl].(map[string]any)
	op, _ := ops[strings.ToLower(method)].(map[string]any)
	if op == nil {
		if status == http.StatusMethodNotAllowed {
			return sp.validateJSON(map[string]any{"$ref": "#/components/schemas/Error"}, body), true
		}
		return fmt.Errorf("%s %s is not described", method, tmpl), true
	}
	responses, _ := op["responses"].(map[string]any)
	resp, _ := responses[strconv.Itoa(status)].(map[string]any)
	if resp == nil {
		resp, _ = responses["default"].(map[string]any)
	}
	if resp == nil {
		return fmt.Errorf("status %d is not documented for %s %s", status, method, tmpl), true
	}
	resp = sp.resolve(resp)
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("a body where %s %s documents none for %d", method, tmpl, status), true
		}
		return nil, true
	}
	mt, _ := content["application/json"].(map[string]any)
	if mt == nil {
		return nil, true // bytes or text: nothing to check the shape of
	}
	if !strings.HasPrefix(contentType, "application/json") {
		return fmt.Errorf("Content-Type %q, documented application/json", contentType), true
	}
	return sp.validateJSON(mt["schema"], body), true
}

func (sp *spec) validateJSON(schema any, body []byte) error {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	var errs []string
	sp.validate(schema, v, "$", &errs)
	if len(errs) > 0 {
		return fmt.Errorf("does not match the schema:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// match returns the document's path template for a request path: the
// one of the same length whose literal segments all match, preferring
// literal segments over parameters.
func (sp *spec) match(path string) string {
	segs := strings.Split(path, "/")
	best, bestScore := "", -1
	for tmpl := range sp.paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		score := 0
		for i, s := range ts {
			switch {
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			case s == segs[i]:
				score++
			default:
				score = -1
			}
			if score < 0 {
				break
			}
		}
		if score > bestScore {
			best, bestScore = tmpl, score
		}
	}
	return best
}

// resolve follows a local $ref ("#/components/schemas/User").
func (sp *spec) resolve(m map[string]any) map[string]any {
	for {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = sp.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		m = cur.(map[string]any)
	}
}

// validate checks v against the subset of JSON Schema the document uses:
// $ref, type (one or a list, "null" included), properties, required,
// items, enum, allOf, oneOf, pattern, format date-time, minimum, maximum.
func (sp *spec) validate(schema any, v any, at string, errs *[]string) {
	s, _ := schema.(map[string]any)
	if s == nil {
		return
	}
	s = sp.resolve(s)
	fail := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			sp.validate(sub, v, at, errs)
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		matched := 0
		for _, sub := range one {
			var e []string
			sp.validate(sub, v, at, &e)
			if len(e) == 0 {
				matched++
			}
		}
		if matched != 1 {
			fail("matches %d of oneOf's %d schemas, want 1", matched, len(one))
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			fail("%s, want %s", jsonType(v), strings.Join(types, " or "))
			return
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("%v is not one of %v", v, enum)
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := v[r.(string)]; !ok {
					fail("lacks required %q", r)
				}
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k]; ok {
				sp.validate(ps, v[k], at+"."+k, errs)
			}
		}
	case []any:
		for i, x := range v {
			sp.validate(s["items"], x, fmt.Sprintf("%s[%d]", at, i), errs)
		}
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			fail("%q does not match %s", v, p)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				fail("%q is not a date-time", v)
			}
		}
	case json.Number:
		f, _ := v.Float64()
		if min, ok := s["minimum"].(int); ok && f < float64(min) {
			fail("%v below the minimum %d", v, min)
		}
		if max, ok := s["maximum"].(int); ok && f > float64(max) {
			fail("%v above the maximum %d", v, max)
		}
	}
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// TestOpenAPIValidator checks the checker itself on answers it must
// refuse, so a passing API test means something.
func TestOpenAPIValidator(t *testing.T) {
	sp := loadSpec(t)
	user := `{"id":"1","handle":"alice","display_name":"","profile_pic":"","bio":"","created_at":"2026-12-06T03:00:00Z"}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		body               string
		ok                 bool
	}{
		{"OK", "GET", "/v1/users/5", 200, user, true},
		{"ErrMissingField", "GET", "/v1/users/5", 200, `{"id":"1","handle":"alice"}`, false},
		{"ErrNumericID", "GET", "/v1/users/5", 200, strings.Replace(user, `"1"`, `1`, 1), false},
		{"ErrUndocumentedStatus", "GET", "/v1/users/5", 418, `{}`, false},
		{"ErrBadEnum", "GET", "/v1/users/5", 404, `{"error":{"code":"nope","message":"x"}}`, false},
		{"ErrBodyOn204", "DELETE", "/v1/sessions/current", 204, `{}`, false},
		{"LiteralOverParameter", "DELETE", "/v1/sessions/current", 204, ``, true},
		{"NullableLatest", "GET", "/v1/conversation/7/receipts", 200, `{"receipts":[]}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, _ := sp.check(tc.method, tc.path, tc.status, "application/json", []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
