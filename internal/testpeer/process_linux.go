package testpeer

import (
	"os"
	"syscall"
)

// sysProcAttr puts the peer in a process group of its own, so that stopping
// it reaches its children (Apache's workers, CGI scripts), and kills it if
// the test binary dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the peer's process group.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}
