package apispec

import (
	"fmt"
	"regexp"
	"sync"
	"unicode/utf8"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// validateStrings checks the protoc-gen-validate string rules (min_len, max_len, min_bytes,
// max_bytes, pattern) of m's string fields, in protoc-gen-validate's words, as its generated
// ValidateAll would. Other rules are left to the service, which checks every rule of its
// requests before any handler runs (microsvc.ValidateRequests): the gateway's check only
// spares it the calls that would fail.
func validateStrings(m protoreflect.Message) []string {
	var problems []string
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.Kind() != protoreflect.StringKind || f.IsList() || f.IsMap() {
			continue
		}
		rules, _ := proto.GetExtension(f.Options(), validate.E_Rules).(*validate.FieldRules)
		r := rules.GetString_()
		if r == nil {
			continue
		}
		name := string(f.Name())
		if h := Header(f); h != "" {
			name = h
		}
		for _, reason := range stringProblems(m.Get(f).String(), r) {
			problems = append(problems, name+": "+reason)
		}
	}
	return problems
}

func stringProblems(v string, r *validate.StringRules) []string {
	var out []string
	runes, bytes := uint64(utf8.RuneCountInString(v)), uint64(len(v))
	if p := span("runes", runes, r.MinLen, r.MaxLen); p != "" {
		out = append(out, p)
	}
	if p := span("bytes", bytes, r.MinBytes, r.MaxBytes); p != "" {
		out = append(out, p)
	}
	if r.Pattern != nil {
		re, err := compiled(r.GetPattern())
		if err != nil || !re.MatchString(v) {
			out = append(out, fmt.Sprintf("value does not match regex pattern %q", r.GetPattern()))
		}
	}
	return out
}

// span says what a length n breaks of [min, max] (either may be unset), in
// protoc-gen-validate's words.
func span(unit string, n uint64, min, max *uint64) string {
	switch {
	case min != nil && max != nil && (n < *min || n > *max):
		return fmt.Sprintf("value length must be between %d and %d %s, inclusive", *min, *max, unit)
	case min != nil && max == nil && n < *min:
		return fmt.Sprintf("value length must be at least %d %s", *min, unit)
	case max != nil && min == nil && n > *max:
		return fmt.Sprintf("value length must be at most %d %s", *max, unit)
	}
	return ""
}

// patterns caches compiled patterns: a service's API has a handful.
var patterns sync.Map // string → *regexp.Regexp

func compiled(pattern string) (*regexp.Regexp, error) {
	if re, ok := patterns.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	patterns.Store(pattern, re)
	return re, nil
}
