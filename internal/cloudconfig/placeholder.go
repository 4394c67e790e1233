package cloudconfig

import (
	"fmt"
	"strings"
)

// Lookup finds the value of a key a placeholder names.
type Lookup func(key string) (string, bool)

// UnresolvableError says a placeholder has neither a value nor a default.
type UnresolvableError struct {
	Placeholder string
	Value       string
}

func (e *UnresolvableError) Error() string {
	return fmt.Sprintf("could not resolve placeholder '%s' in value %q", e.Placeholder, e.Value)
}

// Resolve replaces `${key}` and `${key:default}` in value as Spring's PropertyPlaceholderHelper
// does: placeholders may nest in keys and defaults (`${a:${b:c}}`), a found value is resolved in
// turn, a cycle is an error, and `\${` stands for a literal `${`. A placeholder that lookup cannot
// answer and that has no default is an *UnresolvableError, or left as written when keep is set.
func Resolve(value string, lookup Lookup, keep bool) (string, error) {
	r := resolver{lookup: lookup, keep: keep, visiting: map[string]bool{}}
	return r.parse(value, value)
}

type resolver struct {
	lookup   Lookup
	keep     bool
	visiting map[string]bool
}

func (r *resolver) parse(value, original string) (string, error) {
	result := value
	for start := strings.Index(result, "${"); start != -1; {
		if start > 0 && result[start-1] == '\\' {
			result = result[:start-1] + result[start:]
			start = nextPlaceholder(result, start+1)
			continue
		}
		end := placeholderEnd(result, start)
		if end == -1 {
			break
		}
		placeholder := result[start+2 : end]
		if r.visiting[placeholder] {
			return "", fmt.Errorf("circular placeholder reference '%s' in value %q", placeholder, original)
		}
		r.visiting[placeholder] = true
		key, err := r.parse(placeholder, original)
		if err != nil {
			return "", err
		}
		found, ok := r.lookup(key)
		if !ok {
			if name, def, hasDefault := strings.Cut(key, ":"); hasDefault {
				if found, ok = r.lookup(name); !ok {
					found, ok = def, true
				}
			}
		}
		if ok {
			if found, err = r.parse(found, original); err != nil {
				return "", err
			}
			result = result[:start] + found + result[end+1:]
			start = nextPlaceholder(result, start+len(found))
		} else if r.keep {
			start = nextPlaceholder(result, end+1)
		} else {
			return "", &UnresolvableError{Placeholder: key, Value: original}
		}
		delete(r.visiting, placeholder)
	}
	return result, nil
}

func nextPlaceholder(s string, from int) int {
	if from >= len(s) {
		return -1
	}
	if i := strings.Index(s[from:], "${"); i >= 0 {
		return from + i
	}
	return -1
}

// placeholderEnd finds the `}` that closes the placeholder opened at start, skipping nested
// `${…}` and `{…}` pairs.
func placeholderEnd(s string, start int) int {
	nested := 0
	for i := start + 2; i < len(s); i++ {
		switch {
		case s[i] == '}':
			if nested == 0 {
				return i
			}
			nested--
		case strings.HasPrefix(s[i:], "${"):
			nested++
			i++
		case s[i] == '{':
			nested++
		}
	}
	return -1
}
