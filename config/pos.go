package config

import (
	"fmt"
	"strconv"
)

// Pos locates a word or line in a configuration source.
type Pos struct {
	// File is the file name, or a description such as "command line"
	// for sources that are not files.
	File string
	// Line is the 1-based line number, or 0 when the source has no lines.
	Line int
	// Arg is the 1-based index of the word in a word list (a command
	// line); it is 0 for files.
	Arg int
}

// String formats the position as "file:line", or "source: argument N".
func (p Pos) String() string {
	switch {
	case p.Line > 0:
		return p.File + ":" + strconv.Itoa(p.Line)
	case p.Arg > 0:
		return p.File + ": argument " + strconv.Itoa(p.Arg)
	default:
		return p.File
	}
}

// Warning reports something that was accepted but is ignored or differs
// from what the user may expect.
type Warning struct {
	Pos     Pos
	Message string
}

// String formats the warning as "position: message".
func (w Warning) String() string { return w.Pos.String() + ": " + w.Message }

// ParseError is the error returned for bad input; it always carries the
// position of the offending line or word.
type ParseError struct {
	Pos Pos
	Msg string
	// Err is the underlying error, if any (for example a failed read).
	Err error
}

// Error formats the error as "position: message[: cause]".
func (e *ParseError) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

func errorAt(pos Pos, format string, args ...any) *ParseError {
	return &ParseError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
