package loadkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresignBuildsEveryItemInPlace(t *testing.T) {
	var mu sync.Mutex
	var progress []int
	got, err := Presign(t.Context(), 2500, 3, func(i int) (string, error) { return fmt.Sprint("item", i), nil },
		func(done int) {
			mu.Lock()
			defer mu.Unlock()
			progress = append(progress, done)
		})
	require.NoError(t, err)
	require.Len(t, got, 2500)
	for i, s := range got {
		assert.Equal(t, fmt.Sprint("item", i), s)
	}
	slices.Sort(progress)
	assert.Equal(t, []int{1000, 2000}, progress)

	got, err = Presign(t.Context(), 0, 0, func(int) (string, error) { return "", errors.New("never called") }, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestPresignReturnsTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Presign(t.Context(), 100, 2, func(i int) (int, error) {
		if i == 7 {
			return 0, boom
		}
		return i, nil
	}, nil)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "boom", err.Error(), "returned as build returned it")
}

func TestPresignStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Presign(ctx, 100, 2, func(i int) (int, error) { return i, nil }, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualError(t, err, "presign: context canceled")
}
