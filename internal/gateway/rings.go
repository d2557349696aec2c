package gateway

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

// OpenRing opens the signing key ring name where keys.rings keeps it: as
// files in keys.dir, or in st (config.RingsStore), sealed with keys.dir's
// ring-seal secret and imported from keys.dir on the first open. serve and
// `gatehouse keys` both open rings through it, so the command line changes
// the ring the instances serve.
func OpenRing(ctx context.Context, cfg *config.Config, st keys.RingStore, name string, opts keys.RingOptions) (*keys.Ring, error) {
	if cfg.Keys.Rings != config.RingsStore {
		r, err := keys.OpenRing(cfg.Keys.Dir, name, opts)
		if err != nil {
			return nil, fmt.Errorf("keys.dir: %w", err)
		}
		return r, nil
	}
	if st == nil {
		return nil, fmt.Errorf("keys.rings is %s but there is no store", config.RingsStore)
	}
	seal, err := keys.LoadOrCreateSecret(cfg.Keys.Dir, keys.RingSealSecret, keys.SealKeySize)
	if err != nil {
		return nil, fmt.Errorf("keys.dir: %w", err)
	}
	opts.SealKey, opts.ImportFrom = seal, cfg.Keys.Dir
	r, err := keys.OpenStoreRing(ctx, st, name, opts)
	if err != nil {
		return nil, fmt.Errorf("keys.rings store: %w", err)
	}
	return r, nil
}
