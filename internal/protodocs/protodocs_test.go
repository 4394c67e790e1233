package protodocs

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

func TestSourceInfo(t *testing.T) {
	want := &descriptorpb.SourceCodeInfo{Location: []*descriptorpb.SourceCodeInfo_Location{
		{Path: []int32{4, 0}, Span: []int32{3, 0, 5, 1}, LeadingComments: proto.String(" A message.\n")},
	}}
	raw, _ := proto.Marshal(want)
	Register("test/kept.proto", string(raw))
	Register("test/broken.proto", "\xff\xff")
	for _, tc := range []struct {
		path    string
		want    *descriptorpb.SourceCodeInfo
		wantErr bool
	}{
		{"test/kept.proto", want, false},
		{"test/unknown.proto", nil, false}, // a file without comments registers none
		{"test/broken.proto", nil, true},
	} {
		got, err := SourceInfo(tc.path)
		if (err != nil) != tc.wantErr || !proto.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v", tc.path, got, err)
		}
	}
}
