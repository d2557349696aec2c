package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// storeStartupWait bounds how long serve waits at start for a store that
// does not answer yet (PostgreSQL still starting, a network blip), before
// it gives up with an error naming the last failure.
const storeStartupWait = 60 * time.Second

// waitForStore pings db until it answers, retrying with a backoff from
// 250 ms doubling to 5 s, for at most wait; each failed attempt is logged.
// It returns nil at the first answer, or an error that names the number
// of attempts and the last failure.
func waitForStore(ctx context.Context, db *sql.DB, wait time.Duration, logger *slog.Logger) error {
	deadline := time.Now().Add(wait)
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.PingContext(pingCtx)
		cancel()
		if err == nil {
			if attempt > 1 {
				logger.Info("store reachable", slog.Int("attempts", attempt))
			}
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return fmt.Errorf("store unreachable after %d attempts in %s: %w", attempt, wait, err)
		}
		wait := min(delay, left)
		logger.Warn("store unreachable; retrying", slog.Int("attempt", attempt), slog.Duration("retry_in", wait), slog.Any("err", err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("store unreachable after %d attempts: %w", attempt, ctx.Err())
		case <-time.After(wait):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
