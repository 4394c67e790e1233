// Package incoming reads the headers of the gRPC call a go-micro handler serves.
package incoming

import (
	"context"
	"strings"

	gmetadata "google.golang.org/grpc/metadata"
)

// Header is the call's header name as go-micro's server hands it to handlers (several values
// joined with ", "), read from gRPC's incoming metadata: go-micro's metadata.Get copies every
// header of the call and retitles every name on each read, a cost paid on every hop for one
// value.
func Header(ctx context.Context, name string) (string, bool) {
	values := gmetadata.ValueFromIncomingContext(ctx, strings.ToLower(name))
	switch len(values) {
	case 0:
		return "", false
	case 1:
		return values[0], true
	}
	return strings.Join(values, ", "), true
}

// Names are the call's header names (in lower case).
func Names(ctx context.Context) []string {
	md, _ := gmetadata.FromIncomingContext(ctx)
	names := make([]string, 0, len(md))
	for name := range md {
		names = append(names, name)
	}
	return names
}
