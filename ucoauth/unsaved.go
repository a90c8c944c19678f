package ucoauth

// A source's background work (flights, saves being retried) and its
// closing: Close stops it and waits, and a Manager's idle sweep closes no
// source that still holds a token the store has not seen.

// goLocked runs fn in a goroutine that Close waits for. s.mu must be held
// and the source not closed.
func (s *TokenSource) goLocked(fn func(stop <-chan struct{})) {
	var bg *background
	if h := s.h.Load(); h != nil {
		bg = h.bg
	}
	if bg == nil {
		bg = &background{stop: make(chan struct{})}
		s.update(func(h *health) { h.bg = bg })
	}
	bg.wg.Add(1)
	bg.running++
	go func() {
		defer bg.wg.Done()
		fn(bg.stop)
		s.mu.Lock()
		// The last one out drops the tracker, so that 100,000 idle
		// sources do not each keep one.
		if bg.running--; bg.running == 0 {
			if h := s.h.Load(); !h.closed && h.bg == bg {
				if h.idle() && h.retry == nil {
					s.h.Store(nil)
				} else {
					s.update(func(h *health) { h.bg = nil })
				}
			}
		}
		s.mu.Unlock()
	}()
}

// spawn runs fn in a goroutine that Close stops (by closing stop) and
// waits for. Nothing starts on a closed source: spawn reports whether fn
// started.
func (s *TokenSource) spawn(fn func(stop <-chan struct{})) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pol().closed {
		return false
	}
	s.goLocked(fn)
	return true
}

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
	if s.pol().closed {
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

// Close stops the source's background work: a refresh in flight is allowed
// to finish (cutting it short could lose a rotated refresh token), a save
// still being retried gets one last attempt. Close waits for both. After
// Close the source serves its token while it is valid, then returns
// [ErrClosed]. Close is safe to call more than once and always returns nil.
func (s *TokenSource) Close() error {
	if bg := s.shutdown(); bg != nil {
		bg.wg.Wait()
	}
	return nil
}

// shutdown marks the source closed and signals its goroutines to stop,
// without waiting. It returns what to wait for, if anything.
func (s *TokenSource) shutdown() *background {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

// closeLocked is shutdown with s.mu held.
func (s *TokenSource) closeLocked() *background {
	if h := s.h.Load(); h != nil && h.closed {
		return h.bg
	}
	h := s.apply(event{kind: evClosed}, 0)
	if h.bg != nil {
		close(h.bg.stop)
	}
	return h.bg
}

// shutdownIdle is shutdown for a source a Manager's sweep found idle,
// unless it is busy: a flight in progress, or a save being retried. Closing
// such a source would lose a rotated token that never reached the store.
// ok reports whether it was shut down.
func (s *TokenSource) shutdownIdle() (bg *background, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.h.Load()
	if h != nil && h.closed {
		return h.bg, true
	}
	if s.inflight != nil || (h != nil && h.bg != nil && h.bg.saving > 0) {
		return nil, false
	}
	return s.closeLocked(), true
}
