// Package routes is the gateway's route table, learnt from the registry as micro api learns
// its own: every service of the namespace registers its endpoints in Consul (protoc-gen-micro
// puts each RPC's google.api.http route there as api.Endpoint metadata), and answers
// Reflection.Files with the proto files of its API. From those the table knows, for each
// route, the RPC, its request and reply types, whether it is public, its success status, its
// header fields and its validation rules: all of it the service's own declaration, so that a
// new service, or a new RPC of one, is served without any change to the gateway.
//
// Rules that keep this safe: a service routes only paths under its own name (/order/… for
// go.micro.api.order); a route is public only if the service's proto says so; a path claimed
// by two services stays with the first, and the second's claim is refused and logged; the
// internal RPCs of a service that declares routes stay unreachable.
package routes

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/openapi"
)

// Route is one route the gateway serves.
type Route struct {
	apispec.Route
	// Request and Reply make the RPC's messages: the gateway's own generated types when the
	// service's file is the one the gateway was built with, else types made from the
	// service's descriptors.
	Request, Reply protoreflect.MessageType
	// Subject is the request's gomicro.api.subject field, or nil.
	Subject protoreflect.FieldDescriptor
	// gone is when the service's last instance left (zero while it has one): until Grace has
	// passed the route answers 503, as for a service that is down, then it goes.
	gone time.Time
}

// Available says whether the route's service has an instance.
func (r *Route) Available() bool { return r.gone.IsZero() }

// Table is the routes in force; reads take no lock.
type Table struct {
	current atomic.Pointer[map[string]*Route]
	// document is the OpenAPI document of the routes in force, made when first asked for,
	// by one caller at a time (the path is public: a crowd asking at once makes it once).
	document atomic.Pointer[document]
	making   sync.Mutex
}

// document is an OpenAPI document and the routes it was made of.
type document struct {
	of   *map[string]*Route
	yaml []byte
}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{}
	empty := map[string]*Route{}
	t.current.Store(&empty)
	return t
}

// Lookup finds the route of a cleaned path.
func (t *Table) Lookup(path string) (*Route, bool) {
	r, ok := (*t.current.Load())[path]
	return r, ok
}

// All is every route, sorted by path.
func (t *Table) All() []*Route {
	m := *t.current.Load()
	out := make([]*Route, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (t *Table) store(m map[string]*Route) { t.current.Store(&m) }

// Document is the OpenAPI document (internal/openapi) of the routes in force as serve says
// they are served (false: not served), with the descriptions and comments their services
// sent. It is made again only when the routes change; serve must say the same of a route
// every time.
func (t *Table) Document(serve func(*Route) (apispec.Route, bool)) ([]byte, error) {
	current := t.current.Load()
	if d := t.document.Load(); d != nil && d.of == current {
		return d.yaml, nil
	}
	t.making.Lock()
	defer t.making.Unlock()
	if d := t.document.Load(); d != nil && d.of == current {
		return d.yaml, nil
	}
	var served []apispec.Route
	for _, r := range *current {
		if route, ok := serve(r); ok {
			served = append(served, route)
		}
	}
	doc, err := openapi.Document(served)
	if err != nil {
		return nil, err
	}
	t.document.Store(&document{of: current, yaml: doc})
	return doc, nil
}

// Endpoint is what the registry says of one endpoint of a service: its name (User.Login) and
// the route its api.Endpoint metadata names ("" for none).
type Endpoint struct {
	Name, Method, Path string
}

// API is a service's API as one version of it declares it.
type API struct {
	// Service is the registry name, Namespace the prefix of the gateway's services.
	Service, Namespace string
	// Endpoints are the endpoints its registration lists.
	Endpoints []Endpoint
	// Files are its Reflection.Files answer.
	Files [][]byte
}

// limits on what a service may describe itself with.
const (
	maxFiles     = 200
	maxFileBytes = 4 << 20
)

// Build makes the routes of api. A service that declares routes (google.api.http on some RPC)
// is served on those alone; one that declares none is served by micro api's path rule on all
// its endpoints: /foo/bar for go.micro.api.foo's Foo.Bar, /foo/baz/bar for Baz.Bar. A route
// against the rules is left out and said in refused; an API that cannot be read is an error.
func Build(api API) (routes []*Route, refused []string, err error) {
	short, ok := strings.CutPrefix(api.Service, api.Namespace+".")
	if !ok || short == "" {
		return nil, nil, fmt.Errorf("%s is not a service of %s", api.Service, api.Namespace)
	}
	prefix := "/" + strings.ReplaceAll(short, ".", "/") + "/"
	files, err := readFiles(api.Files)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", api.Service, err)
	}
	methods := map[string]protoreflect.MethodDescriptor{} // by endpoint name: Service.Method
	var declared []apispec.Route
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if api.Namespace+"."+string(f.Package()) != api.Service {
			return true // an import, not one of the service's own files
		}
		for i := 0; i < f.Services().Len(); i++ {
			s := f.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				m := s.Methods().Get(j)
				methods[string(s.Name())+"."+string(m.Name())] = m
				r, ok, rerr := apispec.RouteOf(m)
				if rerr != nil {
					err = rerr
					return false
				}
				if ok {
					declared = append(declared, r)
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", api.Service, err)
	}
	registered := map[string]Endpoint{}
	for _, e := range api.Endpoints {
		registered[e.Name] = e
	}
	var candidates []apispec.Route
	if len(declared) > 0 {
		for _, r := range declared {
			e, ok := registered[r.Endpoint]
			switch {
			case !ok:
				refused = append(refused, fmt.Sprintf("%s declares %s but does not register it", api.Service, r.Endpoint))
			case e.Path != r.Path || e.Method != r.HTTPMethod:
				refused = append(refused, fmt.Sprintf("%s registers %s as %s %s but declares %s %s", api.Service, r.Endpoint, e.Method, e.Path, r.HTTPMethod, r.Path))
			default:
				candidates = append(candidates, r)
			}
		}
	} else {
		for _, e := range api.Endpoints {
			m, ok := methods[e.Name]
			if !ok || strings.HasPrefix(e.Name, "Reflection.") {
				continue
			}
			candidates = append(candidates, apispec.Route{HTTPMethod: "POST", Path: pathRule(short, e.Name), Service: api.Service,
				Endpoint: e.Name, Status: 200, RPC: m})
		}
	}
	for _, r := range candidates {
		if !strings.HasPrefix(r.Path, prefix) {
			refused = append(refused, fmt.Sprintf("%s may only route paths under %s, not %s (%s)", api.Service, prefix, r.Path, r.Endpoint))
			continue
		}
		r.Service = api.Service
		route, serr := newRoute(r)
		if serr != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", api.Service, serr))
			continue
		}
		routes = append(routes, route)
	}
	return routes, refused, nil
}

// newRoute is the route of r, with the types its messages are made with and its subject read
// from the request type used (generated or dynamic), not from another descriptor of it.
func newRoute(r apispec.Route) (*Route, error) {
	route := &Route{Route: r, Request: typeOf(r.RPC.Input()), Reply: typeOf(r.RPC.Output())}
	var err error
	route.Subject, err = apispec.Subject(route.Request.Descriptor())
	return route, err
}

// pathRule is micro api's path for an endpoint of a service without declared routes.
func pathRule(short, endpoint string) string {
	handler, method, _ := strings.Cut(endpoint, ".")
	base := "/" + strings.ReplaceAll(short, ".", "/")
	if !strings.EqualFold(handler, short[strings.LastIndex(short, ".")+1:]) {
		base += "/" + lowerFirst(handler)
	}
	return base + "/" + lowerFirst(method)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// readFiles builds the files in a registry of their own: a service's imports are the ones it
// sent, never the gateway's.
func readFiles(raw [][]byte) (*protoregistry.Files, error) {
	if len(raw) > maxFiles {
		return nil, fmt.Errorf("%d files describe the API; at most %d are read", len(raw), maxFiles)
	}
	total := 0
	files := new(protoregistry.Files)
	for _, b := range raw {
		if total += len(b); total > maxFileBytes {
			return nil, fmt.Errorf("the API's files are over %d bytes", maxFileBytes)
		}
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			return nil, fmt.Errorf("read a file of the API: %w", err)
		}
		f, err := protodesc.NewFile(&fd, files)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", fd.GetName(), err)
		}
		if err := files.RegisterFile(f); err != nil {
			return nil, fmt.Errorf("register %s: %w", fd.GetName(), err)
		}
	}
	return files, nil
}

// typeOf is the type of messages md describes: the gateway's generated type when md's file is
// the very file the gateway was built with (the same bytes), so that those routes keep their
// generated validation and speed; else a dynamic type made from md.
func typeOf(md protoreflect.MessageDescriptor) protoreflect.MessageType {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil && sameFile(mt.Descriptor().ParentFile(), md.ParentFile()) {
		return mt
	}
	return dynamicpb.NewMessageType(md)
}

// compiledFiles caches the serialized form of the gateway's own files.
var compiledFiles sync.Map // protoreflect.FileDescriptor → []byte

// sameFile says whether the service's file is the gateway's compiled one, byte for byte.
func sameFile(compiled, service protoreflect.FileDescriptor) bool {
	b, ok := compiledFiles.Load(compiled)
	if !ok {
		b = serialize(compiled)
		compiledFiles.Store(compiled, b)
	}
	return string(b.([]byte)) == string(serialize(service))
}

// serialize is f as its declaration, without its comments: a service sends its files with
// their comments (internal/protodocs), the gateway's compiled ones have none.
func serialize(f protoreflect.FileDescriptor) []byte {
	fd := protodesc.ToFileDescriptorProto(f)
	fd.SourceCodeInfo = nil
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(fd)
	return b
}

// merge makes a table of the services' routes. A path claimed by two services stays with the
// one that held it before (a service cannot take a path by registering), else with the first
// by name; refused says each claim refused ("service path").
func merge(byService map[string][]*Route, before map[string]*Route) (table map[string]*Route, refused []string) {
	table = map[string]*Route{}
	for path, held := range before {
		for _, r := range byService[held.Service] {
			if r.Path == path {
				table[path] = r
			}
		}
	}
	names := make([]string, 0, len(byService))
	for name := range byService {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, r := range byService[name] {
			if other, taken := table[r.Path]; taken && other.Service != name {
				refused = append(refused, name+" claims "+r.Path+", which "+other.Service+" holds")
				continue
			}
			table[r.Path] = r
		}
	}
	return table, refused
}

// Compiled is a table of the routes the given compiled files declare, for the services of
// namespace, with the gateway's generated types: what a gateway built with those files would
// learn from the registry while their services run (tests build gateways with it).
func Compiled(namespace string, files ...protoreflect.FileDescriptor) (*Table, error) {
	declared, err := apispec.Routes(files...)
	if err != nil {
		return nil, err
	}
	byService := map[string][]*Route{}
	for _, r := range declared {
		route, err := newRoute(r)
		if err != nil {
			return nil, err
		}
		byService[r.Service] = append(byService[r.Service], route)
	}
	t := NewTable()
	table, refused := merge(byService, nil)
	if len(refused) > 0 {
		return nil, fmt.Errorf("conflicting routes: %v", refused)
	}
	t.store(table)
	return t, nil
}
