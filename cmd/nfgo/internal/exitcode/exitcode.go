package exitcode

import (
	"errors"
	"fmt"
)

// Error carries an exit status through the command functions. Main
// prints Err unless its text is empty, and exits with Code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// ErrUsage is a wrong command line; the message says what is wrong.
var ErrUsage = errors.New("usage")

// Usage reports a wrong command line.
func Usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}
