// Package apispec reads the public API from the proto descriptors: which RPCs have an HTTP
// route (google.api.http), the status of their success, whether they need a token, which
// fields travel as HTTP headers, and the HTTP status of each error reason. The gateway routes
// by it and tools/protoc-gen-openapi documents it, so that proto/ is the one declaration.
package apispec

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gomicro-stack/gomicro-stack/internal/names"
	apipb "github.com/gomicro-stack/gomicro-stack/proto/api"
)

// Route is one public RPC as HTTP sees it.
type Route struct {
	// HTTPMethod and Path are the request line the RPC answers (POST /user/register).
	HTTPMethod, Path string
	// Service is the registry name (go.micro.api.user), Endpoint the go-micro endpoint
	// (User.Register).
	Service, Endpoint string
	// Status is the HTTP status of a success.
	Status int
	// Public RPCs need no access token.
	Public bool
	// RPC describes the method, its request and its reply.
	RPC protoreflect.MethodDescriptor
}

// RouteOf is the route of an RPC, and false for an RPC without one (internal).
func RouteOf(m protoreflect.MethodDescriptor) (Route, bool, error) {
	opts := m.Options()
	rule, _ := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return Route{}, false, nil
	}
	r := Route{
		Service:  names.Namespace + "." + string(m.ParentFile().Package()),
		Endpoint: string(m.Parent().Name()) + "." + string(m.Name()),
		Status:   http.StatusOK,
		Public:   proto.GetExtension(opts, apipb.E_Public).(bool),
		RPC:      m,
	}
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Post:
		r.HTTPMethod, r.Path = http.MethodPost, p.Post
	default:
		// Every route takes its request as a JSON body; other verbs would need the request
		// fields mapped from the path and query, which nothing here does.
		return Route{}, false, fmt.Errorf("%s: only post routes are served", m.FullName())
	}
	if rule.GetBody() != "*" {
		return Route{}, false, fmt.Errorf("%s: the body must be \"*\" (the whole request)", m.FullName())
	}
	if s := proto.GetExtension(opts, apipb.E_SuccessStatus).(int32); s != 0 {
		r.Status = int(s)
	}
	return r, true, nil
}

// Routes are the routes of every service of the files, sorted by path.
func Routes(files ...protoreflect.FileDescriptor) ([]Route, error) {
	var routes []Route
	seen := map[string]string{}
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			methods := f.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				r, ok, err := RouteOf(methods.Get(j))
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				if other, taken := seen[r.Path]; taken {
					return nil, fmt.Errorf("%s and %s both route %s", other, r.Endpoint, r.Path)
				}
				seen[r.Path] = r.Endpoint
				routes = append(routes, r)
			}
		}
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Path < routes[j].Path })
	return routes, nil
}

// Header is the HTTP header a field travels in (its gomicro.api.header option), or "".
func Header(f protoreflect.FieldDescriptor) string {
	return proto.GetExtension(f.Options(), apipb.E_Header).(string)
}

// Subject is the field of a request message that names the account the request is about (its
// gomicro.api.subject option), or nil. A message may have one at most: two would be two truths
// about whom a request is for.
func Subject(m protoreflect.MessageDescriptor) (protoreflect.FieldDescriptor, error) {
	var subject protoreflect.FieldDescriptor
	fields := m.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if !proto.GetExtension(f.Options(), apipb.E_Subject).(bool) {
			continue
		}
		switch {
		case subject != nil:
			return nil, fmt.Errorf("%s: %s and %s are both marked subject", m.FullName(), subject.Name(), f.Name())
		case f.Kind() != protoreflect.StringKind || f.IsList() || Header(f) != "":
			return nil, fmt.Errorf("%s: the subject %s must be a string field of the body", m.FullName(), f.Name())
		}
		subject = f
	}
	return subject, nil
}

// Status is the HTTP status of a reason (its gomicro.api.http_status option).
func Status(r apipb.Reason) int {
	v := r.Descriptor().Values().ByNumber(r.Number())
	if v == nil {
		return http.StatusInternalServerError
	}
	if s := proto.GetExtension(v.Options(), apipb.E_HttpStatus).(int32); s != 0 {
		return int(s)
	}
	return http.StatusInternalServerError
}

// InvalidError is a request that breaks its proto's validation rules.
type InvalidError struct{ Problems []string }

func (e *InvalidError) Error() string { return strings.Join(e.Problems, "; ") }

// Validate checks m against the rules its proto declares (protoc-gen-validate's generated
// ValidateAll, or for a message without generated code the string rules its descriptor holds),
// and reports every broken rule as "field: rule".
func Validate(m proto.Message) error {
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		// A message known only by its descriptor (a service's API the gateway learnt from the
		// registry): its string rules are read from the descriptor (see validateStrings).
		if problems := validateStrings(m.ProtoReflect()); len(problems) > 0 {
			return &InvalidError{Problems: problems}
		}
		return nil
	}
	err := v.ValidateAll()
	if err == nil {
		return nil
	}
	var list []error
	if multi, ok := err.(interface{ AllErrors() []error }); ok {
		list = multi.AllErrors()
	} else {
		list = []error{err}
	}
	invalid := &InvalidError{}
	for _, e := range list {
		if fe, ok := e.(interface {
			Field() string
			Reason() string
		}); ok {
			invalid.Problems = append(invalid.Problems, fieldName(m, fe.Field())+": "+fe.Reason())
		} else {
			invalid.Problems = append(invalid.Problems, e.Error())
		}
	}
	return invalid
}

// fieldName is a field as clients spell it: its proto name, or its header for a header field.
// (protoc-gen-validate names fields by their Go names.)
func fieldName(m proto.Message, goName string) string {
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if strings.EqualFold(strings.ReplaceAll(string(f.Name()), "_", ""), goName) {
			if h := Header(f); h != "" {
				return h
			}
			return string(f.Name())
		}
	}
	return goName
}
