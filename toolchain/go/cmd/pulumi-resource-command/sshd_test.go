package main

// A real OpenSSH server for the conformance tests: what upstream's client meets on TrueNAS SCALE
// is OpenSSH, so its answers (env requests refused unless AcceptEnv lists them, ssh-rsa signatures
// refused, several host keys offered) come from the real sshd, not from a stand-in.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

type sshd struct {
	port       int
	user       string
	clientKey  string            // OpenSSH private key the server accepts
	hostKeys   map[string]string // key type (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa) -> "<type> <base64>"
	foreignKey string            // an ed25519 host key line the server does not have
}

// startSSHD runs /usr/sbin/sshd in the foreground on a free loopback port, configured like
// TrueNAS SCALE's: RSA, ECDSA and ed25519 host keys, public-key login, and no AcceptEnv unless
// the test passes one.
func startSSHD(t *testing.T, acceptEnv string) *sshd {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Fatalf("these tests need OpenSSH's sshd (Debian openssh-server, installed by toolchain/setup.sh): %v", err)
	}
	dir := t.TempDir()
	keygen := func(kind, file string) string {
		out, err := exec.Command("ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", filepath.Join(dir, file)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen -t %s: %v: %s", kind, err, out)
		}
		pub, err := os.ReadFile(filepath.Join(dir, file+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(pub))[:2], " ")
	}
	s := &sshd{hostKeys: map[string]string{}}
	var hostKeyLines []string
	for _, kind := range []string{"rsa", "ecdsa", "ed25519"} {
		line := keygen(kind, "host_"+kind)
		s.hostKeys[strings.Fields(line)[0]] = line
		hostKeyLines = append(hostKeyLines, "HostKey "+filepath.Join(dir, "host_"+kind))
	}
	s.foreignKey = keygen("ed25519", "foreign")
	clientPub := keygen("ed25519", "client")
	key, err := os.ReadFile(filepath.Join(dir, "client"))
	if err != nil {
		t.Fatal(err)
	}
	s.clientKey = string(key)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(clientPub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.user = os.Getenv("USER")
	if s.user == "" {
		s.user = "root"
	}
	s.port = freePort(t)
	config := strings.Join(append(hostKeyLines,
		fmt.Sprintf("ListenAddress 127.0.0.1:%d", s.port),
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile "+filepath.Join(dir, "authorized_keys"),
		// The temp dir's parents (/tmp) are world-writable; this sshd serves only this test.
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"AcceptEnv "+acceptEnv,
	), "\n") + "\n"
	if acceptEnv == "" {
		config = strings.Replace(config, "AcceptEnv \n", "", 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			_ = c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen: %s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// connection is the `connection` input pinned to the given host key, logging in with the key.
func (s *sshd) connection(hostKey string) map[string]interface{} {
	return map[string]interface{}{
		"host": "127.0.0.1", "port": float64(s.port), "user": s.user, "hostKey": hostKey,
		"privateKey": s.clientKey, "dialErrorLimit": 0.0, "perDialTimeout": 5.0,
	}
}

// recordedLog keeps what the provider told the engine.
type recordedLog struct {
	mu       sync.Mutex
	logs     []logLine
	statuses []logLine
}

type logLine struct {
	sev diag.Severity
	msg string
}

func (r *recordedLog) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, logLine{sev, msg})
	return nil
}

func (r *recordedLog) LogStatus(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, logLine{sev, msg})
	return nil
}
