package ucoauth

// spawnSaving is spawn for a save being retried (see retrySave). When the
// refresh rotated the refresh token, the source holds, until the save
// lands, the merchant's only live refresh token, which the store has not
// seen: a Manager's idle sweep must not close it (see shutdownIdle). A token
// whose refresh token was not rotated loses nothing with the source: its
// retry stops with it, as any background work does.
func (s *TokenSource) spawnSaving(rotated bool, fn func(stop <-chan struct{})) bool {
	if !rotated {
		return s.spawn(fn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.Load().isClosed() {
		return false
	}
	var bg *background
	s.goLocked(func(stop <-chan struct{}) {
		defer func() {
			s.mu.Lock()
			bg.saving--
			s.mu.Unlock()
		}()
		fn(stop)
	})
	bg = s.h.Load().bg // set by goLocked, under s.mu: before the goroutine can end
	bg.saving++
	return true
}

// shutdownIdle is shutdown for a source a Manager's sweep found idle,
// unless it is busy: a flight in progress, or a save being retried. Closing
// such a source would lose a rotated token that never reached the store.
// ok reports whether it was shut down.
func (s *TokenSource) shutdownIdle() (bg *background, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.h.Load()
	if h.isClosed() {
		return h.bg, true
	}
	if s.inflight != nil || (h.bgOrNil() != nil && h.bg.saving > 0) {
		return nil, false
	}
	h = s.update(func(h *health) { h.closed = true })
	if h.bg != nil {
		close(h.bg.stop)
	}
	return h.bg, true
}
