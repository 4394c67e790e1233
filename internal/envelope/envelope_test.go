package envelope

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		wantStatus  int
		wantMessage string
		wantReason  string
	}{
		{"service error keeps its code", 409, `{"id":"go.micro.api.user","code":409,"detail":"username is already taken","status":"Conflict"}`, 409, "username is already taken", ""},
		{"service error with its reason", 409, `{"id":"go.micro.api.user","code":409,"detail":"username is already taken","status":"USERNAME_TAKEN"}`, 409, "username is already taken", "USERNAME_TAKEN"},
		{"the gRPC server's own answer", 501, `{"id":"grpc","code":501,"detail":"unknown service go.micro.api.user.User","status":"Unimplemented"}`, 501, "not implemented", ""},
		{"client statuses are not reasons: a 503 is UNAVAILABLE", 503, `{"id":"go.micro.client","code":503,"detail":"connection refused","status":"UNREACHABLE"}`, 503, "service unavailable", "UNAVAILABLE"},
		{"a hidden internal error keeps no reason", 500, `{"id":"go.micro.api.user","code":500,"detail":"pq: secret","status":"INTERNAL"}`, 500, "internal error", "INTERNAL"},
		{"bad request", 400, `{"id":"go.micro.api.greeter","code":400,"detail":"name must be 1 to 64 printable characters"}`, 400, "name must be 1 to 64 printable characters", ""},
		{"service unavailable from greeter", 503, `{"id":"go.micro.api.greeter","code":503,"detail":"user service unavailable"}`, 503, "user service unavailable", "UNAVAILABLE"},
		{"internal detail hidden", 500, `{"id":"go.micro.api.user","code":500,"detail":"pq: secret stuff"}`, 500, "internal error", ""},
		{"client: service not found", 500, `{"id":"go.micro.client","code":500,"detail":"service go.micro.api.greeter: not found"}`, 503, "service unavailable", "UNAVAILABLE"},
		{"client: connection refused", 500, `{"id":"go.micro.client","code":500,"detail":"connection error: dial tcp: connection refused"}`, 503, "service unavailable", "UNAVAILABLE"},
		{"shedding keeps its reason", 503, `{"id":"go.micro.api.user","code":503,"detail":"too busy","status":"OVERLOADED"}`, 503, "too busy", "OVERLOADED"},
		{"the gateway's own 503", 503, `{"code":503,"message":"service unavailable"}`, 503, "service unavailable", "UNAVAILABLE"},
		{"client: timeout", 408, `{"id":"go.micro.client","code":408,"detail":"context deadline exceeded"}`, 504, "upstream service timed out", ""},
		{"code out of range", 500, `{"id":"x","code":42,"detail":"odd"}`, 500, "internal error", ""},
		{"plain text", 401, "unauthorized request\n", 401, "unauthorized", ""},
		{"already an envelope", 401, `{"code":401,"message":"please login"}`, 401, "please login", ""},
		{"empty body", 404, ``, 404, "not found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Translate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			var got Body
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if got.Code != tc.wantStatus || got.Message != tc.wantMessage || got.Reason != tc.wantReason {
				t.Fatalf("body %+v, want code %d message %q reason %q", got, tc.wantStatus, tc.wantMessage, tc.wantReason)
			}
		})
	}
}

func TestTranslatePassesSuccessThrough(t *testing.T) {
	h := Translate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.Write([]byte(`{"code":0,"message":"ok"}`))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 201 || rec.Body.String() != `{"code":0,"message":"ok"}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
