package routes

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
	"github.com/gomicro-stack/gomicro-stack/internal/microsvc"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
	echopb "github.com/gomicro-stack/gomicro-stack/test/e2e/echo/echopb"
)

// filesOf is what a service built from f answers Reflection.Files with.
func filesOf(f protoreflect.FileDescriptor) [][]byte {
	files, err := microsvc.APIFiles([]protoreflect.FileDescriptor{f})
	if err != nil {
		panic(err)
	}
	return files
}

// registered is what the registry lists of a service built from f: every RPC, with its route.
func registered(f protoreflect.FileDescriptor) []Endpoint {
	var out []Endpoint
	for i := 0; i < f.Services().Len(); i++ {
		s := f.Services().Get(i)
		for j := 0; j < s.Methods().Len(); j++ {
			m := s.Methods().Get(j)
			e := Endpoint{Name: string(s.Name()) + "." + string(m.Name())}
			if r, ok, _ := apispec.RouteOf(m); ok {
				e.Method, e.Path = r.HTTPMethod, r.Path
			}
			out = append(out, e)
		}
	}
	return out
}

func TestBuildServesWhatTheServiceDeclares(t *testing.T) {
	routes, refused, err := Build(API{Service: names.User, Namespace: names.Namespace, Endpoints: registered(userpb.File_user_user_proto), Files: filesOf(userpb.File_user_user_proto)})
	if err != nil || len(refused) > 0 {
		t.Fatalf("%v %v", err, refused)
	}
	want, _ := apispec.Routes(userpb.File_user_user_proto)
	slices.SortFunc(routes, func(a, b *Route) int { return strings.Compare(a.Path, b.Path) })
	if len(routes) != len(want) {
		t.Fatalf("%d routes, want %d", len(routes), len(want))
	}
	for i, r := range routes {
		w := want[i]
		if r.Path != w.Path || r.Endpoint != w.Endpoint || r.Public != w.Public || r.Status != w.Status || r.Service != names.User {
			t.Errorf("route %s: %+v, want %+v", w.Path, r.Route, w)
		}
		// The gateway is built with user.proto: the same file gives its generated types.
		if mt, _ := protoregistry.GlobalTypes.FindMessageByName(r.Request.Descriptor().FullName()); mt != r.Request {
			t.Errorf("%s: a dynamic type for a file the gateway has compiled", r.Path)
		}
	}
	if !slices.ContainsFunc(routes, func(r *Route) bool {
		return r.Path == "/user/login" && r.Subject != nil && r.Subject.Name() == "username"
	}) {
		t.Fatal("login's subject is not its username")
	}
	for _, r := range routes {
		if strings.Contains(r.Endpoint, "Revocations") || strings.Contains(r.Endpoint, "GetUserInfo") {
			t.Fatalf("an internal RPC is routed: %s", r.Endpoint)
		}
	}
}

func TestBuildRefusesWhatBreaksTheRules(t *testing.T) {
	echo := echopb.File_test_e2e_echo_echopb_echo_proto
	routes, refused, err := Build(API{Service: names.Namespace + ".echo", Namespace: names.Namespace, Endpoints: registered(echo), Files: filesOf(echo)})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].Path != "/echo/say" || routes[0].Public {
		t.Fatalf("routes %v", routes)
	}
	if len(refused) != 1 || !strings.Contains(refused[0], "may only route paths under /echo/, not /user/login") {
		t.Fatalf("refused %q", refused)
	}
	// A route the service does not register is not served.
	_, refused, _ = Build(API{Service: names.Namespace + ".echo", Namespace: names.Namespace, Endpoints: []Endpoint{{Name: "Echo.Steal", Method: "POST", Path: "/user/login"}}, Files: filesOf(echo)})
	if len(refused) != 2 || !strings.Contains(strings.Join(refused, ";"), "declares Echo.Say but does not register it") {
		t.Fatalf("refused %q", refused)
	}
	// Files that are not the service's own package give it no routes, nor another's.
	routes, _, _ = Build(API{Service: names.Namespace + ".echo", Namespace: names.Namespace, Endpoints: registered(userpb.File_user_user_proto), Files: filesOf(userpb.File_user_user_proto)})
	if len(routes) != 0 {
		t.Fatalf("a service served another's file: %v", routes)
	}
	if _, _, err := Build(API{Service: "other.echo", Namespace: names.Namespace}); err == nil {
		t.Fatal("a service outside the namespace was built")
	}
	if _, _, err := Build(API{Service: names.Namespace + ".echo", Namespace: names.Namespace, Files: [][]byte{[]byte("not a descriptor")}}); err == nil {
		t.Fatal("garbage files were read")
	}
}

// TestServicesWithoutRoutesFollowMicroAPIsPathRule: an API without http options is served
// as micro api serves it, every endpoint but Reflection's, none public.
func TestServicesWithoutRoutesFollowMicroAPIsPathRule(t *testing.T) {
	greeter := greeterpb.File_greeter_greeter_proto
	endpoints := []Endpoint{{Name: "Greeter.Hello"}, {Name: "Reflection.Files"}}
	routes, refused, err := Build(API{Service: names.Greeter, Namespace: names.Namespace, Endpoints: endpoints, Files: filesOf(greeter)})
	if err != nil {
		t.Fatal(err)
	}
	// The greeter declares a route, so it is served on that one alone.
	if len(routes) != 0 || len(refused) != 1 {
		t.Fatalf("routes %v refused %q", routes, refused)
	}
	if got := pathRule("foo", "Foo.Bar"); got != "/foo/bar" {
		t.Fatalf("pathRule(foo, Foo.Bar) = %s", got)
	}
	if got := pathRule("foo", "Baz.DoIt"); got != "/foo/baz/doIt" {
		t.Fatalf("pathRule(foo, Baz.DoIt) = %s", got)
	}
}

func TestAPathStaysWithItsFirstHolder(t *testing.T) {
	first := &Route{Route: apispec.Route{Path: "/x/a", Service: "go.micro.api.x"}}
	second := &Route{Route: apispec.Route{Path: "/x/a", Service: "go.micro.api.a"}}
	table, refused := merge(map[string][]*Route{"go.micro.api.x": {first}}, nil)
	table, refused = merge(map[string][]*Route{"go.micro.api.x": {first}, "go.micro.api.a": {second}}, table)
	if table["/x/a"] != first || len(refused) != 1 {
		t.Fatalf("holder %s, refused %q", table["/x/a"].Service, refused)
	}
}

// TestDynamicValidationSpeaksAsTheGenerated: a request known only by its descriptor is checked
// against the same string rules, in the same words, as protoc-gen-validate's generated code.
func TestDynamicValidationSpeaksAsTheGenerated(t *testing.T) {
	for _, tc := range []struct {
		message protoreflect.ProtoMessage
		values  []string
	}{
		{&userpb.RegisterRequest{}, []string{"", "ab", "alice", "has space", strings.Repeat("a", 33), "ünï"}},
		{&userpb.LoginRequest{}, []string{"", "x", strings.Repeat("y", 33), "ok"}},
		{&greeterpb.HelloRequest{}, []string{"", " lead", "fine", strings.Repeat("z", 65), "tab\t"}},
	} {
		md := tc.message.ProtoReflect().Descriptor()
		for _, v := range tc.values {
			compiled := tc.message.ProtoReflect().New()
			dynamic := dynamicpb.NewMessage(md)
			f := md.Fields().Get(0)
			compiled.Set(f, protoreflect.ValueOfString(v))
			dynamic.Set(f, protoreflect.ValueOfString(v))
			want, got := errText(apispec.Validate(compiled.Interface())), errText(apispec.Validate(dynamic))
			if got != want {
				t.Errorf("%s %q: dynamic %q, generated %q", md.Name(), v, got, want)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAnAPITheGatewayLacksGetsDynamicTypes: a service whose file differs from the gateway's
// compiled one (another version of it) is served with types made from its own descriptors,
// so that its new fields are read, not refused as unknown.
func TestAnAPITheGatewayLacksGetsDynamicTypes(t *testing.T) {
	files := filesOf(userpb.File_user_user_proto)
	fd := protodesc.ToFileDescriptorProto(userpb.File_user_user_proto)
	for _, m := range fd.MessageType {
		if m.GetName() == "LoginRequest" {
			m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("otp"), Number: proto.Int32(9),
				Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), JsonName: proto.String("otp")})
		}
	}
	newer, err := proto.Marshal(fd)
	if err != nil {
		t.Fatal(err)
	}
	files[len(files)-1] = newer
	routes, _, err := Build(API{Service: names.User, Namespace: names.Namespace, Endpoints: registered(userpb.File_user_user_proto), Files: files})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Path != "/user/login" {
			continue
		}
		if _, compiled := r.Request.New().Interface().(*userpb.LoginRequest); compiled {
			t.Fatal("the gateway's generated type for another version of the file")
		}
		if r.Request.Descriptor().Fields().ByName("otp") == nil || r.Subject == nil {
			t.Fatalf("the newer LoginRequest: %v, subject %v", r.Request.Descriptor().Fields(), r.Subject)
		}
		return
	}
	t.Fatal("no /user/login")
}
