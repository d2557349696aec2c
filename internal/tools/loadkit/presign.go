package loadkit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Presign builds count items with workers goroutines (at least one), item
// i by build(i), so that pre-signing never competes with the gateway for
// the cores during a run. It stops at the first error, which it returns
// as build returned it, or when ctx is done. progress, when not nil, is
// called with the number done so far (from any goroutine, every 1000).
func Presign[T any](ctx context.Context, count, workers int, build func(i int) (T, error), progress func(done int)) ([]T, error) {
	out := make([]T, max(count, 0))
	var next, done atomic.Int64
	var once sync.Once
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(out) {
					return
				}
				item, err := build(i)
				if err != nil {
					once.Do(func() { firstErr = err })
					cancel()
					return
				}
				out[i] = item
				if d := done.Add(1); progress != nil && d%1000 == 0 {
					progress(int(d))
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("presign: %w", err)
	}
	return out, nil
}
