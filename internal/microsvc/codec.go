package microsvc

import (
	"encoding/json"

	"github.com/micro/go-micro/v2/codec/bytes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gomicro-stack/gomicro-stack/internal/apijson"
)

// StrictJSON is the JSON codec of our gRPC servers and clients (application/grpc+json), in
// place of go-micro's. go-micro's reads with jsonpb, which takes a key given twice at its last
// value, where the gateway (apijson) refuses the body: a caller inside the network could have
// a service hear another request than a gateway would have checked. Our servers read JSON as
// the gateway does, with apijson.Unmarshal.
type StrictJSON struct{}

// Name is the content subtype the codec serves: application/grpc+json.
func (StrictJSON) Name() string { return "json" }

// Marshal writes a message as proto3 JSON with the fields' proto names.
func (StrictJSON) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *bytes.Frame: // go-micro's router passes raw frames through
		return m.Data, nil
	case proto.Message:
		return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	}
	return json.Marshal(v)
}

// Unmarshal reads a message strictly (apijson.Unmarshal); an empty body is an empty message.
func (StrictJSON) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case nil:
		return nil
	case *bytes.Frame:
		m.Data = data
		return nil
	case proto.Message:
		if len(data) == 0 {
			return nil
		}
		return apijson.Unmarshal(data, m)
	}
	return json.Unmarshal(data, v)
}

// go-micro's server/grpc registers its codecs in its init; this package imports it, so this
// registration comes later and wins.
func init() { encoding.RegisterCodec(StrictJSON{}) }
