// Package openapi writes the OpenAPI 3 document of a set of routes: their request lines, the
// request and reply schemas with the JSON the gateway really speaks (internal/apijson: proto
// names, 64-bit integers as numbers, "code" and "message" in every success), the rules of
// protoc-gen-validate as schema limits, the documentation the proto files' comments give, and
// the error body with its reasons.
//
// The same function writes api/openapi.yaml from proto/ (tools/protoc-gen-openapi, `make proto`)
// and the document the gateway serves at /openapi.yaml from the routes it learnt from the
// registry, so that the served document is always the routes actually served.
//
// gnostic's protoc-gen-openapi (the one kratos uses) documents 64-bit integers as strings and
// every success as 200, which is not what the gateway answers; hence this one.
package openapi

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"

	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// description is the document's own: the same whether written from proto/ or by the gateway.
const description = "The public API of gomicro-stack: every route the gateway serves, documented by the proto files of the services that declare them. " +
	"The gateway assembles it at /openapi.yaml from the services in the registry; `make proto` writes the same document from proto/ as api/openapi.yaml."

// Document is the OpenAPI document of routes, as YAML. The order of routes does not matter:
// services are listed by name, each one's routes in the order its proto declares them. Where
// two services describe a message of the same name differently (each service's files are its
// own), each description gets a schema of its own.
func Document(routes []apispec.Route) ([]byte, error) {
	routes = append([]apispec.Route(nil), routes...)
	sort.SliceStable(routes, func(i, j int) bool {
		a, b := routes[i].RPC, routes[j].RPC
		if a.Parent().FullName() != b.Parent().FullName() {
			return a.Parent().FullName() < b.Parent().FullName()
		}
		if routes[i].Service != routes[j].Service {
			return routes[i].Service < routes[j].Service
		}
		return a.Index() < b.Index()
	})
	g := &generator{schemas: obj(), names: map[string]string{}, taken: map[string]bool{}, queued: map[string]bool{}, replies: map[string]bool{}}
	for _, r := range routes {
		g.replies[signature(r.RPC.Output())] = true
	}
	g.claim(routes)
	paths := obj()
	var tags []any
	tagged := map[protoreflect.FullName]bool{}
	for _, r := range routes {
		s := r.RPC.Parent().(protoreflect.ServiceDescriptor)
		if !tagged[s.FullName()] {
			tagged[s.FullName()] = true
			tags = append(tags, obj("name", string(s.Name()), "description", comment(s)))
		}
		if _, taken := paths.values[r.Path]; taken {
			return nil, fmt.Errorf("%s is routed twice", r.Path)
		}
		paths.set(r.Path, obj(strings.ToLower(r.HTTPMethod), g.operation(r)))
	}
	g.schemas.set("Error", errorSchema())
	for len(g.pending) > 0 {
		m := g.pending[0]
		g.pending = g.pending[1:]
		g.schemas.set(g.name(m), g.message(m))
	}
	doc := obj(
		"openapi", "3.0.3",
		"info", obj("title", "gomicro-stack API", "version", "1.0.0", "description", description),
		// Relative: the gateway that serves the document serves the API.
		"servers", []any{obj("url", "/", "description", "the gateway that serves this document")},
		"tags", tags,
		"paths", paths,
		"components", obj(
			"securitySchemes", obj("bearerAuth", obj("type", "http", "scheme", "bearer", "bearerFormat", "JWT")),
			"responses", obj("Error", obj("description", "the error, with its HTTP status as code",
				"content", obj("application/json", obj("schema", obj("$ref", "#/components/schemas/Error"))))),
			"schemas", g.schemas),
	)
	return yaml.Marshal(doc)
}

// node is a YAML mapping that keeps its keys in the order they were added.
type node struct {
	keys   []string
	values map[string]any
}

func obj(kv ...any) *node {
	n := &node{values: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		n.set(kv[i].(string), kv[i+1])
	}
	return n
}

func (n *node) set(k string, v any) {
	if _, ok := n.values[k]; !ok {
		n.keys = append(n.keys, k)
	}
	n.values[k] = v
}

func (n *node) MarshalYAML() (any, error) {
	out := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range n.keys {
		var v yaml.Node
		if err := v.Encode(n.values[k]); err != nil {
			return nil, err
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
		if _, err := strconv.Atoi(k); err == nil {
			key.Style = yaml.DoubleQuotedStyle // a status code is a string key in OpenAPI
		}
		out.Content = append(out.Content, key, &v)
	}
	return out, nil
}

type generator struct {
	schemas *node
	// pending are the messages referred to whose schemas are not written yet.
	pending []protoreflect.MessageDescriptor
	// names are the schema names given, by what a message says of itself (signature); taken
	// are the names in use.
	names map[string]string
	taken map[string]bool
	// queued are the names whose schemas are written or pending.
	queued map[string]bool
	// replies are the routes' reply messages (by signature), which carry code and message too.
	replies map[string]bool
}

// name is the schema name of m: its full name with _ for ., and a number after it for a
// second, different message of that name.
func (g *generator) name(m protoreflect.MessageDescriptor) string {
	sig := signature(m)
	if n, ok := g.names[sig]; ok {
		return n
	}
	base := strings.ReplaceAll(string(m.FullName()), ".", "_")
	n := base
	for i := 2; g.taken[n]; i++ {
		n = base + "_" + strconv.Itoa(i)
	}
	g.names[sig], g.taken[n] = n, true
	return n
}

// claim names first the messages of each route that its service declares in its own package,
// then the rest: a service that sends a message of another's package (its files are its own)
// cannot take that message's name, whatever the order of the services.
func (g *generator) claim(routes []apispec.Route) {
	for _, own := range []bool{true, false} {
		for _, r := range routes {
			seen := map[protoreflect.FullName]bool{}
			var walk func(m protoreflect.MessageDescriptor)
			walk = func(m protoreflect.MessageDescriptor) {
				if seen[m.FullName()] || apijson.IsWrapper(m) {
					return
				}
				seen[m.FullName()] = true
				if (names.Namespace+"."+string(m.ParentFile().Package()) == r.Service) == own {
					g.name(m)
				}
				for _, f := range fields(m) {
					if f.Kind() == protoreflect.MessageKind {
						walk(f.Message())
					}
				}
			}
			walk(r.RPC.Input())
			walk(r.RPC.Output())
		}
	}
}

// signature is what the schema of m is written from: its declaration and its comments.
func signature(m protoreflect.MessageDescriptor) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(protodesc.ToDescriptorProto(m))
	var sb strings.Builder
	sb.WriteString(string(m.FullName()))
	sb.WriteByte(0)
	sb.Write(b)
	sb.WriteString(comment(m))
	for _, f := range fields(m) {
		sb.WriteByte(0)
		sb.WriteString(comment(f))
	}
	return sb.String()
}

// comment is the leading comment of d in its file, on one line ("" when the file came without
// its comments).
func comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return strings.Join(strings.Fields(loc.LeadingComments), " ")
}

func (g *generator) operation(r apispec.Route) *node {
	in, out := r.RPC.Input(), r.RPC.Output()
	op := obj("tags", []string{string(r.RPC.Parent().Name())}, "operationId", strings.ReplaceAll(r.Endpoint, ".", "_"),
		"summary", summary(r), "description", comment(r.RPC))
	var params []any
	for _, f := range fields(in) {
		if h := apispec.Header(f); h != "" {
			params = append(params, obj("name", h, "in", "header", "required", required(f), "schema", g.field(f), "description", comment(f)))
		}
	}
	if len(params) > 0 {
		op.set("parameters", params)
	}
	// A body whose fields may all be empty may be left out (read as {}).
	bodyRequired := false
	for _, f := range fields(in) {
		bodyRequired = bodyRequired || (apispec.Header(f) == "" && required(f))
	}
	op.set("requestBody", obj("required", bodyRequired, "content", obj("application/json", obj("schema", g.ref(in)))))
	success := obj("description", http.StatusText(r.Status))
	headers := obj()
	for _, f := range fields(out) {
		if h := apispec.Header(f); h != "" {
			headers.set(h, obj("description", comment(f), "schema", g.field(f)))
		}
	}
	if len(headers.keys) > 0 {
		success.set("headers", headers)
	}
	success.set("content", obj("application/json", obj("schema", g.ref(out))))
	// Every route refuses a body it cannot read (400) and, unless public, a request without a
	// valid token (401); every other error has the same body.
	errorBody := obj("$ref", "#/components/responses/Error")
	responses := obj(strconv.Itoa(r.Status), success, "400", errorBody)
	if r.Public {
		op.set("security", []any{}) // says "no token", where a missing list would say "not stated"
	} else {
		responses.set("401", errorBody)
		op.set("security", []any{obj("bearerAuth", []string{})})
	}
	responses.set("default", errorBody)
	op.set("responses", responses)
	return op
}

// summary is the first sentence of the RPC's comment, or its name when it has none.
func summary(r apispec.Route) string {
	text := comment(r.RPC)
	if text == "" {
		return r.Endpoint
	}
	if i := strings.Index(text, ". "); i >= 0 {
		text = text[:i]
	}
	return strings.TrimSuffix(text, ".")
}

func (g *generator) ref(m protoreflect.MessageDescriptor) *node {
	n := g.name(m)
	if !g.queued[n] {
		g.queued[n] = true
		g.pending = append(g.pending, m)
	}
	return obj("$ref", "#/components/schemas/"+n)
}

func fields(m protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	var out []protoreflect.FieldDescriptor
	for i := 0; i < m.Fields().Len(); i++ {
		out = append(out, m.Fields().Get(i))
	}
	return out
}

// message is the schema of a message: a reply has code and message first, and lists as
// required every field the gateway always writes; a request, those its rules refuse empty.
func (g *generator) message(m protoreflect.MessageDescriptor) *node {
	reply := g.replies[signature(m)]
	props := obj()
	var req []string
	if reply {
		props.set("code", obj("type", "integer", "format", "int32", "description", "0 in every success", "enum", []int{0}))
		props.set("message", obj("type", "string", "description", "ok in every success", "enum", []string{"ok"}))
		req = append(req, "code", "message")
	}
	for _, f := range fields(m) {
		if apispec.Header(f) != "" {
			continue
		}
		s := g.field(f)
		if d := comment(f); d != "" {
			s.set("description", d)
		}
		props.set(string(f.Name()), s)
		if (reply && f.Kind() != protoreflect.MessageKind) || (!reply && required(f)) {
			req = append(req, string(f.Name()))
		}
	}
	s := obj("type", "object")
	if d := comment(m); d != "" {
		s.set("description", d)
	}
	s.set("properties", props)
	if len(req) > 0 {
		s.set("required", req)
	}
	return s
}

// errorSchema is the body of every error: the gateway's own, whatever the services.
func errorSchema() *node {
	var reasons []string
	values := apipb.Reason(0).Descriptor().Values()
	var lines []string
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		reasons = append(reasons, string(v.Name()))
		lines = append(lines, fmt.Sprintf("%s (%d)", v.Name(), apispec.Status(apipb.Reason(v.Number()))))
	}
	return obj("type", "object",
		"description", "The body of every error answer.",
		"properties", obj(
			"code", obj("type", "integer", "format", "int32", "description", "the HTTP status"),
			"message", obj("type", "string", "description", "what went wrong, for people"),
			"reason", obj("type", "string", "enum", reasons,
				"description", "what went wrong, for programs, with its HTTP status: "+strings.Join(lines, ", ")+"; absent where the gateway answered by itself (an unknown route, a body over the limit, too many requests)"),
			"trace_id", obj("type", "string", "pattern", "^[0-9a-f]{32}$",
				"description", "the request's trace, as its traceparent header names it: quote it to find the request in the logs and in the tracing backend"),
		),
		"required", []string{"code", "message"})
}

// field is the schema of one field's value, with the limits protoc-gen-validate checks.
func (g *generator) field(f protoreflect.FieldDescriptor) *node {
	s := g.single(f)
	if f.IsList() {
		return obj("type", "array", "items", s)
	}
	return s
}

func (g *generator) single(f protoreflect.FieldDescriptor) *node {
	switch f.Kind() {
	case protoreflect.StringKind:
		s := obj("type", "string")
		rules, _ := proto.GetExtension(f.Options(), validate.E_Rules).(*validate.FieldRules)
		if str := rules.GetString_(); str != nil {
			if str.MinLen != nil {
				s.set("minLength", str.GetMinLen())
			}
			if str.MaxLen != nil {
				s.set("maxLength", str.GetMaxLen())
			}
			if str.Pattern != nil {
				s.set("pattern", str.GetPattern())
			}
			// OpenAPI counts characters, not bytes: a limit in bytes is said as x-bytes, and
			// turned into the character limits it implies (a character is 1 to 4 bytes of
			// UTF-8), so that the schema never refuses what the gateway accepts.
			if str.MinBytes != nil || str.MaxBytes != nil {
				s.set("x-bytes", obj("min", str.GetMinBytes(), "max", str.GetMaxBytes()))
				if str.MinLen == nil && str.MinBytes != nil {
					s.set("minLength", (str.GetMinBytes()+3)/4)
				}
				if str.MaxLen == nil && str.MaxBytes != nil {
					s.set("maxLength", str.GetMaxBytes())
				}
			}
		}
		return s
	case protoreflect.BoolKind:
		return obj("type", "boolean")
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return obj("type", "integer", "format", "int32")
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return obj("type", "integer", "format", "int32", "minimum", 0)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return obj("type", "integer", "format", "int64")
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return obj("type", "integer", "format", "int64", "minimum", 0)
	case protoreflect.FloatKind:
		return obj("type", "number", "format", "float")
	case protoreflect.DoubleKind:
		return obj("type", "number", "format", "double")
	case protoreflect.BytesKind:
		return obj("type", "string", "format", "byte")
	case protoreflect.EnumKind:
		var names []string
		for i := 0; i < f.Enum().Values().Len(); i++ {
			names = append(names, string(f.Enum().Values().Get(i).Name()))
		}
		return obj("type", "string", "enum", names)
	case protoreflect.MessageKind:
		if apijson.IsWrapper(f.Message()) {
			return g.single(f.Message().Fields().ByNumber(1))
		}
		return g.ref(f.Message())
	}
	return obj()
}

// required says whether a request field's rules refuse it empty (absent reads as empty).
func required(f protoreflect.FieldDescriptor) bool {
	rules, _ := proto.GetExtension(f.Options(), validate.E_Rules).(*validate.FieldRules)
	str := rules.GetString_()
	if str == nil {
		return false
	}
	if str.GetMinLen() > 0 || str.GetMinBytes() > 0 {
		return true
	}
	if str.Pattern != nil {
		re, err := regexp.Compile(str.GetPattern())
		return err == nil && !re.MatchString("")
	}
	return false
}
