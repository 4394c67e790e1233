// Package apijson converts between the micro api gateway's Request/Response messages and the
// JSON bodies our public endpoints speak. Every success body carries {"code": 0, "message": "ok"};
// failures are go-micro errors, which the gateway turns into {"code", "message"} envelopes.
package apijson

import (
	"bytes"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	api "github.com/micro/go-micro/v2/api/proto"
	"github.com/micro/go-micro/v2/errors"
)

// Decode checks that req is a POST with a JSON object body and decodes it into dst.
// serviceID names the service in the go-micro error it returns for bad input.
func Decode(serviceID string, req *api.Request, dst any) error {
	if req.GetMethod() != http.MethodPost {
		return errors.New(serviceID, "use POST with a JSON body", http.StatusMethodNotAllowed)
	}
	if !isJSON(req) {
		return errors.New(serviceID, "send the body as JSON with Content-Type: application/json", http.StatusUnsupportedMediaType)
	}
	body := strings.TrimSpace(req.GetBody())
	if body == "" {
		return errors.BadRequest(serviceID, "request body must be a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return errors.BadRequest(serviceID, "malformed JSON body: %s", describe(err))
	}
	if dec.More() {
		return errors.BadRequest(serviceID, "malformed JSON body: more than one JSON value")
	}
	return nil
}

func isJSON(req *api.Request) bool {
	for key, pair := range req.GetHeader() {
		if !strings.EqualFold(key, "Content-Type") {
			continue
		}
		for _, v := range pair.GetValues() {
			if mt, _, err := mime.ParseMediaType(v); err == nil && mt == "application/json" {
				return true
			}
		}
	}
	return false
}

func describe(err error) string {
	var typeErr *json.UnmarshalTypeError
	if stderrors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("field %q must be a %s", typeErr.Field, typeErr.Type.Kind())
	}
	return err.Error()
}

// Write fills rsp with status and a JSON body made of {"code": 0, "message": "ok"} followed by
// fields, in order.
func Write(rsp *api.Response, status int, fields ...Field) error {
	var buf bytes.Buffer
	buf.WriteString(`{"code":0,"message":"ok"`)
	for _, f := range fields {
		value, err := json.Marshal(f.Value)
		if err != nil {
			return fmt.Errorf("encode field %s: %w", f.Name, err)
		}
		key, _ := json.Marshal(f.Name)
		buf.WriteByte(',')
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(value)
	}
	buf.WriteByte('}')
	rsp.StatusCode = int32(status)
	rsp.Header = map[string]*api.Pair{"Content-Type": {Key: "Content-Type", Values: []string{"application/json"}}}
	rsp.Body = buf.String()
	return nil
}

// Field is one named value of a success body.
type Field struct {
	Name  string
	Value any
}
