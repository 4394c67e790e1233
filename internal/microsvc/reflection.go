package microsvc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gomicro-stack/gomicro-stack/internal/protodocs"
	reflectionpb "github.com/gomicro-stack/gomicro-stack/proto/reflection"
)

// API describes a service's API to the gateway: the proto files of its services. The service
// answers Reflection.Files with them and registers under a version derived from them, so that
// a gateway fetches a service's files once per version of its API.
func API(files ...protoreflect.FileDescriptor) Option {
	return func(o *options) { o.api = append(o.api, files...) }
}

// APIFiles are files and every file they import, each after its imports, serialized with the
// comments protodocs holds for it: what a service answers Reflection.Files with.
func APIFiles(files []protoreflect.FileDescriptor) ([][]byte, error) {
	var out [][]byte
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor) error
	add = func(f protoreflect.FileDescriptor) error {
		if seen[f.Path()] {
			return nil
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := 0; i < imports.Len(); i++ {
			if err := add(imports.Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		fd := protodesc.ToFileDescriptorProto(f)
		info, err := protodocs.SourceInfo(f.Path())
		if err != nil {
			return fmt.Errorf("read the comments of %s: %w", f.Path(), err)
		}
		fd.SourceCodeInfo = info
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fd)
		if err != nil {
			return fmt.Errorf("describe %s: %w", f.Path(), err)
		}
		out = append(out, b)
		return nil
	}
	for _, f := range files {
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// apiVersion names the API the files declare: the same files, the same version.
func apiVersion(files [][]byte) string {
	h := sha256.New()
	for _, f := range files {
		h.Write(f)
	}
	return "api-" + hex.EncodeToString(h.Sum(nil)[:6])
}

// reflection serves Reflection.Files.
type reflection struct{ files [][]byte }

func (r reflection) Files(_ context.Context, _ *reflectionpb.FilesRequest, out *reflectionpb.FilesReply) error {
	out.Files = r.files
	return nil
}
