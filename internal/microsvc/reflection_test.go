package microsvc

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// TestAPIFilesRebuildTheAPI: the files a service describes itself with build, in a registry
// of their own (nothing taken from the reader's), the service and its messages with their
// options and comments; the same files always give the same version. It logs their size.
func TestAPIFilesRebuildTheAPI(t *testing.T) {
	files, err := APIFiles([]protoreflect.FileDescriptor{userpb.File_user_user_proto})
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	own := new(protoregistry.Files)
	for _, b := range files {
		size += len(b)
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			t.Fatal(err)
		}
		f, err := protodesc.NewFile(&fd, own)
		if err != nil {
			t.Fatalf("%s: %v (files must come after their imports)", fd.GetName(), err)
		}
		if err := own.RegisterFile(f); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("user's API: %d files, %d bytes", len(files), size)
	d, err := own.FindDescriptorByName("user.User")
	if err != nil {
		t.Fatal(err)
	}
	login := d.(protoreflect.ServiceDescriptor).Methods().ByName("Login")
	if login == nil {
		t.Fatal("no Login in the rebuilt service")
	}
	if c := login.ParentFile().SourceLocations().ByDescriptor(login).LeadingComments; !strings.Contains(c, "Login") {
		t.Fatalf("Login's comment: %q; want user.proto's", c)
	}
	again, _ := APIFiles([]protoreflect.FileDescriptor{userpb.File_user_user_proto})
	if apiVersion(files) != apiVersion(again) {
		t.Fatal("the same files gave two versions")
	}
}
