// Package cloudconfig is the data model of Spring Cloud Config, shared by our config server and
// by the client every service boots with: the Environment document, flat property sources in
// file order, Spring's flattening of YAML, Java .properties files, and `${…}` placeholders.
package cloudconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Properties is a flat, ordered map from dotted keys (`greetings.string`, `routes[0]`) to values
// (string, bool, int64, float64), as a Spring PropertySource holds them. The order is the order
// the keys were first set, which is the order of the file they came from.
type Properties struct {
	keys   []string
	values map[string]any
	// origins are where keys were written ("3:7", line and column), where a file said so.
	origins map[string]string
}

// SetOrigin records where key's value was written: "line:column", as Spring's
// TextResourceOrigin locations read.
func (p *Properties) SetOrigin(key, origin string) {
	if p.origins == nil {
		p.origins = map[string]string{}
	}
	p.origins[key] = origin
}

// Origin is where key's value was written, or "".
func (p Properties) Origin(key string) string { return p.origins[key] }

// Copy sets key in p to its value in from, with its origin.
func (p *Properties) Copy(from Properties, key string) {
	v, _ := from.Get(key)
	p.Set(key, v)
	if o := from.Origin(key); o != "" {
		p.SetOrigin(key, o)
	}
}

// MarshalJSONWithOrigins writes the properties as Spring's v2 media type does: each value as
// {"value": v, "origin": "line:column"} (origin left out where unknown).
func (p Properties) MarshalJSONWithOrigins() ([]byte, error) { return p.marshal(true) }

// Set stores value under key, keeping key's first position.
func (p *Properties) Set(key string, value any) {
	if p.values == nil {
		p.values = map[string]any{}
	}
	if _, ok := p.values[key]; !ok {
		p.keys = append(p.keys, key)
	}
	p.values[key] = value
}

// Get returns the value stored under key.
func (p Properties) Get(key string) (any, bool) {
	v, ok := p.values[key]
	return v, ok
}

// Keys are the keys in order.
func (p Properties) Keys() []string { return p.keys }

// Len is the number of keys.
func (p Properties) Len() int { return len(p.keys) }

// MarshalJSON writes the properties as a JSON object in key order.
func (p Properties) MarshalJSON() ([]byte, error) { return p.marshal(false) }

func (p Properties) marshal(withOrigins bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range p.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		value, err := marshalValue(p.values[k])
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", k, err)
		}
		b.Write(key)
		b.WriteByte(':')
		if !withOrigins {
			b.Write(value)
			continue
		}
		b.WriteString(`{"value":`)
		b.Write(value)
		if o := p.origins[k]; o != "" {
			origin, _ := json.Marshal(o)
			b.WriteString(`,"origin":`)
			b.Write(origin)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a flat JSON object, keeping its key order. Numbers become int64 when they
// are whole, float64 otherwise; nested objects or arrays are refused, since Spring never sends
// them in a property source.
func (p *Properties) UnmarshalJSON(data []byte) error {
	*p = Properties{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("property source: want a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("property source: %w", err)
		}
		key := tok.(string)
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("property %s: %w", key, err)
		}
		switch v := raw.(type) {
		case json.Number:
			if i, err := v.Int64(); err == nil {
				p.Set(key, i)
			} else if f, err := v.Float64(); err == nil {
				p.Set(key, f)
			} else {
				return fmt.Errorf("property %s: bad number %s", key, v)
			}
		case string, bool:
			p.Set(key, v)
		case nil:
			p.Set(key, "")
		default:
			return fmt.Errorf("property %s: want a string, number or boolean, got %T", key, raw)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("property source: %w", err)
	}
	return nil
}

// marshalValue writes a property value as JSON; infinities and NaN, which JSON lacks, as the
// strings Spring's Jackson writes for them.
func marshalValue(v any) ([]byte, error) {
	if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return json.Marshal(FormatValue(f))
	}
	return json.Marshal(v)
}

// FormatValue renders a property value the way Spring prints it in a .properties file (Java's
// Double.toString for floats: 1.0, Infinity, NaN).
func FormatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		switch {
		case math.IsNaN(v):
			return "NaN"
		case math.IsInf(v, 1):
			return "Infinity"
		case math.IsInf(v, -1):
			return "-Infinity"
		}
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return fmt.Sprintf("%.1f", v)
		}
		return fmt.Sprint(v)
	default:
		return fmt.Sprint(v)
	}
}

// Environment is the document Spring Cloud Config serves at /{application}/{profile}[/{label}].
type Environment struct {
	Name     string   `json:"name"`
	Profiles []string `json:"profiles"`
	// Label is the branch, tag or commit asked for; null when none was.
	Label *string `json:"label"`
	// Version is the commit the sources were read from; null for a plain folder.
	Version *string `json:"version"`
	State   *string `json:"state"`
	// PropertySources are ordered most specific first: a key's value is its value in the first
	// source that has it.
	PropertySources []PropertySource `json:"propertySources"`
}

// PropertySource is one file's (or one YAML document's) properties.
type PropertySource struct {
	Name   string     `json:"name"`
	Source Properties `json:"source"`
}

// Merge collapses sources, most specific first, into one set of properties. Keys appear in the
// order they first appear from the least specific source on, as Spring lists them. A list is
// taken whole from the most specific source that has any of it (as Spring Boot binds lists):
// application's `a: [x, y, z]` under greeter's `a: [g]` gives `a: [g]`, not `[g, y, z]`.
func Merge(sources []PropertySource) Properties {
	// owner is, for each list (the key before its first index: "a" of "a[0].b"), the index of
	// the most specific source that has it, or a plain value at that key.
	owner := map[string]int{}
	for i := len(sources) - 1; i >= 0; i-- {
		for _, k := range sources[i].Source.Keys() {
			owner[listRoot(k)] = i
		}
	}
	var merged Properties
	for i := len(sources) - 1; i >= 0; i-- {
		for _, k := range sources[i].Source.Keys() {
			if root := listRoot(k); root != k && owner[root] != i {
				continue // a more specific source has this list
			}
			v, _ := sources[i].Source.Get(k)
			merged.Set(k, v)
		}
	}
	return merged
}

// listRoot is the key of the list that key is an element of ("a.b" for "a.b[2].c"), or key
// itself when it is no list element.
func listRoot(key string) string {
	if i := strings.IndexByte(key, '['); i > 0 {
		return key[:i]
	}
	return key
}

// SplitProfiles turns "dev,mysql" into ["dev", "mysql"], dropping empty entries.
func SplitProfiles(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
