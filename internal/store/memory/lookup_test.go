package memory

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestLookupConformance(t *testing.T) {
	storetest.RunLookup(t, func(t *testing.T) storetest.LookupStore { return New() })
}
