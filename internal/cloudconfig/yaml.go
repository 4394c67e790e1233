package cloudconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Document is one YAML document of a file, flattened, with the profiles that activate it
// (`spring.config.activate.on-profile`, or the older `spring.profiles`); none means always.
type Document struct {
	Properties Properties
	OnProfiles []string
}

// yaml11Bool are the plain scalars SnakeYAML, Spring's YAML parser, reads as booleans (YAML 1.1);
// yaml.v3 follows YAML 1.2 and would keep `on` or `yes` as strings.
var yaml11Bool = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)

// ParseYAML flattens every document of a YAML file the way Spring's YamlProcessor does: nested
// keys joined by dots, list items as key[i], empty lists and nulls as "". Anchors, aliases and
// `<<` merge keys are followed.
func ParseYAML(data []byte) ([]Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Document
	for i := 0; ; i++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var doc Document
		if len(root.Content) > 0 {
			top := resolveAlias(root.Content[0])
			if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
				docs = append(docs, doc)
				continue
			}
			if top.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("document %d: line %d: the top level must be a map of keys, not a %s", i+1, top.Line, kindName(top))
			}
			f := flattener{out: &doc.Properties}
			if err := f.flatten("", top, 0); err != nil {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
		}
		doc.OnProfiles = onProfiles(doc.Properties)
		docs = append(docs, doc)
	}
	return docs, nil
}

// maxDepth and maxNodes stop absurd nesting and alias bombs (an anchor referring to a list of
// aliases of an anchor referring to ... expands exponentially).
const (
	maxDepth = 64
	maxNodes = 100_000
)

type flattener struct {
	out   *Properties
	nodes int
}

func (f *flattener) flatten(path string, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxDepth)
	}
	if f.nodes++; f.nodes > maxNodes {
		return fmt.Errorf("line %d: more than %d values (aliases expanding without end?)", n.Line, maxNodes)
	}
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		entries, err := mappingEntries(n)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := f.flatten(joinKey(path, e.key), e.value, depth+1); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			f.out.Set(path, "")
			f.out.SetOrigin(path, fmt.Sprintf("%d:%d", n.Line, n.Column))
		}
		for i, item := range n.Content {
			if err := f.flatten(path+"["+strconv.Itoa(i)+"]", item, depth+1); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		f.out.Set(path, scalarValue(n))
		f.out.SetOrigin(path, fmt.Sprintf("%d:%d", n.Line, n.Column))
	default:
		return fmt.Errorf("line %d: unexpected %s", n.Line, kindName(n))
	}
	return nil
}

type entry struct {
	key   string
	value *yaml.Node
}

// mappingEntries lists a map's entries, with `<<: *anchor` merge keys expanded: explicit keys
// win over merged ones, and earlier merged maps over later ones, as in YAML 1.1.
func mappingEntries(n *yaml.Node) ([]entry, error) {
	var own, merged []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: map keys must be scalars", k.Line)
		}
		if k.Tag == "!!merge" {
			v = resolveAlias(v)
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				src = resolveAlias(src)
				if src.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("line %d: << must merge a map", src.Line)
				}
				entries, err := mappingEntries(src)
				if err != nil {
					return nil, err
				}
				merged = append(merged, entries...)
			}
			continue
		}
		key := k.Value
		if k.Tag != "!!str" && k.Tag != "!!null" {
			// Spring's YamlProcessor writes a key that is not a string (1, true) as an index:
			// intkeys: {1: a} is intkeys[1].
			key = "[" + k.Value + "]"
		}
		if seen[key] {
			// SnakeYAML, which Spring reads YAML with, refuses the file too.
			return nil, fmt.Errorf("line %d: found duplicate key %q", k.Line, k.Value)
		}
		seen[key] = true
		own = append(own, entry{key, v})
	}
	for _, e := range merged {
		if !seen[e.key] {
			seen[e.key] = true
			own = append(own, e)
		}
	}
	return own, nil
}

func joinKey(path, key string) string {
	switch {
	case path == "":
		return key
	case strings.HasPrefix(key, "["):
		return path + key
	default:
		return path + "." + key
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return ""
	case "!!bool":
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		return b
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			// Infinities and NaN stay numbers: JSON writes them as Jackson does (marshalValue),
			// YAML as SnakeYAML does (.inf, .NaN).
			return f
		}
	case "!!str":
		if n.Style == 0 && yaml11Bool.MatchString(n.Value) {
			switch strings.ToLower(n.Value) {
			case "yes", "true", "on":
				return true
			default:
				return false
			}
		}
	}
	return n.Value
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "map"
	case yaml.ScalarNode:
		return "single value"
	default:
		return "node"
	}
}
