package admin

import "sync"

// downSwitch makes a test store fail every call while it is down: each
// method of the store asks err first.
type downSwitch struct {
	mu    sync.Mutex
	down  bool
	cause error
}

func (s *downSwitch) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return s.cause
	}
	return nil
}

func (s *downSwitch) setDown(d bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = d
}
