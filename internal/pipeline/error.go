package pipeline

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Error is a problem in a pipeline file, positioned at the line and column
// (both 1-based) of the offending key or value. Parse returns every problem as
// an *Error, so callers can use errors.As to show the position in the UI.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error formats the problem the way compilers do: "FILE:LINE:COL: msg".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// errorAt builds an *Error positioned at n.
func (p *parser) errorAt(n *yaml.Node, format string, args ...any) *Error {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, max(n.Column, 1)
	}
	return p.errorAtPos(line, col, format, args...)
}

// errorAtPos builds an *Error at an explicit position. yaml.v3 places some
// nodes on the line after the last one (an empty document after "---" at the
// end of the file); such positions move to the start of the last line.
func (p *parser) errorAtPos(line, col int, format string, args ...any) *Error {
	if p.lines > 0 && line > p.lines {
		line, col = p.lines, 1
	}
	return &Error{File: p.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}
