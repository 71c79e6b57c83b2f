package argon2id

// Hold takes one of h's hashing slots, as a hash in progress does, and
// returns its release.
func (h *Hasher) Hold() (release func(), err error) {
	if err := h.acquire(); err != nil {
		return nil, err
	}
	return h.release, nil
}
