package apijson

import (
	"encoding/json"
	"testing"

	api "github.com/micro/go-micro/v2/api/proto"
	"github.com/micro/go-micro/v2/errors"
)

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		ctype    string
		body     string
		wantCode int32
		want     credentials
	}{
		{"ok", "POST", "application/json", `{"username":"alice","password":"secret123"}`, 0, credentials{"alice", "secret123"}},
		{"unknown fields are ignored", "POST", "application/json", `{"username":"a","extra":1}`, 0, credentials{Username: "a"}},
		{"GET", "GET", "application/json", `{}`, 405, credentials{}},
		{"empty body", "POST", "application/json", ``, 400, credentials{}},
		{"blank body", "POST", "application/json", "  \n", 400, credentials{}},
		{"truncated", "POST", "application/json", `{"username":`, 400, credentials{}},
		{"array", "POST", "application/json", `[1,2]`, 400, credentials{}},
		{"wrong type", "POST", "application/json", `{"username":5}`, 400, credentials{}},
		{"two values", "POST", "application/json", `{} {}`, 400, credentials{}},
		{"not json", "POST", "application/json", `username=alice`, 400, credentials{}},
		{"json with charset", "POST", "application/json; charset=utf-8", `{"username":"a"}`, 0, credentials{Username: "a"}},
		{"form content type", "POST", "application/x-www-form-urlencoded", `{"username":"a"}`, 415, credentials{}},
		{"no content type", "POST", "", `{"username":"a"}`, 415, credentials{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got credentials
			req := &api.Request{Method: tc.method, Body: tc.body, Header: map[string]*api.Pair{}}
			if tc.ctype != "" {
				req.Header["Content-Type"] = &api.Pair{Key: "Content-Type", Values: []string{tc.ctype}}
			}
			err := Decode("test", req, &got)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if code := errors.Parse(err.Error()).Code; code != tc.wantCode {
				t.Fatalf("got code %d (%v), want %d", code, err, tc.wantCode)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	var rsp api.Response
	if err := Write(&rsp, 201, Field{"id", 3}, Field{"username", "a\"b"}); err != nil {
		t.Fatal(err)
	}
	if rsp.StatusCode != 201 || rsp.Header["Content-Type"].Values[0] != "application/json" {
		t.Fatalf("status/header: %+v", &rsp)
	}
	want := `{"code":0,"message":"ok","id":3,"username":"a\"b"}`
	if rsp.Body != want {
		t.Fatalf("body %s, want %s", rsp.Body, want)
	}
	if !json.Valid([]byte(rsp.Body)) {
		t.Fatal("invalid JSON")
	}
}
