package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
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
	s.writeJSON(w, f.Status, "application/problem+json", p)
}

// writeJSON encodes v into a buffer, then writes it with status code.
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

// decodeJSON reads one JSON object from the body into dst: at most 1 MiB,
// no unknown fields, nothing after it. Every failure is an EINVALID with a
// message a client developer can act on (or a 413 for size).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return market.Errorf(market.EINVALID, "Content-Type must be application/json.")
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return market.Errorf(market.EINVALID, "The request body must not be empty.")
		case errors.As(err, &syn):
			return market.Errorf(market.EINVALID, "The body is not valid JSON (at byte %d).", syn.Offset)
		case errors.As(err, &typ) && typ.Field == "":
			return market.Errorf(market.EINVALID, "The body must be a JSON object.")
		case errors.As(err, &typ):
			return &market.Error{Code: market.EINVALID, Message: "A field has the wrong type.",
				Fields: map[string]string{typ.Field: "must be " + jsonKind(typ.Type.Kind())}}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &market.Error{Code: market.EINVALID, Message: fmt.Sprintf("Unknown field %q.", name),
				Fields: map[string]string{name: "unknown field"}}
		default:
			return market.Errorf(market.EINVALID, "The body could not be read as JSON.")
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return market.Errorf(market.EINVALID, "The body must hold a single JSON object and nothing after it.")
	}
	return nil
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
	_, _ = w.Write(openapiYAML)
}
