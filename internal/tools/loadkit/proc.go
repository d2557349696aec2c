package loadkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNoField is returned when /proc/PID/status lacks a field.
var ErrNoField = errors.New("field not found")

// StatusKB returns a "Name:   123 kB" field of the contents of
// /proc/PID/status, in KiB.
func StatusKB(status []byte, field string) (int64, error) {
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

// ReadStatusKB reads one field of /proc/pid/status (see StatusKB).
func ReadStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return StatusKB(b, field)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// maxTicks bounds each CPU time field (about 497 days) so the sum cannot
// overflow a time.Duration.
const maxTicks = 1 << 32

// StatCPU returns utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func StatCPU(stat []byte) (time.Duration, error) {
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

// ReadCPU returns the CPU time (user+system) process pid has used.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return StatCPU(b)
}

// SelfCPU is this process's user+system CPU time (0 if it cannot be read).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RSSSampler records the largest resident set size seen every interval.
// Its zero value is ready to use; it is safe for concurrent use.
type RSSSampler struct {
	mu      sync.Mutex
	maxKB   int64
	samples int
	lastErr error
}

// Run samples read() at once and then every interval until ctx is done.
func (s *RSSSampler) Run(ctx context.Context, interval time.Duration, read func() (int64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Sample(read)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one sample with read; a read error is kept, not counted.
func (s *RSSSampler) Sample(read func() (int64, error)) {
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

// Result returns the largest sample, the number of samples and the last
// read error.
func (s *RSSSampler) Result() (maxKB int64, samples int, lastErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxKB, s.samples, s.lastErr
}

// StartPerf attaches `perf record -g` to pid, writing into out; perf's
// own output goes to stderr. Stop it with StopPerf.
func StartPerf(out string, pid int, stderr io.Writer) (*exec.Cmd, error) {
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // let perf attach before the load starts
	return cmd, nil
}

// StopPerf stops perf with SIGINT so it writes its file, and logs how it
// ended unless that was the SIGINT.
func StopPerf(cmd *exec.Cmd, logf func(format string, a ...any)) {
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil && !interrupted(err) {
		logf("perf: %v", err)
	}
}

// interrupted reports whether err is the exit of a process ended by the
// SIGINT that StopPerf sends.
func interrupted(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}
