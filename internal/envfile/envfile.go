// Package envfile reads environment files (dotenv syntax) for
// `rtgate config check --env-file`. It is written here rather than taken
// from joho/godotenv (v1.5.1), which mis-parses escaped quotes
// (`"say \"hi\""` loses its last quote), turns `\t` into `t`, and expands
// `$NAME` inside values, silently changing a secret that holds a `$`.
//
// The syntax, one assignment per line:
//
//	# a comment line (also ";", as systemd allows); blank lines are skipped
//	NAME=value                 unquoted: to the end of the line, trimmed; a
//	                           " #" (white space, then #) starts a comment
//	NAME = value               spaces around "=" are allowed
//	export NAME=value          "export " is ignored (shell-compatible files)
//	NAME='a literal $value'    single quotes: nothing is special inside
//	NAME="a \"quoted\" value"  double quotes: \" \\ \$ \` \n \r \t are
//	                           escapes; any other backslash is kept as is
//
// A quoted value may span lines. After a closing quote only white space
// and a comment may follow. `$` is never expanded. Names are
// [A-Za-z_][A-Za-z0-9_]*. A later assignment of a name wins. Errors name
// the line, never a value (values are often secrets).
package envfile

import (
	"fmt"
	"io"
	"strings"
)

// maxFileBytes bounds what Parse reads: an environment file is small.
const maxFileBytes = 1 << 20

// Parse reads an environment file and returns its assignments.
func Parse(r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	return ParseString(string(b))
}

// ParseString is Parse over a string.
func ParseString(src string) (map[string]string, error) {
	p := &parser{src: strings.ReplaceAll(src, "\r\n", "\n"), line: 1}
	out := map[string]string{}
	for {
		p.skipBlankAndComments()
		if p.eof() {
			return out, nil
		}
		line := p.line
		name, value, err := p.assignment()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out[name] = value
	}
}

type parser struct {
	src  string
	pos  int
	line int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte { return p.src[p.pos] }

func (p *parser) advance() {
	if p.src[p.pos] == '\n' {
		p.line++
	}
	p.pos++
}

// skipSpace skips spaces and tabs (not newlines).
func (p *parser) skipSpace() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.advance()
	}
}

// skipLine skips to just past the end of the line.
func (p *parser) skipLine() {
	for !p.eof() && p.peek() != '\n' {
		p.advance()
	}
	if !p.eof() {
		p.advance()
	}
}

func (p *parser) skipBlankAndComments() {
	for !p.eof() {
		p.skipSpace()
		if p.eof() {
			return
		}
		switch p.peek() {
		case '\n':
			p.advance()
		case '#', ';':
			p.skipLine()
		default:
			return
		}
	}
}

func isNameStart(c byte) bool { return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isNameByte(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

func (p *parser) name() string {
	start := p.pos
	if p.eof() || !isNameStart(p.peek()) {
		return ""
	}
	for !p.eof() && isNameByte(p.peek()) {
		p.advance()
	}
	return p.src[start:p.pos]
}

// assignment reads one NAME=value line (or more, for a multi-line quoted
// value) and leaves the parser at the start of the next line.
func (p *parser) assignment() (string, string, error) {
	name := p.name()
	if name == "export" && !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.skipSpace()
		name = p.name()
	}
	if name == "" {
		return "", "", fmt.Errorf("expected a variable name ([A-Za-z_][A-Za-z0-9_]*)")
	}
	p.skipSpace()
	if p.eof() || p.peek() != '=' {
		return "", "", fmt.Errorf("expected = after %s", name)
	}
	p.advance()
	p.skipSpace()
	var (
		value string
		err   error
	)
	switch {
	case p.eof() || p.peek() == '\n':
		// NAME= is the empty value.
	case p.peek() == '#' && (p.src[p.pos-1] == ' ' || p.src[p.pos-1] == '\t'):
		// NAME= # comment: empty too.
	case p.peek() == '\'':
		value, err = p.singleQuoted()
	case p.peek() == '"':
		value, err = p.doubleQuoted()
	default:
		value = p.unquoted()
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	if err := p.endOfLine(); err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return "", "", fmt.Errorf("%s: a value cannot hold a NUL byte", name)
	}
	return name, value, nil
}

// unquoted reads to the end of the line or an inline comment (white space
// then #), trimming trailing white space.
func (p *parser) unquoted() string {
	start := p.pos
	end := start
	for !p.eof() && p.peek() != '\n' {
		c := p.peek()
		if c == '#' && p.pos > start && (p.src[p.pos-1] == ' ' || p.src[p.pos-1] == '\t') {
			break
		}
		p.advance()
		if c != ' ' && c != '\t' {
			end = p.pos
		}
	}
	return p.src[start:end]
}

func (p *parser) singleQuoted() (string, error) {
	p.advance() // the opening quote
	start := p.pos
	for !p.eof() {
		if p.peek() == '\'' {
			v := p.src[start:p.pos]
			p.advance()
			return v, nil
		}
		p.advance()
	}
	return "", fmt.Errorf("the single quote is never closed")
}

func (p *parser) doubleQuoted() (string, error) {
	p.advance() // the opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch c {
		case '"':
			p.advance()
			return b.String(), nil
		case '\\':
			p.advance()
			if p.eof() {
				continue
			}
			e := p.peek()
			switch e {
			case '"', '\\', '$', '`':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte('\\')
				continue // e is read as an ordinary byte next
			}
			p.advance()
		default:
			b.WriteByte(c)
			p.advance()
		}
	}
	return "", fmt.Errorf("the double quote is never closed")
}

// endOfLine accepts white space and an optional comment up to the end of
// the line, and moves past it.
func (p *parser) endOfLine() error {
	p.skipSpace()
	if p.eof() {
		return nil
	}
	switch p.peek() {
	case '\n':
		p.advance()
		return nil
	case '#':
		p.skipLine()
		return nil
	}
	return fmt.Errorf("unexpected text after the value (quote the whole value)")
}

// Quote returns value as a double-quoted envfile value that Parse reads
// back unchanged.
func Quote(value string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '"', '\\', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
