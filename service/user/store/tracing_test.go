package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// TestQueriesOfATracedRequestGetSpans: each statement run for a recorded request is a child
// span of the request's, named by operation and table, with the SQL text but none of the
// values bound to it; a missing row is no failure, a taken name (a constraint) is; statements
// outside a trace record nothing.
func TestQueriesOfATracedRequestGetSpans(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			recorder.Reset()
			if err := s.Create(context.Background(), &account.User{Username: "untraced", PasswordHash: []byte("h")}, ""); err != nil {
				t.Fatal(err)
			}
			if n := len(recorder.Ended()); n != 0 {
				t.Fatalf("%d spans for statements outside a trace", n)
			}

			ctx, request := provider.Tracer("test").Start(context.Background(), "User.Login")
			u := account.User{Username: "secret-name", PasswordHash: []byte("secret-hash")}
			if err := s.Create(ctx, &u, "secret-key"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ByUsername(ctx, "nobody-here"); !errors.Is(err, account.ErrNotFound) {
				t.Fatal(err)
			}
			if err := s.Create(ctx, &account.User{Username: "secret-name", PasswordHash: []byte("h")}, ""); !errors.Is(err, account.ErrUsernameTaken) {
				t.Fatal(err)
			}
			// Two statements of one chain share gorm's Statement: the second is a sibling too.
			chain := s.db.WithContext(ctx).Model(&userRow{}).Where("id > ?", 0)
			var n int64
			var rows []userRow
			if err := errors.Join(chain.Count(&n).Error, chain.Find(&rows).Error); err != nil {
				t.Fatal(err)
			}
			request.End()

			byName := map[string][]sdktrace.ReadOnlySpan{}
			for _, span := range recorder.Ended() {
				byName[span.Name()] = append(byName[span.Name()], span)
				if span.Name() == "User.Login" {
					continue
				}
				if span.Parent().SpanID() != request.SpanContext().SpanID() || span.SpanKind() != trace.SpanKindClient {
					t.Errorf("%s: parent %s kind %s, want a client span under the request's %s", span.Name(), span.Parent().SpanID(), span.SpanKind(), request.SpanContext().SpanID())
				}
				attrs := attributes(span)
				text := attrs["db.query.text"]
				for _, secret := range []string{"secret-name", "secret-hash", "secret-key", "nobody-here"} {
					if strings.Contains(text, secret) || strings.Contains(strings.Join(values(attrs), " "), secret) {
						t.Errorf("%s records the bound value %q: %v", span.Name(), secret, attrs)
					}
				}
				if text == "" || attrs["db.system.name"] == "" {
					t.Errorf("%s: attributes %v, want the SQL text and the database system", span.Name(), attrs)
				}
			}
			inserts, selects := byName["INSERT users"], byName["SELECT users"]
			if len(inserts) != 2 || len(selects) == 0 || len(byName["INSERT idempotency_keys"]) != 1 {
				t.Fatalf("spans %v (%d INSERT users, %d SELECT users): want two INSERT users, one INSERT idempotency_keys, SELECT users", keys(byName), len(inserts), len(selects))
			}
			chained := 0
			for _, span := range selects {
				if strings.Contains(attributes(span)["db.query.text"], "id >") {
					chained++
				}
			}
			if chained != 2 {
				t.Errorf("%d spans for the two statements of one chain, want 2", chained)
			}
			for _, span := range selects {
				if span.Status().Code == codes.Error {
					t.Errorf("a missing row marked the query failed: %v", span.Status())
				}
			}
			if inserts[0].Status().Code == codes.Error || inserts[1].Status().Code != codes.Error {
				t.Errorf("insert statuses %v, %v: want the second (a taken name) failed", inserts[0].Status(), inserts[1].Status())
			}
		})
	}
}

func attributes(span sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range span.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func keys(m map[string][]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
