// Package password hashes and verifies passwords with argon2id, in the PHC
// string format that records the parameters beside the hash, so they can
// be raised later and old hashes upgraded at the next login. Hashing is
// bounded in concurrency: each hash takes Params.Memory, and a flood of
// logins must queue for a slot rather than exhaust the machine's memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// OWASP is the minimum the OWASP Password Storage Cheat Sheet recommends for
// argon2id: 19 MiB, 2 iterations, 1 lane (with a 16-byte salt).
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// weaker reports whether p costs less than q in any dimension.
func (p Params) weaker(q Params) bool {
	return p.Memory < q.Memory || p.Time < q.Time || p.Threads < q.Threads || p.SaltLen < q.SaltLen || p.KeyLen < q.KeyLen
}

// Hasher hashes with one set of parameters and at most a fixed number of
// hashes at a time.
type Hasher struct {
	params Params
	slots  chan struct{}
	gauge  *prometheus.GaugeVec
	// dummy is a hash of a random password with params, verified against
	// when there is no real hash (unknown email, disabled account) so that
	// such a login costs the same time as a wrong password.
	dummy string
}

// New returns a Hasher that runs at most concurrency hashes at once
// (runtime.GOMAXPROCS when 0) and registers the bazaar_password_hash_slots
// gauge with reg (when not nil). It refuses parameters below OWASP's minimum.
func New(p Params, concurrency int, reg prometheus.Registerer) (*Hasher, error) {
	if p.weaker(OWASP) {
		return nil, fmt.Errorf("argon2id parameters %+v are below OWASP's minimum %+v", p, OWASP)
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params: p,
		slots:  make(chan struct{}, concurrency),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bazaar_password_hash_slots",
			Help: "Password hashing slots (argon2id, bounded so logins cannot exhaust memory): state=capacity, in_use or waiting.",
		}, []string{"state"}),
	}
	h.gauge.WithLabelValues("capacity").Set(float64(concurrency))
	h.gauge.WithLabelValues("in_use")
	h.gauge.WithLabelValues("waiting")
	if reg != nil {
		if err := reg.Register(h.gauge); err != nil {
			return nil, err
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	h.dummy = h.hash(string(b[:]), p)
	return h, nil
}

// Params returns the parameters new hashes get.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a hashing slot, waiting for one no longer than ctx allows.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
	default:
		waiting := h.gauge.WithLabelValues("waiting")
		waiting.Inc()
		defer waiting.Dec()
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.gauge.WithLabelValues("in_use").Inc()
	return nil
}

func (h *Hasher) release() {
	h.gauge.WithLabelValues("in_use").Dec()
	<-h.slots
}

// Hash returns the PHC string of password hashed with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(password, h.params), nil
}

func (h *Hasher) hash(password string, p Params) string {
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	collect()
	return encode(p, salt, key)
}

// collect runs a garbage collection after a hash. argon2id's working
// memory (Params.Memory, 19 MiB) is garbage once the hash is made, but a
// collection that ran during the hash counted it as live, and the app
// collects only when the heap has grown to 4x the live heap (GOGC=300,
// cmd/bazaar's tuneGC): one sign-in set the next collection at about 90
// MiB, and the app's resident memory grew to 100 MiB under the page
// benchmark (make bench, issue 13) where 40 do. Collecting now measures
// the live heap without the block. It costs about a millisecond of CPU
// on a hash that takes tens.
func collect() { runtime.GC() }

// Verify reports whether password matches encoded, and whether encoded
// should be replaced by a new hash because its parameters are weaker than
// the Hasher's. An encoded string that is not an argon2id hash (a disabled
// account's "!") never matches, after the same work as a real comparison.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, perr := decode(encoded)
	if perr != nil {
		p, salt, key, _ = decode(h.dummy)
	}
	if p.weaker(OWASP) || p.Memory > 4*1024*1024 || p.Time > 64 {
		// A hash this cheap was never written by this package, and one this
		// costly would be a denial of service: treat as not a hash.
		perr = errors.New("parameters out of range")
		p, salt, key, _ = decode(h.dummy)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	collect()
	match := subtle.ConstantTimeCompare(got, key) == 1 && perr == nil
	return match, match && p.weaker(h.params), nil
}

// VerifyDummy spends the time of one verification and reports no match: for
// a login with an unknown email, so that it cannot be told apart from a
// wrong password by its timing.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

var b64 = base64.RawStdEncoding

// encode writes the PHC string format used by the reference implementation:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC string written by encode.
func decode(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("bad salt: %w", err)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return p, nil, nil, fmt.Errorf("bad hash: %w", err)
	}
	if len(salt) > 1024 || len(key) > 1024 {
		return p, nil, nil, errors.New("salt or hash too long")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key)) // #nosec G115 -- both at most 1024, checked above
	return p, salt, key, nil
}

// ParseParams returns the parameters recorded in a PHC string, for tests
// and operators checking what the table holds.
func ParseParams(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}
