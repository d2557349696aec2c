package loadkit

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleStatus = `Name:	gatehouse
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1261592 kB
VmSize:	 1261592 kB
VmHWM:	   61432 kB
VmRSS:	   48120 kB
RssAnon:	   30000 kB
RssFile:	   18120 kB
Threads:	9
`

func TestStatusKB(t *testing.T) {
	tests := []struct {
		name, status, field string
		want                int64
		wantErr             error // nil: success; ErrNoField: that sentinel; errAny: any error
	}{
		{"VmHWM", sampleStatus, "VmHWM", 61432, nil},
		{"VmRSS", sampleStatus, "VmRSS", 48120, nil},
		{"RssFile is not VmRSS", "RssFile:\t 7 kB\nVmRSS:\t 9 kB\n", "VmRSS", 9, nil},
		{"no trailing newline", "VmHWM:\t12 kB", "VmHWM", 12, nil},
		{"field missing", sampleStatus, "VmSwapX", 0, ErrNoField},
		{"field only as a prefix of another", "VmHWMx:\t12 kB\n", "VmHWM", 0, ErrNoField},
		{"unit not kB", "VmHWM:\t12 MB\n", "VmHWM", 0, errAny},
		{"not a number", "VmHWM:\tlots kB\n", "VmHWM", 0, errAny},
		{"negative", "VmHWM:\t-1 kB\n", "VmHWM", 0, errAny},
		{"no value", "VmHWM:\n", "VmHWM", 0, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StatusKB([]byte(tt.status), tt.field)
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			case errAny:
				require.Error(t, err)
				assert.NotErrorIs(t, err, ErrNoField)
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestReadStatusKBOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	rss, err := ReadStatusKB(os.Getpid(), "VmRSS")
	require.NoError(t, err)
	assert.Positive(t, rss)
	// Both from one snapshot: the kernel reports VmHWM as at least the
	// VmRSS of the same read (across two reads RSS may grow and shrink
	// while the stored high-water mark lags).
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	rss, err = StatusKB(b, "VmRSS")
	require.NoError(t, err)
	hwm, err := StatusKB(b, "VmHWM")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, hwm, rss, "the high-water mark is at least the current RSS")
}

func TestStatCPU(t *testing.T) {
	// Fields 1-15 of /proc/PID/stat: utime (14) = 250 ticks, stime (15) = 30.
	tests := []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "4242 (gatehouse) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9", 2800 * time.Millisecond, false},
		{"command with spaces and parentheses", "4242 (a (b) c) R 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 0 0", 2800 * time.Millisecond, false},
		{"zero", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0", 0, false},
		{"no command", "4242 gatehouse S 1", 0, true},
		{"too short", "4242 (gatehouse) S 1 4242 4242 0 -1 4194560 100 0 0 0 250", 0, true},
		{"utime not a number", "4242 (gatehouse) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 30 0 0", 0, true},
		{"stime negative", "4242 (gatehouse) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 -30 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StatCPU([]byte(tt.stat))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadCPUOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	_, err := ReadCPU(os.Getpid())
	require.NoError(t, err)
}

func TestRSSSamplerKeepsMaximum(t *testing.T) {
	values := []int64{100, 300, 200}
	errs := []error{nil, nil, nil, errors.New("gone")}
	var s RSSSampler
	for i := range errs {
		s.Sample(func() (int64, error) {
			if errs[i] != nil {
				return 0, errs[i]
			}
			return values[i], nil
		})
	}
	maxKB, n, lastErr := s.Result()
	assert.Equal(t, int64(300), maxKB)
	assert.Equal(t, 3, n)
	assert.EqualError(t, lastErr, "gone")
}

func TestRSSSamplerRunStopsWithContext(t *testing.T) {
	var s RSSSampler
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s.Run(ctx, time.Hour, func() (int64, error) { return 5, nil })
	maxKB, n, err := s.Result()
	require.NoError(t, err)
	assert.Equal(t, int64(5), maxKB)
	assert.Equal(t, 1, n, "one sample is taken at once, then the cancelled context stops the loop")
}

func TestInterrupted(t *testing.T) {
	sleep := exec.Command("sleep", "30")
	require.NoError(t, sleep.Start())
	require.NoError(t, sleep.Process.Signal(syscall.SIGINT))
	assert.True(t, interrupted(sleep.Wait()))

	assert.False(t, interrupted(exec.Command("false").Run()), "an exit status is not an interrupt")
	assert.False(t, interrupted(errors.New("other")))
	assert.False(t, interrupted(nil))
}

func FuzzStatusKB(f *testing.F) {
	f.Add(sampleStatus, "VmHWM")
	f.Add("VmRSS:\t 1 kB\n", "VmRSS")
	f.Add("VmRSS:\t 1 MB\n", "VmRSS")
	f.Add("", "VmHWM")
	f.Fuzz(func(t *testing.T, status, field string) {
		n, err := StatusKB([]byte(status), field)
		if err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}

func FuzzStatCPU(f *testing.F) {
	f.Add("4242 (gatehouse) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9")
	f.Add("4242 (a (b) c) R 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 0 0")
	f.Add(")")
	f.Fuzz(func(t *testing.T, stat string) {
		d, err := StatCPU([]byte(stat))
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %s", d)
		}
	})
}
