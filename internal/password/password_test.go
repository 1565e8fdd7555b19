package password_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bazaarhq/bazaar/internal/password"
	"github.com/prometheus/client_golang/prometheus"
)

func newHasher(t *testing.T, p password.Params, n int) (*password.Hasher, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := password.New(p, n, reg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

func TestHashIsArgon2idWithOWASPParameters(t *testing.T) {
	t.Parallel()
	h, _ := newHasher(t, password.OWASP, 0)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id v19 with m=19456,t=2,p=1", enc)
	}
	p, err := password.ParseParams(enc)
	if err != nil {
		t.Fatal(err)
	}
	if p != password.OWASP {
		t.Fatalf("params = %+v, want %+v (16-byte salt, 32-byte key)", p, password.OWASP)
	}
	again, _ := h.Hash(ctx, "correct horse battery staple")
	if again == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{"", false},
	} {
		ok, rehash, err := h.Verify(ctx, tt.pw, enc)
		if err != nil || ok != tt.want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", tt.pw, ok, rehash, err, tt.want)
		}
	}
}

func TestLongPasswordsAreNotTruncated(t *testing.T) {
	t.Parallel()
	h, _ := newHasher(t, password.OWASP, 0)
	ctx := context.Background()
	long := strings.Repeat("a", 1023) + "b"
	enc, err := h.Hash(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := h.Verify(ctx, long, enc); !ok {
		t.Fatal("a 1,024-byte password does not verify")
	}
	if ok, _, _ := h.Verify(ctx, strings.Repeat("a", 1023)+"c", enc); ok {
		t.Fatal("a password differing only in its 1,024th byte verifies: the hash truncates")
	}
}

func TestRefusesParametersBelowOWASP(t *testing.T) {
	t.Parallel()
	for _, p := range []password.Params{
		{Memory: 19*1024 - 1, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 19 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
	} {
		if _, err := password.New(p, 1, nil); err == nil {
			t.Errorf("New(%+v) succeeded", p)
		}
	}
}

func TestRaisedParametersAskForRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old, _ := newHasher(t, password.OWASP, 0)
	enc, _ := old.Hash(ctx, "correct horse battery staple")
	raised := password.OWASP
	raised.Time = 3
	h, _ := newHasher(t, raised, 0)
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify with raised params = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	if ok, rehash, _ := h.Verify(ctx, "wrong password!", enc); ok || rehash {
		t.Fatal("a wrong password asks for a rehash")
	}
	newEnc, _ := h.Hash(ctx, "correct horse battery staple")
	if p, _ := password.ParseParams(newEnc); p.Time != 3 {
		t.Fatalf("new hash has t=%d, want 3", p.Time)
	}
	if ok, rehash, _ := h.Verify(ctx, "correct horse battery staple", newEnc); !ok || rehash {
		t.Fatal("a hash with the current params asks for a rehash")
	}
}

func TestNotAHashNeverMatches(t *testing.T) {
	t.Parallel()
	h, _ := newHasher(t, password.OWASP, 0)
	ctx := context.Background()
	for _, enc := range []string{"!", "", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA"} {
		if ok, _, err := h.Verify(ctx, "!", enc); ok || err != nil {
			t.Errorf("Verify against %q = %v, %v", enc, ok, err)
		}
	}
	if err := h.VerifyDummy(ctx, "anything at all"); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrencyIsBoundedAndVisible: with one slot, a second hash waits
// for the first, and the gauge shows one in use and one waiting.
func TestConcurrencyIsBoundedAndVisible(t *testing.T) {
	t.Parallel()
	h, reg := newHasher(t, password.OWASP, 1)
	ctx := context.Background()
	gauge := func(state string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == "bazaar_password_hash_slots" && m.GetLabel()[0].GetValue() == state {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no bazaar_password_hash_slots{state=%q}", state)
		return 0
	}
	if gauge("capacity") != 1 {
		t.Fatalf("capacity = %v, want 1", gauge("capacity"))
	}
	release := password.Hold(h)
	done := make(chan error)
	go func() {
		_, err := h.Hash(ctx, "correct horse battery staple")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for gauge("waiting") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("waiting = %v, want 1 while the only slot is held", gauge("waiting"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if gauge("in_use") != 1 {
		t.Fatalf("in_use = %v, want 1", gauge("in_use"))
	}
	select {
	case <-done:
		t.Fatal("a hash ran while the only slot was held")
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if gauge("waiting") != 0 || gauge("in_use") != 0 {
		t.Fatalf("after: waiting = %v, in_use = %v, want 0, 0", gauge("waiting"), gauge("in_use"))
	}
	// A waiter gives up with its context.
	release = password.Hold(h)
	defer release()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(cctx, "correct horse battery staple"); err == nil {
		t.Fatal("Hash succeeded while the only slot was held")
	}
}
