package market_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

const genericMessage = "Something went wrong on our side. Please try again."

func TestProblemsFirstMessageWins(t *testing.T) {
	t.Parallel()
	p := market.Problems{}
	if err := p.Err(); err != nil {
		t.Fatalf("empty Problems.Err() = %v, want nil", err)
	}
	p.Add("name", "Name is required")
	p.Add("name", "Name must be at most 200 characters")
	p.Add("price", "Price is required")
	err := p.Err()
	if market.ErrorCode(err) != market.EINVALID || market.ErrorMessage(err) != "Please correct the highlighted fields." {
		t.Errorf("Err() = %v", err)
	}
	fields := market.ErrorFields(err)
	if len(fields) != 2 || fields["name"] != "Name is required" || fields["price"] != "Price is required" {
		t.Errorf("fields = %v", fields)
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	t.Parallel()
	notFound := market.Errorf(market.ENOTFOUND, "Listing %d not found.", 7)
	invalid := &market.Error{Code: market.EINVALID, Message: "Bad.", Fields: map[string]string{"b": "2", "a": "1"}}
	tests := []struct {
		name   string
		err    error
		code   string
		msg    string
		fields map[string]string
	}{
		{"nil", nil, "", "", nil},
		{"market error", notFound, market.ENOTFOUND, "Listing 7 not found.", nil},
		{"wrapped once", fmt.Errorf("load: %w", notFound), market.ENOTFOUND, "Listing 7 not found.", nil},
		{"wrapped twice", fmt.Errorf("handler: %w", fmt.Errorf("store: %w", notFound)), market.ENOTFOUND, "Listing 7 not found.", nil},
		{"joined", errors.Join(errors.New("cause"), invalid), market.EINVALID, "Bad.", invalid.Fields},
		{"wrapped invalid keeps fields", fmt.Errorf("x: %w", invalid), market.EINVALID, "Bad.", invalid.Fields},
		{"unavailable wrapping a driver error", fmt.Errorf("%w: %w", market.Errorf(market.EUNAVAILABLE, "Try later."), errors.New("dial tcp: refused")),
			market.EUNAVAILABLE, "Try later.", nil},
		{"plain error is internal", errors.New("pq: relation does not exist"), market.EINTERNAL, genericMessage, nil},
		{"wrapped plain error", fmt.Errorf("query: %w", errors.New("secret detail")), market.EINTERNAL, genericMessage, nil},
		{"explicit internal hides its message", market.Errorf(market.EINTERNAL, "password=hunter2"), market.EINTERNAL, genericMessage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := market.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := market.ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
			if got := market.ErrorFields(tt.err); fmt.Sprint(got) != fmt.Sprint(tt.fields) {
				t.Errorf("ErrorFields = %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	if got, want := market.Errorf(market.ENOTFOUND, "Gone.").Error(), "market error: code=not_found message=Gone."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e := &market.Error{Code: market.EINVALID, Message: "Bad.", Fields: map[string]string{"price": "p", "name": "n"}}
	if got, want := e.Error(), "market error: code=invalid message=Bad. fields=[name: n; price: p]"; got != want {
		t.Errorf("Error() = %q, want %q (fields sorted, so logs are stable)", got, want)
	}
}
