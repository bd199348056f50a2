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

// The limit doubles per attempt, and the delay is spread over it (full
// jitter): of many draws at each attempt, the largest comes near the
// attempt's limit and the smallest near zero, so that many units that
// conflicted at once do not come back at once.
func TestBackoffDoublesAndJitters(t *testing.T) {
	cfg := config{baseDelay: 8 * time.Millisecond, maxDelay: time.Second}
	for attempt, limit := range []time.Duration{8, 16, 32, 64, 128} {
		limit *= time.Millisecond
		lo, hi := limit, time.Duration(0)
		for range 2000 {
			d := backoff(cfg, attempt+1)
			lo, hi = min(lo, d), max(hi, d)
		}
		// With 2000 uniform draws, missing the top or bottom tenth has
		// a chance of 0.9^2000: never.
		if hi <= limit*9/10 || hi > limit {
			t.Errorf("attempt %d: largest delay %v, want within the top tenth of %v", attempt+1, hi, limit)
		}
		if lo >= limit/10 {
			t.Errorf("attempt %d: smallest delay %v, want within the bottom tenth of %v", attempt+1, lo, limit)
		}
	}
}
