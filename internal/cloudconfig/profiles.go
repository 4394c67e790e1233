package cloudconfig

import (
	"fmt"
	"regexp"
	"strings"
)

// activationKeys are the keys by which a document says which profiles it applies to.
var activationKeys = []string{"spring.config.activate.on-profile", "spring.profiles"}

// onProfiles is what a document's activation key says, or nil when it applies always.
func onProfiles(p Properties) []string {
	for _, key := range activationKeys {
		if v, ok := p.Get(key); ok {
			return SplitProfiles(FormatValue(v))
		}
	}
	return nil
}

// documentSeparator is a line that starts a new document in a .properties file (Spring Boot 2.4+).
var documentSeparator = regexp.MustCompile(`(?m)^[#!]---[ \t]*\r?$`)

// ParsePropertiesDocuments reads a .properties file of one or more documents, separated by a
// line `#---` or `!---`, as Spring Boot does; a document may apply to some profiles only.
func ParsePropertiesDocuments(data []byte) ([]Document, error) {
	var docs []Document
	parts := documentSeparator.Split(string(data), -1)
	line := 0 // lines before the part, so that origins count from the file's start
	for i, part := range parts {
		props, err := parseProperties([]byte(part), line)
		line += strings.Count(part, "\n")
		if err != nil && len(parts) > 1 {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, Document{Properties: props, OnProfiles: onProfiles(props)})
	}
	return docs, nil
}

// ProfilesMatch says whether a document activated by expressions applies to the active profiles:
// whether any expression matches, as Spring's Profiles.of reads them: a name, `!name`, and
// names joined by `&` or `|` with parentheses (`(dev & eu) | prod`); & and | may not mix
// without parentheses. An expression that does not parse matches nothing.
func ProfilesMatch(expressions, active []string) bool {
	isActive := func(name string) bool {
		for _, a := range active {
			if a == name {
				return true
			}
		}
		return false
	}
	for _, e := range expressions {
		p := &profileParser{tokens: tokenize(e)}
		match, err := p.expression()
		if err == nil && p.pos == len(p.tokens) && match(isActive) {
			return true
		}
	}
	return false
}

func tokenize(expr string) []string {
	var tokens []string
	word := strings.Builder{}
	flush := func() {
		if word.Len() > 0 {
			tokens = append(tokens, word.String())
			word.Reset()
		}
	}
	for _, r := range expr {
		switch r {
		case '(', ')', '&', '|', '!':
			flush()
			tokens = append(tokens, string(r))
		case ' ', '\t':
			flush()
		default:
			word.WriteRune(r)
		}
	}
	flush()
	return tokens
}

type matcher func(isActive func(string) bool) bool

type profileParser struct {
	tokens []string
	pos    int
}

func (p *profileParser) peek() string {
	if p.pos < len(p.tokens) {
		return p.tokens[p.pos]
	}
	return ""
}

// expression is operand (op operand)*, with one operator throughout.
func (p *profileParser) expression() (matcher, error) {
	first, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.peek()
	if op != "&" && op != "|" {
		return first, nil
	}
	operands := []matcher{first}
	for p.peek() == op {
		p.pos++
		next, err := p.operand()
		if err != nil {
			return nil, err
		}
		operands = append(operands, next)
	}
	if next := p.peek(); next == "&" || next == "|" {
		return nil, fmt.Errorf("mixed & and | without parentheses")
	}
	return func(isActive func(string) bool) bool {
		for _, m := range operands {
			if m(isActive) != (op == "&") {
				return op == "|"
			}
		}
		return op == "&"
	}, nil
}

func (p *profileParser) operand() (matcher, error) {
	switch t := p.peek(); t {
	case "":
		return nil, fmt.Errorf("expression ends early")
	case "!":
		p.pos++
		inner, err := p.operand()
		if err != nil {
			return nil, err
		}
		return func(isActive func(string) bool) bool { return !inner(isActive) }, nil
	case "(":
		p.pos++
		inner, err := p.expression()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return inner, nil
	case ")", "&", "|":
		return nil, fmt.Errorf("unexpected %s", t)
	default:
		p.pos++
		return func(isActive func(string) bool) bool { return isActive(t) }, nil
	}
}
