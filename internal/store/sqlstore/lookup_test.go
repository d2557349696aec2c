package sqlstore

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestLookupConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			storetest.RunLookup(t, func(t *testing.T) storetest.LookupStore {
				s, _ := b.open(t, testOptions())
				return s
			})
		})
	}
}
