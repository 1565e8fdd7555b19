package web

import (
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bazaarhq/bazaar/internal/market"
	"github.com/bazaarhq/bazaar/internal/photo"
)

// Uploads are the one kind of request whose body is not read into memory
// before the handler runs (router.Handle's readBody, 1 MiB): a multipart
// body of up to maxUploadBody is read part by part, and photos are kept
// only as long as they are processed. Memory stays bounded because only
// uploadSlots uploads are read at once (the others wait, their bytes in
// nginx's buffer or the socket's), and only the photo processor's decode
// slots decode at once.
const (
	// maxUploadBody is nginx's client_max_body_size for the upload routes
	// (16m): one photo of up to 15 MB plus the form's other fields.
	maxUploadBody = photo.MaxBytes + 1<<20
	// maxUploadFields bounds the form fields beside the files.
	maxUploadFields = 1 << 20
	// uploadWait bounds the wait for an upload slot: past it, 503 and
	// Retry-After rather than a request that hangs.
	uploadWait = 60 * time.Second
	// uploadWork bounds one upload's work once its body is read: waiting
	// for a decode slot, decoding, writing the files.
	uploadWork = 60 * time.Second
)

// isMultipart reports whether the request's body is multipart/form-data.
func isMultipart(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	// A media type is the value's first token, and net/http trims the
	// value, so one that does not begin with "multipart/" (in any case)
	// is not multipart/form-data: a plain form skips the parse.
	if len(ct) < len("multipart/") || !strings.EqualFold(ct[:len("multipart/")], "multipart/") {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "multipart/form-data"
}

// HandleUpload registers h for a route that takes uploads: a
// multipart/form-data body is left for h to read with readUpload (after
// waiting for an upload slot); any other body is read in full as
// router.Handle does, so the same form also posts without files.
func (rt router) HandleUpload(pattern string, h http.HandlerFunc) {
	s := rt.s
	rt.ServeMux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey).(*requestInfo); ok {
			info.route = pattern
		}
		if !isMultipart(r) {
			if !s.readBody(w, r) {
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
			defer cancel()
			h.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if r.ContentLength > maxUploadBody {
			s.error(w, r, errUploadTooLarge)
			return
		}
		wait, cancel := context.WithTimeout(r.Context(), uploadWait)
		select {
		case s.uploads <- struct{}{}:
			cancel()
		case <-wait.Done():
			cancel()
			if r.Context().Err() != nil {
				s.error(w, r, r.Context().Err())
				return
			}
			s.error(w, r, market.Errorf(market.EUNAVAILABLE, "Too many photos are being uploaded right now. Please try again in a moment."))
			return
		}
		defer func() { <-s.uploads }()
		ctx, cancel := context.WithTimeout(r.Context(), uploadWork)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// errUploadTooLarge is a body over maxUploadBody, or one photo over 15 MB.
var errUploadTooLarge = &requestError{
	status: http.StatusRequestEntityTooLarge,
	msg:    "The photo is larger than 15 MB. Please upload a smaller one.",
	err:    errors.New("upload too large"),
}

// upload is a multipart form as read by readUpload.
type upload struct {
	values url.Values
	// photos are the non-empty files of the "photo" field, in order.
	photos [][]byte
}

// readUpload reads a multipart body part by part: form fields into values
// (1 MiB in all), each file of the "photo" field with photo.ReadUpload (15
// MB each), at most maxPhotos of them (more is EINVALID beside the field).
// Files of other fields are refused. The errors are what s.error answers:
// 413 past the limits, 408 for a body too slow, an abort for a client
// that hung up, 422 beside the photo field for a body that is not a
// well-formed form.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, maxPhotos int) (*upload, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.timeout)) // unsupported only by test recorders
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, uploadReadError(w, err)
	}
	up := &upload{values: url.Values{}}
	fieldBytes := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, uploadReadError(w, err)
		}
		name := part.FormName()
		switch {
		case part.FileName() == "" && name != "" && name != photo.Field:
			b, err := io.ReadAll(io.LimitReader(part, int64(maxUploadFields-fieldBytes+1)))
			if err != nil {
				return nil, uploadReadError(w, err)
			}
			if fieldBytes += len(b); fieldBytes > maxUploadFields {
				return nil, errUploadTooLarge
			}
			up.values.Add(name, string(b))
		case name == photo.Field:
			data, err := photo.ReadUpload(part)
			var tle *photo.TooLargeError
			if errors.As(err, &tle) {
				return nil, errUploadTooLarge
			} else if err != nil {
				return nil, uploadReadError(w, err)
			}
			if len(data) == 0 {
				continue // the empty part a form sends when no file was chosen
			}
			if len(up.photos) == maxPhotos {
				return nil, tooManyPhotos(maxPhotos)
			}
			up.photos = append(up.photos, data)
		default:
			return nil, photoFieldError("Send photos in the field named \"photo\".")
		}
		_ = part.Close()
	}
	return up, nil
}

// tooManyPhotos refuses photos beyond the room a listing has left.
func tooManyPhotos(room int) error {
	if room <= 0 {
		return market.ErrTooManyPhotos
	}
	return photoFieldError("A listing can have at most 10 photos; there is room for " + plural(room, "more photo", "more photos") + ".")
}

func photoFieldError(msg string) error {
	return &market.Error{Code: market.EINVALID, Message: msg, Fields: map[string]string{photo.Field: msg}}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// uploadReadError says what went wrong reading an upload's body.
func uploadReadError(w http.ResponseWriter, err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errUploadTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		return &requestError{status: http.StatusRequestTimeout, msg: "The upload arrived too slowly.", err: err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return errors.Join(errClientGone, err)
	}
	w.Header().Set("Connection", "close")
	return errors.Join(photoFieldError("The upload could not be read; please choose the photo again."), err)
}
