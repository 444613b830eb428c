package delivery

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kinds of refusal an action returns; handlers map each to an HTTP status
// in one place (handlers/errors.go). An *Error wraps one of them with a
// message fit to show a person as is.
var (
	// ErrForbidden: the actor's role or an environment's rule refuses.
	ErrForbidden = errors.New("delivery: forbidden")
	// ErrFrozen: a freeze window holds the environment and the actor may
	// not override it.
	ErrFrozen = errors.New("delivery: environment frozen")
	// ErrConflict: the action conflicts with the current state (nothing
	// live, promotion over, last environment, no secret key).
	ErrConflict = errors.New("delivery: conflict")
	// ErrNotFound: what the action names does not exist.
	ErrNotFound = errors.New("delivery: not found")
	// ErrNoSecretKey: a deploy needs secrets opened, and this portal has
	// no secret key. The queue returns it; Deploy turns it into a conflict.
	ErrNoSecretKey = errors.New("secrets need the portal's secret key, and none is configured")
)

// Error is a refusal: Kind is one of the sentinels above, Message is what
// the person is told, Cause (optional) is the underlying error.
type Error struct {
	Kind    error
	Message string
	Cause   error
}

func (e *Error) Error() string { return e.Message }

// Is matches the kind, so errors.Is(err, delivery.ErrConflict) works.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func refuse(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ValidationError is input that names a problem with one or more fields:
// Fields maps each input field (its API name) to its message.
type ValidationError struct {
	Fields map[string]string
}

// Invalid is a validation error of one field.
func Invalid(field, msg string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: msg}}
}

// Field is the only field at fault, or "" when several are.
func (e *ValidationError) Field() string {
	if len(e.Fields) != 1 {
		return ""
	}
	for k := range e.Fields {
		return k
	}
	return ""
}

// Error is every field's message, in field order, as one sentence.
func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, len(keys))
	for i, k := range keys {
		msgs[i] = e.Fields[k]
	}
	return strings.Join(msgs, "; ")
}
