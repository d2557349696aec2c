package memory

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func TestAppsConformance(t *testing.T) {
	storetest.RunApps(t, func(t *testing.T) storetest.AppStore { return New() })
}
