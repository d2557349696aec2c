package peers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 20 * time.Second
	stopTimeout  = 5 * time.Second
	maxLogBytes  = 1 << 20
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("peers: pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("peers: release port: %w", err)
	}
	return port, nil
}

// logBuffer collects a process's output, bounded, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxLogBytes - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a peer server started for one test.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error // set before done is closed
}

// startProcess runs cmd with its output captured and registers a cleanup that
// stops it and, if the test failed, logs its output.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) (*process, error) {
	t.Helper()
	p := &process{name: name, cmd: cmd, log: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = stopTimeout // do not wait on output pipes held by strays
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peers: start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.log.String())
		}
	})
	return p, nil
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = signalGroup(p.cmd.Process, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = signalGroup(p.cmd.Process, syscall.SIGKILL)
		<-p.done
	}
}

// errExited marks a peer that exited before it answered, typically because
// its port was taken between freePort and its bind.
var errExited = errors.New("peers: the peer exited before it answered")

// onFreePort calls launch with a fresh port until it succeeds, fails for
// another reason than errExited, or has been tried three times.
func onFreePort(launch func(port int) error) error {
	var err error
	for range 3 {
		port, perr := freePort()
		if perr != nil {
			return perr
		}
		if err = launch(port); !errors.Is(err, errExited) {
			return err
		}
	}
	return err
}

// waitReady polls url until it answers 200 with a body containing marker
// (proof that it is this process answering, not another one that got the
// port), and returns the body. It fails after startTimeout or when the
// process exits.
func (p *process) waitReady(url string, marker []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%w: %s (%v): %v", errExited, p.name, p.err, lastErr)
		default:
		}
		body, err := getOK(ctx, client, url)
		if err == nil && bytes.Contains(stripSpace(body), marker) {
			return body, nil
		}
		if err == nil {
			err = errors.New("an answer from another server")
		}
		lastErr = err
		select {
		case <-p.done:
			return nil, fmt.Errorf("%w: %s (%v): %v", errExited, p.name, p.err, lastErr)
		case <-ctx.Done():
			return nil, fmt.Errorf("peers: %s did not answer %s within %s: %w", p.name, url, startTimeout, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func stripSpace(b []byte) []byte {
	return bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, b)
}

func getOK(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body))
	}
	return body, nil
}

// keyPair is a freshly generated RSA-2048 signing key and self-signed
// certificate, written as PEM files.
type keyPair struct {
	keyFile, certFile string
	certPEM           []byte
	certB64           []byte // base64 of the DER, as metadata carries it
}

func newKeyPair(dir, commonName string) (keyPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return keyPair{}, fmt.Errorf("peers: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return keyPair{}, fmt.Errorf("peers: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return keyPair{}, fmt.Errorf("peers: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return keyPair{}, fmt.Errorf("peers: marshal key: %w", err)
	}
	kp := keyPair{
		keyFile:  filepath.Join(dir, "idp.key"),
		certFile: filepath.Join(dir, "idp.crt"),
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certB64:  []byte(base64.StdEncoding.EncodeToString(der)),
	}
	if err := os.WriteFile(kp.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return keyPair{}, fmt.Errorf("peers: write key: %w", err)
	}
	if err := os.WriteFile(kp.certFile, kp.certPEM, 0o644); err != nil {
		return keyPair{}, fmt.Errorf("peers: write certificate: %w", err)
	}
	return kp, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// mkdirs creates each directory (and parents).
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("peers: mkdir %s: %w", d, err)
		}
	}
	return nil
}
