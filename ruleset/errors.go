package ruleset

import (
	"errors"
	"fmt"
	"strconv"
)

// Pos is a place in an input file; lines and columns count from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Error is a problem with a ruleset, at a place in its input.
type Error struct {
	Pos Pos
	Msg string
	Err error // a sentinel it wraps, or nil
}

func (e *Error) Error() string {
	if e.Pos.File == "" && e.Pos.Line == 0 {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinel errors that Apply's errors wrap.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrLoop     = errors.New("chain loop")
	ErrInvalid  = errors.New("invalid ruleset")
	// ErrInUse: deleting a chain or set that something still refers to
	// at that point of the transaction (the kernel's EBUSY).
	ErrInUse = errors.New("in use")
)

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func wrapf(pos Pos, sentinel error, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}
