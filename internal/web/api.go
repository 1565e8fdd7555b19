package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/bazaarhq/bazaar/internal/market"
)

//go:embed openapi.yaml
var openapiYAML []byte

// maxJSONBytes caps a JSON request body.
const maxJSONBytes = 1 << 20

// problem is an RFC 9457 problem details body.
type problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail,omitempty"`
	Instance string            `json:"instance,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
	// Lines names each short line of a refused checkout (409) and how
	// many are left.
	Lines []market.Shortage `json:"lines,omitempty"`
	// RequestID lets a user quote the failing request to support.
	RequestID string `json:"request_id,omitempty"`
}

// writeProblem writes f as an RFC 9457 application/problem+json body.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, f failure) {
	p := problem{
		Type: "about:blank", Title: http.StatusText(f.Status), Status: f.Status,
		Detail: f.Message, Instance: r.URL.Path, RequestID: requestID(r.Context()),
	}
	if len(f.Fields) > 0 {
		p.Errors = f.Fields
	}
	p.Lines = f.Shortages
	s.writeJSON(w, f.Status, "application/problem+json", p)
}

// writeJSON encodes v into a buffer, then writes it with status code.
// (Encoding stays with encoding/json: its output is what clients know;
// decoding uses v2 for its strictness.)
func (s *Server) writeJSON(w http.ResponseWriter, code int, contentType string, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		s.logger.Error("encode json", "err", err)
		http.Error(w, `{"title":"Internal Server Error","status":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

// decodeJSON reads one JSON object from the body into dst, strictly:
// encoding/json/v2 matches member names exactly (no "NAME" or long-s
// "deſcription" for "description"), refuses duplicate names, invalid UTF-8
// and lone surrogate escapes, and unknown members; the body must be one
// object (not null, not an array) with nothing after it. Every failure is an
// EINVALID with a message a client developer can act on, naming the member
// where there is one (or a 413 for size).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return market.Errorf(market.EINVALID, "Content-Type must be application/json.")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	if err != nil {
		return err // readBody has read it already; only the size can fail here
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	val, err := dec.ReadValue()
	switch {
	case errors.Is(err, io.EOF):
		return market.Errorf(market.EINVALID, "The request body must not be empty.")
	case err != nil:
		return jsonSyntaxError(err)
	}
	val = val.Clone() // the decoder reuses its buffer on the next read
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return market.Errorf(market.EINVALID, "The body must hold a single JSON object and nothing after it.")
	}
	if val.Kind() != '{' {
		return market.Errorf(market.EINVALID, "The body must be a JSON object.")
	}
	if err := jsonv2.Unmarshal(val, dst, jsonv2.RejectUnknownMembers(true)); err != nil {
		var se *jsonv2.SemanticError
		if !errors.As(err, &se) {
			return market.Errorf(market.EINVALID, "The body could not be read as JSON.")
		}
		name := member(se.JSONPointer)
		switch {
		case errors.Is(err, jsonv2.ErrUnknownName):
			return &market.Error{Code: market.EINVALID, Message: fmt.Sprintf("Unknown field %q.", name),
				Fields: map[string]string{name: "unknown field"}}
		case se.GoType != nil && name != "":
			return &market.Error{Code: market.EINVALID, Message: "A field has the wrong type.",
				Fields: map[string]string{name: "must be " + jsonKind(se.GoType.Kind())}}
		}
		return market.Errorf(market.EINVALID, "The body could not be read as JSON.")
	}
	return nil
}

// jsonSyntaxError explains a JSON text that breaks the grammar (or the
// strict rules jsontext applies by default), beside the member it is in
// when there is one.
func jsonSyntaxError(err error) error {
	var syn *jsontext.SyntacticError
	if !errors.As(err, &syn) {
		return market.Errorf(market.EINVALID, "The body could not be read as JSON.")
	}
	name := member(syn.JSONPointer)
	msg := ""
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		msg = "appears more than once"
	case strings.Contains(syn.Err.Error(), "UTF-8"), strings.Contains(syn.Err.Error(), "surrogate"):
		msg = "must be valid UTF-8 text (no invalid bytes or lone surrogates)"
	}
	if name != "" && msg != "" {
		return &market.Error{Code: market.EINVALID, Message: fmt.Sprintf("Field %q %s.", name, msg), Fields: map[string]string{name: msg}}
	}
	return market.Errorf(market.EINVALID, "The body is not valid JSON (at byte %d).", syn.ByteOffset)
}

// member returns the top-level member a JSON pointer is in ("" for the
// whole body).
func member(p jsontext.Pointer) string {
	for tok := range p.Tokens() {
		return tok
	}
	return ""
}

// jsonKind names a Go kind as a JSON client would.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300") // the same for everyone; changes only with a release
	_, _ = w.Write(openapiYAML)
}
