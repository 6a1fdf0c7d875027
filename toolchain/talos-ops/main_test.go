package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
)

// The tests run the tool in-process (run), and as the binary the stack and etcd-backup.ts run,
// against the lab's Talos simulator, built from ../../lab/talos-sim and run as its own process
// on addresses of their own (never the lab's .2): upgrade on 127.0.10.240/241, the etcd
// commands on 127.0.10.242 (with a real control plane) and 127.0.10.243 (without), the
// takeover on 127.0.10.230 (with) and 127.0.10.231 (without).

var simBinary, toolBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "talos-ops-test-")
	if err != nil {
		panic(err)
	}

	simBinary, toolBinary = filepath.Join(dir, "talos-sim"), filepath.Join(dir, "talos-ops")

	for bin, src := range map[string]string{simBinary: filepath.Join("..", "..", "lab", "talos-sim"), toolBinary: "."} {
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = src
		build.Stdout, build.Stderr = os.Stderr, os.Stderr

		if err = build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", src, err)
			os.Exit(1)
		}
	}

	code := m.Run()

	os.RemoveAll(dir) //nolint:errcheck
	os.Exit(code)
}

// cluster is what the stack's machine.Secrets, getConfiguration and client.getConfiguration
// produce, generated with the same machinery packages.
type cluster struct {
	bundle      *secrets.Bundle
	configBytes []byte
	talosconfig *clientconfig.Config
}

func newCluster(t *testing.T, ip string) *cluster {
	t.Helper()

	contract, err := config.ParseContractFromVersion("v1.11.5")
	if err != nil {
		t.Fatal(err)
	}

	bundle, err := secrets.NewBundle(secrets.NewFixedClock(time.Now()), contract)
	if err != nil {
		t.Fatal(err)
	}

	input, err := generate.NewInput("lab", "https://"+ip+":6443", "1.34.1",
		generate.WithVersionContract(contract),
		generate.WithSecretsBundle(bundle),
		generate.WithInstallDisk("/dev/sda"),
		generate.WithInstallImage("ghcr.io/siderolabs/installer:v1.11.5"),
		generate.WithEndpointList([]string{ip}),
	)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := input.Config(machine.TypeControlPlane)
	if err != nil {
		t.Fatal(err)
	}

	data, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
	if err != nil {
		t.Fatal(err)
	}

	talosconfig, err := input.Talosconfig()
	if err != nil {
		t.Fatal(err)
	}

	return &cluster{bundle: bundle, configBytes: data, talosconfig: talosconfig}
}

// yaml renders a talosconfig as the stack hands it over; replace edits the current context.
func (c *cluster) yaml(t *testing.T, replace func(*clientconfig.Context)) []byte {
	t.Helper()

	ctx := *c.talosconfig.Contexts[c.talosconfig.Context]
	if replace != nil {
		replace(&ctx)
	}

	cfg := &clientconfig.Config{Context: "lab", Contexts: map[string]*clientconfig.Context{"lab": &ctx}}

	data, err := cfg.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	return data
}

// sim is one talos-sim process.
type sim struct {
	ip, stateDir, logPath string
	cmd                   *exec.Cmd
}

// startSim starts a simulator on ip:50000 without a control plane (Bootstrap starts nothing),
// unless flags name --kube-bin-dir.
func startSim(t *testing.T, ip, stateDir string, flags ...string) *sim {
	t.Helper()

	s := &sim{ip: ip, stateDir: stateDir, logPath: filepath.Join(stateDir, "sim.log")}

	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() //nolint:errcheck

	args := []string{"--listen", ip + ":50000", "--state-dir", stateDir}
	if !slices.Contains(flags, "--kube-bin-dir") {
		args = append(args, "--skip-control-plane")
	}

	args = append(args, flags...)
	s.cmd = exec.Command(simBinary, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile

	if err = s.cmd.Start(); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(s.stop)

	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if conn, err := net.DialTimeout("tcp", ip+":50000", time.Second); err == nil {
			conn.Close() //nolint:errcheck

			return s
		}

		if time.Now().After(deadline) {
			t.Fatalf("talos-sim does not listen on %s:50000:\n%s", ip, s.log())
		}
	}
}

// stop ends the process (SIGTERM, as lab/talos/stop.sh); safe to call twice.
func (s *sim) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		s.cmd.Wait()                          //nolint:errcheck
	}
}

func (s *sim) log() string {
	data, _ := os.ReadFile(s.logPath) //nolint:errcheck

	return string(data)
}

// rpcs counts the simulator's per-RPC log lines for a method and result code.
func (s *sim) rpcs(method, code string) int {
	n := 0

	for line := range strings.SplitSeq(s.log(), "\n") {
		if strings.Contains(line, "msg=rpc ") && strings.Contains(line, "method=/machine.MachineService/"+method+" ") &&
			strings.Contains(line, "code="+code+" ") {
			n++
		}
	}

	return n
}

// install applies the config in maintenance mode, as the stack's ConfigurationApply does.
func (s *sim) install(t *testing.T, c *cluster) {
	t.Helper()

	insecure, err := client.New(context.Background(),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // maintenance mode
		client.WithEndpoints(s.ip))
	if err != nil {
		t.Fatal(err)
	}
	defer insecure.Close() //nolint:errcheck

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err = insecure.ApplyConfiguration(ctx, &machineapi.ApplyConfigurationRequest{
		Data: c.configBytes, Mode: machineapi.ApplyConfigurationRequest_AUTO,
	}); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// tool runs talos-ops's main logic with a talosconfig on stdin; it checks that no key
// material ever reaches the outputs and that an error is one line.
func tool(t *testing.T, c *cluster, talosconfig []byte, args ...string) result {
	t.Helper()

	var stdout, stderr bytes.Buffer

	start := time.Now()
	code := run(context.Background(), args, bytes.NewReader(talosconfig), &stdout, &stderr)

	return checkResult(t, c, args, result{code: code, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)})
}

// binary runs the built talos-ops as its callers do: the talosconfig piped into its stdin,
// stdout into stdout (a file for a snapshot: nil keeps it in the result), with the same checks.
func binary(t *testing.T, c *cluster, talosconfig []byte, stdout *os.File, args ...string) result {
	t.Helper()

	var out, errOut bytes.Buffer

	cmd := exec.Command(toolBinary, args...)
	cmd.Stdin, cmd.Stderr = bytes.NewReader(talosconfig), &errOut

	cmd.Stdout = &out
	if stdout != nil {
		cmd.Stdout = stdout
	}

	start := time.Now()
	err := cmd.Run()

	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}

	return checkResult(t, c, args, result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String(), took: time.Since(start)})
}

func checkResult(t *testing.T, c *cluster, args []string, r result) result {
	t.Helper()

	stdout := r.stdout
	if len(stdout) > 2000 || strings.ContainsRune(stdout, 0) {
		stdout = fmt.Sprintf("(%d bytes)\n", len(stdout))
	}

	t.Logf("talos-ops %s -> exit %d in %s\n%s%s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), stdout, r.stderr)

	key := c.talosconfig.Contexts[c.talosconfig.Context].Key
	keyPEM, _ := base64.StdEncoding.DecodeString(key) //nolint:errcheck

	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, key) || strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, string(keyPEM[40:80])) {
			t.Fatal("key material in the output")
		}
	}

	if r.code != 0 && (r.stderr == "" || strings.Count(r.stderr, "\n") != 1) {
		t.Errorf("want exactly one error line on stderr, got %q", r.stderr)
	}

	return r
}
