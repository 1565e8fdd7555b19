// Package market holds Bazaar's domain: listings, money and the rules that
// govern them, plus the one error vocabulary every other package speaks.
// It imports neither the database driver nor net/http.
package market

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error codes. The web and API layers map each to a status in exactly one place.
const (
	ECONFLICT     = "conflict"     // the action conflicts with current state
	EINTERNAL     = "internal"     // a bug or an infrastructure failure
	EINVALID      = "invalid"      // the input breaks a rule; see Fields
	ENOTFOUND     = "not_found"    // the thing does not exist (or is hidden)
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	EUNAUTHORIZED = "unauthorized" // not authenticated
	EUNAVAILABLE  = "unavailable"  // a dependency (the database) is down; retry later
)

// ErrStale is the conflict of a change based on a version of something that
// is no longer current: someone changed it in between, and nothing was
// saved. Its code is ECONFLICT; match it with errors.Is.
var ErrStale = &Error{Code: ECONFLICT, Message: "Someone changed this after you opened it, so nothing was saved. Here it is as it is now: please make your change again."}

// Error is the domain error. Message is safe to show to users; Fields carries
// one message per offending input field for EINVALID.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("market error: code=%s message=%s", e.Code, e.Message)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", k, e.Fields[k])
	}
	return fmt.Sprintf("market error: code=%s message=%s fields=[%s]", e.Code, e.Message, b.String())
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic message so that no implementation detail leaks to users.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}

// ErrorFields returns the per-field messages of an EINVALID error, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Problems collects per-field validation messages.
type Problems map[string]string

// Add records msg for field unless the field already has a message, so the
// first (most basic) problem with a field is the one users see.
func (p Problems) Add(field, msg string) {
	if _, ok := p[field]; !ok {
		p[field] = msg
	}
}

// Err returns nil when there are no problems, else an EINVALID *Error.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "Please correct the highlighted fields.", Fields: map[string]string(p)}
}
