package cloudconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Tree is a nested document rebuilt from flat properties: `a.b[0]=x` becomes {a: {b: [x]}}.
// Maps keep the order their keys first appear in.
type Tree struct {
	root *treeNode
}

type treeNode struct {
	keys     []string
	children map[string]*treeNode // a map
	items    []*treeNode          // a list
	isList   bool
	value    any // a leaf
	isLeaf   bool
}

// maxListIndex bounds `key[i]` so that a typo like key[99999999] cannot allocate a huge list.
const maxListIndex = 10_000

// Nest builds the tree of p. A key that is both a value and a parent of other keys (`a=1` and
// `a.b=2`) cannot be nested and is an error.
func Nest(p Properties) (Tree, error) {
	root := &treeNode{children: map[string]*treeNode{}}
	for _, key := range p.Keys() {
		value, _ := p.Get(key)
		path, err := splitKey(key)
		if err != nil {
			return Tree{}, err
		}
		n := root
		for i, step := range path {
			last := i == len(path)-1
			if n, err = n.child(step, key); err != nil {
				return Tree{}, err
			}
			if last {
				if n.isList || n.children != nil {
					return Tree{}, fmt.Errorf("key %s holds a value and also nested keys", key)
				}
				n.value, n.isLeaf = value, true
			} else if n.isLeaf {
				return Tree{}, fmt.Errorf("key %s is nested under a key that holds a value", key)
			}
		}
	}
	return Tree{root: root}, nil
}

type step struct {
	name  string
	index int // -1 for a name
}

// splitKey turns "a.b[0][1].c" into a, b, [0], [1], c.
func splitKey(key string) ([]step, error) {
	var out []step
	for _, part := range strings.Split(key, ".") {
		name := part
		var indexes []int
		for strings.HasSuffix(name, "]") {
			open := strings.LastIndex(name, "[")
			if open < 0 {
				break
			}
			i, err := strconv.Atoi(name[open+1 : len(name)-1])
			if err != nil || i < 0 {
				break
			}
			if i > maxListIndex {
				return nil, fmt.Errorf("key %s: list index above %d", key, maxListIndex)
			}
			indexes = append([]int{i}, indexes...)
			name = name[:open]
		}
		if name == "" && (len(out) == 0 || len(indexes) == 0) {
			return nil, fmt.Errorf("key %q has an empty part", key)
		}
		if name != "" {
			out = append(out, step{name: name, index: -1})
		}
		for _, i := range indexes {
			out = append(out, step{index: i})
		}
	}
	return out, nil
}

func (n *treeNode) child(s step, key string) (*treeNode, error) {
	if n.isLeaf {
		return nil, fmt.Errorf("key %s is nested under a key that holds a value", key)
	}
	if s.index >= 0 {
		if n.children != nil && len(n.children) > 0 {
			return nil, fmt.Errorf("key %s: a list and a map at the same place", key)
		}
		n.children, n.isList = nil, true
		for len(n.items) <= s.index {
			n.items = append(n.items, &treeNode{})
		}
		return n.items[s.index], nil
	}
	if n.isList {
		return nil, fmt.Errorf("key %s: a list and a map at the same place", key)
	}
	if n.children == nil {
		n.children = map[string]*treeNode{}
	}
	c, ok := n.children[s.name]
	if !ok {
		c = &treeNode{}
		n.children[s.name] = c
		n.keys = append(n.keys, s.name)
	}
	return c, nil
}

// Map returns the tree as nested map[string]any and []any values, e.g. for viper.
func (t Tree) Map() map[string]any {
	m, _ := t.root.plain().(map[string]any)
	return m
}

func (n *treeNode) plain() any {
	switch {
	case n.isLeaf:
		return n.value
	case n.isList:
		items := make([]any, len(n.items))
		for i, it := range n.items {
			items[i] = it.plain()
		}
		return items
	case n.children != nil:
		m := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			m[k] = n.children[k].plain()
		}
		return m
	default:
		return nil // a gap in a list: key[2] without key[1]
	}
}

// YAML renders the tree as a YAML document in key order.
func (t Tree) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if len(t.root.keys) == 0 {
		return []byte("{}\n"), nil
	}
	if err := enc.Encode(t.root.yamlNode()); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

func (n *treeNode) yamlNode() *yaml.Node {
	switch {
	case n.isLeaf:
		if f, ok := n.value.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			// SnakeYAML's spelling, which Spring's .yml answers use.
			spelling := map[bool]string{true: ".inf", false: "-.inf"}[f > 0]
			if math.IsNaN(f) {
				spelling = ".NaN"
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: spelling}
		}
		var y yaml.Node
		if err := y.Encode(n.value); err != nil {
			y = yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(n.value)}
		}
		return &y
	case n.isList:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, it := range n.items {
			seq.Content = append(seq.Content, it.yamlNode())
		}
		return seq
	case n.children != nil:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range n.keys {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, n.children[k].yamlNode())
		}
		return m
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
}

// MarshalJSON renders the tree as a JSON object in key order.
func (t Tree) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	err := t.root.writeJSON(&b)
	return b.Bytes(), err
}

func (n *treeNode) writeJSON(b *bytes.Buffer) error {
	switch {
	case n.isLeaf:
		v, err := marshalValue(n.value)
		b.Write(v)
		return err
	case n.isList:
		b.WriteByte('[')
		for i, it := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := it.writeJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case n.children != nil:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(k)
			b.Write(key)
			b.WriteByte(':')
			if err := n.children[k].writeJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
	return nil
}
