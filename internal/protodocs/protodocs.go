// Package protodocs keeps the comments of the proto files a binary is built with.
// protoc-gen-go leaves a file's comments (its SourceCodeInfo) out of the descriptor it embeds;
// tools/protoc-gen-protodocs writes them beside it (*.pb.docs.go), registered here, so that a
// service can send its API files to the gateway with their documentation.
package protodocs

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

var (
	mu    sync.RWMutex
	files = map[string]string{} // by proto path: a serialized SourceCodeInfo
)

// Register keeps the comments of the proto file at path (called by generated code's init).
func Register(path, sourceInfo string) {
	mu.Lock()
	defer mu.Unlock()
	files[path] = sourceInfo
}

// SourceInfo is the comments registered for the file at path, or nil.
func SourceInfo(path string) (*descriptorpb.SourceCodeInfo, error) {
	mu.RLock()
	raw, ok := files[path]
	mu.RUnlock()
	if !ok {
		return nil, nil
	}
	info := new(descriptorpb.SourceCodeInfo)
	if err := proto.Unmarshal([]byte(raw), info); err != nil {
		return nil, err
	}
	return info, nil
}
