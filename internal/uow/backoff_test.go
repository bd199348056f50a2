package uow

import (
	"testing"
	"time"
)

// Each backoff is jittered within its limit, which doubles per attempt up
// to maxDelay and never overflows into a negative or zero duration.
func TestBackoffStaysWithinItsCap(t *testing.T) {
	cfg := config{baseDelay: time.Millisecond, maxDelay: 5 * time.Millisecond}
	for attempt := 1; attempt <= 80; attempt++ {
		limit := min(cfg.baseDelay<<min(attempt-1, 62), cfg.maxDelay)
		if attempt > 40 {
			limit = cfg.maxDelay // the shift has overflowed by then
		}
		for range 50 {
			d := backoff(cfg, attempt)
			if d < 1 || d > limit {
				t.Fatalf("backoff(attempt %d) = %v, want 1ns to %v", attempt, d, limit)
			}
		}
	}
	if d := backoff(config{}, 3); d != 0 {
		t.Errorf("no delay configured: backoff = %v, want 0", d)
	}
}
