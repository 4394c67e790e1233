package store

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/gomicro-stack/gomicro-stack/internal/tracing"
)

// queryTracing is a gorm plugin giving every statement run for a traced request a client span
// (SELECT users, INSERT sessions, ...) with the database system, the table and the SQL text
// with its placeholders. The bound values are never recorded: they hold usernames, password
// hashes and token ids. Statements outside a recorded trace (migrations, sweeps of expired
// rows, requests not sampled) cost one check.
//
// gorm.io/plugin/opentelemetry would do this, but its module pulls in the ClickHouse and MySQL
// drivers for a metrics feature we don't use.
type queryTracing struct{}

func (queryTracing) Name() string { return "gomicro-stack:tracing" }

func (queryTracing) Initialize(db *gorm.DB) error {
	c := db.Callback()
	// Raw and row statements are named by their SQL's first word.
	after := func(operation string) func(*gorm.DB) { return func(db *gorm.DB) { endQuerySpan(db, operation) } }
	return errors.Join(
		c.Create().Before("gorm:create").Register("tracing:before_create", startQuerySpan),
		c.Create().After("gorm:create").Register("tracing:after_create", after("INSERT")),
		c.Query().Before("gorm:query").Register("tracing:before_query", startQuerySpan),
		c.Query().After("gorm:query").Register("tracing:after_query", after("SELECT")),
		c.Update().Before("gorm:update").Register("tracing:before_update", startQuerySpan),
		c.Update().After("gorm:update").Register("tracing:after_update", after("UPDATE")),
		c.Delete().Before("gorm:delete").Register("tracing:before_delete", startQuerySpan),
		c.Delete().After("gorm:delete").Register("tracing:after_delete", after("DELETE")),
		c.Row().Before("gorm:row").Register("tracing:before_row", startQuerySpan),
		c.Row().After("gorm:row").Register("tracing:after_row", after("")),
		c.Raw().Before("gorm:raw").Register("tracing:before_raw", startQuerySpan),
		c.Raw().After("gorm:raw").Register("tracing:after_raw", after("")),
	)
}

// startQuerySpan starts the statement's span, named when it ends: the SQL is not built yet.
func startQuerySpan(db *gorm.DB) {
	ctx := db.Statement.Context
	if ctx == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	// The request's own provider makes the span, as it made the request's.
	parent := trace.SpanFromContext(ctx)
	spanCtx, _ := parent.TracerProvider().Tracer(tracing.Instrumentation).Start(ctx, "db", trace.WithSpanKind(trace.SpanKindClient))
	// A transaction's statements share one Statement: the next must be a sibling, not a child.
	db.Statement.Context = context.WithValue(spanCtx, queryParent{}, ctx)
}

// queryParent keys the context a statement ran in, before its span.
type queryParent struct{}

// endQuerySpan names the span after the statement (operation, or the SQL's first word for raw
// statements) and its table, records the SQL text and the outcome, and ends it. A missing row
// is an answer, not a failure of the database.
func endQuerySpan(db *gorm.DB, operation string) {
	if db.Statement.Context == nil {
		return
	}
	parent, ok := db.Statement.Context.Value(queryParent{}).(context.Context)
	if !ok {
		return
	}
	span := trace.SpanFromContext(db.Statement.Context)
	db.Statement.Context = parent
	sql := db.Statement.SQL.String()
	if operation == "" {
		operation = sqlOperation(sql)
	}
	name := operation
	if table := db.Statement.Table; table != "" {
		name += " " + table
		span.SetAttributes(attribute.String("db.collection.name", table))
	}
	span.SetName(name)
	span.SetAttributes(attribute.String("db.system.name", dbSystem(db.Dialector.Name())),
		attribute.String("db.operation.name", operation), attribute.String("db.query.text", sql),
		attribute.Int64("db.response.affected_rows", db.Statement.RowsAffected))
	if err := db.Statement.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		tracing.Failed(span, err)
	}
	span.End()
}

// sqlOperation is the statement's first keyword if it is one of SQL's common ones, else "SQL".
func sqlOperation(sql string) string {
	word, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	switch word = strings.ToUpper(word); word {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT":
		return word
	}
	return "SQL"
}

// dbSystem is OpenTelemetry's name of the dialect.
func dbSystem(dialect string) string {
	if dialect == "postgres" {
		return "postgresql"
	}
	return dialect
}
