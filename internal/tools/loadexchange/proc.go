package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrNoField is returned when /proc/PID/status lacks a field.
var ErrNoField = errors.New("field not found")

// statusKB returns a "Name:   123 kB" field of /proc/PID/status in KiB.
func statusKB(status []byte, field string) (int64, error) {
	prefix := []byte(field + ":")
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", field, bytes.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s: unexpected value %q", field, f[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s: %w", field, ErrNoField)
}

// readStatusKB reads one field of /proc/pid/status.
func readStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return statusKB(b, field)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// maxTicks bounds each CPU time field (about 497 days) so the sum cannot
// overflow a time.Duration.
const maxTicks = 1 << 32

// statCPU returns utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func statCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	// After ')': field 3 (state) is f[0], so utime (14) is f[11], stime (15) f[12].
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 || n > maxTicks {
			return 0, fmt.Errorf("stat: unexpected CPU time %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// readCPU returns the CPU time (user+system) process pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(b)
}

// rssSampler records the largest VmRSS seen every interval.
type rssSampler struct {
	mu      sync.Mutex
	maxKB   int64
	samples int
	lastErr error
}

// run samples read() every interval until ctx is done.
func (s *rssSampler) run(ctx context.Context, interval time.Duration, read func() (int64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sample(read)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *rssSampler) sample(read func() (int64, error)) {
	kb, err := read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return
	}
	s.samples++
	s.maxKB = max(s.maxKB, kb)
}

// result returns the largest sample, the number of samples and the last
// read error.
func (s *rssSampler) result() (maxKB int64, samples int, lastErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxKB, s.samples, s.lastErr
}
