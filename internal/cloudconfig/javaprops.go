package cloudconfig

import (
	"fmt"
	"strconv"
	"strings"
)

// parseProperties reads a Java .properties text, whose first line is line firstLine+1 of its
// file, as java.util.Properties does: `key=value`, `key: value` or `key value`; `#` and `!`
// comments; a trailing backslash continues the line; `\t`, `\n`, `\uXXXX` and `\<char>`
// escapes. Values stay strings. A repeated key keeps its first position and its last value.
// ParsePropertiesDocuments reads a file with it.
func parseProperties(data []byte, firstLine int) (Properties, error) {
	var props Properties
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := firstLine + i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		indent := len(lines[i]) - len(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// A logical line goes on while the physical one ends in an odd number of backslashes.
		for endsInEscape(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		if endsInEscape(line) {
			line = line[:len(line)-1]
		}
		keyEnd := keyLength(line)
		rest := strings.TrimLeft(line[keyEnd:], " \t\f")
		if rest != "" && (rest[0] == '=' || rest[0] == ':') {
			rest = strings.TrimLeft(rest[1:], " \t\f")
		}
		key, err := unescape(line[:keyEnd])
		if err != nil {
			return Properties{}, fmt.Errorf("line %d: %w", lineNo, err)
		}
		value, err := unescape(rest)
		if err != nil {
			return Properties{}, fmt.Errorf("line %d: %w", lineNo, err)
		}
		props.Set(key, value)
		if valueAt := len(line) - len(rest); valueAt <= len(lines[lineNo-firstLine-1])-indent {
			props.SetOrigin(key, fmt.Sprintf("%d:%d", lineNo, indent+valueAt+1))
		} else {
			props.SetOrigin(key, fmt.Sprintf("%d:%d", lineNo, indent+1))
		}
	}
	return props, nil
}

func endsInEscape(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// keyLength is the length of the key at the start of line: up to the first unescaped `=`, `:`
// or white space.
func keyLength(line string) int {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '=', ':', ' ', '\t', '\f':
			return i
		}
	}
	return len(line)
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uXXXX escape`)
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`malformed \uXXXX escape %q`, s[i-1:i+5])
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// EscapeProperty writes s so that ParsePropertiesDocuments (and Java) read it back unchanged; key says
// whether s is a key, where spaces, `=` and `:` must be escaped too.
func EscapeProperty(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\f':
			b.WriteString(`\f`)
		case '=', ':', '#', '!':
			if key || (i == 0 && (r == '#' || r == '!')) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case ' ':
			if key || i == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
