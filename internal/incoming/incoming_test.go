package incoming

import (
	"context"
	"slices"
	"testing"

	gmetadata "google.golang.org/grpc/metadata"
)

func TestHeaderReadsAsGoMicroHandsIt(t *testing.T) {
	ctx := gmetadata.NewIncomingContext(context.Background(), gmetadata.Pairs("x-example-assertion", "signed", "x-two", "a", "x-two", "b"))
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"X-Example-Assertion", "signed", true},
		{"x-example-assertion", "signed", true},
		{"X-Two", "a, b", true},
		{"X-None", "", false},
	} {
		if got, ok := Header(ctx, tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %t, want %q %t", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Header(context.Background(), "x-example-assertion"); ok {
		t.Error("a header outside a call")
	}
	names := Names(ctx)
	slices.Sort(names)
	if !slices.Equal(names, []string{"x-example-assertion", "x-two"}) {
		t.Errorf("names %v", names)
	}
}
