package password

import "context"

// Hold takes one of h's slots, as a running hash would, until release.
func Hold(h *Hasher) (release func()) {
	if err := h.acquire(context.Background()); err != nil {
		panic(err)
	}
	return h.release
}
