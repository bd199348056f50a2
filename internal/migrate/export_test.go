package migrate

// WithLockTimeout makes the Migrator poll for the advisory lock every period
// seconds, attempts times, instead of every second for five minutes, so that
// tests of the lock need not wait that long.
func WithLockTimeout(period, attempts uint64) Option {
	return func(c *config) { c.lockPeriod, c.lockAttempts = period, attempts }
}
