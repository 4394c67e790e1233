// Package apijson is the JSON of the public API: a request body decoded into its protobuf
// request message, a reply message encoded as the body clients read. The mapping is proto3's
// JSON (protojson) with the fields' proto names (snake_case), but for three choices that keep
// the JSON of the first version:
//   - every successful body starts with "code": 0 and "message": "ok";
//   - 64-bit integers are JSON numbers, not strings (an id or a count stays a number);
//   - every field is written, zero or not, except message fields that are unset (so a
//     google.protobuf.*Value field is absent or its plain value) and header fields.
//
// Fields with the gomicro.api.header option travel as HTTP headers, never in the body.
package apijson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gomicro-stack/gomicro-stack/internal/apispec"
)

// ErrMalformed wraps every reason Decode refuses a body.
var ErrMalformed = errors.New("malformed JSON body")

// decoder reads a body strictly: a key the message does not have (another letter case
// included) and a field given twice (under either of its names) are errors. A lenient reader
// that skipped them would let a body mean one thing to one reader and another to the next.
var decoder = protojson.UnmarshalOptions{}

// Unmarshal reads body, a JSON object, into m strictly (see decoder). The gateway reads request
// bodies with it, and the services' gRPC servers their JSON requests (microsvc), so that both
// read any body alike.
func Unmarshal(body []byte, m proto.Message) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return fmt.Errorf("%w: want a JSON object", ErrMalformed)
	}
	if err := decoder.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: %s", ErrMalformed, describe(err))
	}
	return nil
}

// Decode reads body, a JSON object (or nothing, read as {}), into req strictly (see decoder).
// Fields that travel as headers are refused in the body: header(name) gives their values.
func Decode(body []byte, req proto.Message, header func(name string) string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := Unmarshal(body, req); err != nil {
		return err
	}
	m := req.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := apispec.Header(f)
		if name == "" {
			continue
		}
		if m.Has(f) {
			return fmt.Errorf("%w: %s travels as the %s header, not in the body", ErrMalformed, f.Name(), name)
		}
		if v := header(name); v != "" && f.Kind() == protoreflect.StringKind && !f.IsList() {
			m.Set(f, protoreflect.ValueOfString(v))
		}
	}
	return nil
}

// describe is protojson's error without its "proto:" prefix (whose spacing protobuf-go varies
// on purpose).
func describe(err error) string {
	msg := strings.TrimPrefix(err.Error(), "proto:")
	return strings.TrimLeftFunc(msg, unicode.IsSpace)
}

// Encode is the body of a successful answer with reply.
func Encode(reply proto.Message) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"code":0,"message":"ok"`)
	if err := writeFields(&buf, reply.ProtoReflect(), true); err != nil {
		return nil, err
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Headers are the header fields of reply that are set, by header name.
func Headers(reply proto.Message) map[string]string {
	var out map[string]string
	m := reply.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := apispec.Header(f)
		if name == "" || !m.Has(f) || f.IsList() || f.Kind() == protoreflect.MessageKind {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = fmt.Sprint(m.Get(f).Interface())
	}
	return out
}

// writeFields writes the fields of m, each preceded by a comma when comma is true.
func writeFields(buf *bytes.Buffer, m protoreflect.Message, comma bool) error {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if apispec.Header(f) != "" || (f.Kind() == protoreflect.MessageKind && !f.IsList() && !m.Has(f)) {
			continue
		}
		if comma {
			buf.WriteByte(',')
		}
		comma = true
		key, _ := json.Marshal(string(f.Name()))
		buf.Write(key)
		buf.WriteByte(':')
		if err := writeValue(buf, f, m.Get(f)); err != nil {
			return fmt.Errorf("field %s: %w", f.FullName(), err)
		}
	}
	return nil
}

func writeValue(buf *bytes.Buffer, f protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case f.IsMap():
		return errors.New("map fields are not part of the API")
	case f.IsList():
		list := v.List()
		buf.WriteByte('[')
		for i := 0; i < list.Len(); i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeSingle(buf, f, list.Get(i)); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	return writeSingle(buf, f, v)
}

func writeSingle(buf *bytes.Buffer, f protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		m := v.Message()
		if IsWrapper(f.Message()) {
			inner := f.Message().Fields().ByNumber(1)
			return writeSingle(buf, inner, m.Get(inner))
		}
		buf.WriteByte('{')
		if err := writeFields(buf, m, false); err != nil {
			return err
		}
		buf.WriteByte('}')
	case protoreflect.StringKind:
		s, _ := json.Marshal(v.String())
		buf.Write(s)
	case protoreflect.BoolKind:
		buf.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		buf.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		buf.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		n, err := json.Marshal(v.Float())
		if err != nil {
			return err // NaN and infinities have no JSON number
		}
		buf.Write(n)
	case protoreflect.EnumKind:
		name := strconv.Itoa(int(v.Enum()))
		if ev := f.Enum().Values().ByNumber(v.Enum()); ev != nil {
			name = string(ev.Name())
		}
		s, _ := json.Marshal(name)
		buf.Write(s)
	case protoreflect.BytesKind:
		buf.WriteByte('"')
		buf.WriteString(base64.StdEncoding.EncodeToString(v.Bytes()))
		buf.WriteByte('"')
	default:
		return fmt.Errorf("kind %s is not part of the API", f.Kind())
	}
	return nil
}

// IsWrapper says whether m is one of google.protobuf's wrappers of a single value
// (UInt64Value, BoolValue, ...), which the JSON writes as that value.
func IsWrapper(m protoreflect.MessageDescriptor) bool {
	return m.ParentFile().Path() == "google/protobuf/wrappers.proto"
}
