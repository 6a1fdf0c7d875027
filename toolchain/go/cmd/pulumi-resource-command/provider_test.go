package main

// Conformance tests: each pins one behaviour of upstream pulumi-command v1.2.1 (tag v1.2.1,
// provider/pkg/provider/...), named in the test's comment, against a real OpenSSH sshd.

import (
	"context"
	"crypto/ed25519"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"google.golang.org/protobuf/types/known/structpb"
)

const remoteURN = "urn:pulumi:lab::homelab::command:remote:Command::ds"
const localURN = "urn:pulumi:lab::homelab::command:local:Command::up"

func mustStruct(t *testing.T, m map[string]interface{}) *structpb.Struct {
	t.Helper()
	return toStruct(resource.NewPropertyMapFromMap(m))
}

func mustProps(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := props(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func create(t *testing.T, log engineLog, inputs map[string]interface{}) (resource.PropertyMap, error) {
	t.Helper()
	p := &provider{log: log}
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: remoteURN, Properties: mustStruct(t, inputs)})
	if err != nil {
		return nil, err
	}
	return mustProps(t, resp.Properties), nil
}

func update(t *testing.T, log engineLog, olds, news map[string]interface{}) (resource.PropertyMap, error) {
	t.Helper()
	p := &provider{log: log}
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: remoteURN, Olds: mustStruct(t, olds), News: mustStruct(t, news)})
	if err != nil {
		return nil, err
	}
	return mustProps(t, resp.Properties), nil
}

// remote/commandOutputs.go: each `environment` entry is an SSH "env" request; OpenSSH refuses
// names not in AcceptEnv (TrueNAS has none), and upstream then fails before running anything.
func TestEnvironmentRefusedByOpenSSHFailsTheCommand(t *testing.T) {
	s := startSSHD(t, "")
	marker := filepath.Join(t.TempDir(), "ran")
	log := &recordedLog{}
	_, err := create(t, log, map[string]interface{}{
		"connection":  s.connection(s.hostKeys["ssh-ed25519"]),
		"create":      "touch " + marker,
		"environment": map[string]interface{}{"HOMELAB_DRIFT_GENERATION": "1"},
	})
	if err == nil || err.Error() != `could not set environment variable "HOMELAB_DRIFT_GENERATION": ssh: setenv failed` {
		t.Fatalf("want upstream's setenv error, got %v", err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("the command ran although its environment was refused")
	}
	if len(log.logs) != 1 || log.logs[0].sev != diag.Error || !strings.HasPrefix(log.logs[0].msg, "Unable to set 'HOMELAB_DRIFT_GENERATION'. This only works if your SSH server is configured to accept\n\tthese variables via AcceptEnv.") {
		t.Fatalf("want upstream's error diagnostic, got %+v", log.logs)
	}
}

// remote/commandOutputs.go: a name the server accepts reaches the command's environment.
func TestEnvironmentAcceptedWhenTheServerListsIt(t *testing.T) {
	s := startSSHD(t, "LAB_*")
	outs, err := create(t, silentLog{}, map[string]interface{}{
		"connection":  s.connection(s.hostKeys["ssh-ed25519"]),
		"create":      `printf '%s' "$LAB_VALUE"`,
		"environment": map[string]interface{}{"LAB_VALUE": "it's set"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := outs["stdout"].StringValue(); got != "it's set" {
		t.Fatalf("stdout %q", got)
	}
}

// remote/commandOutputs.go: addPreviousOutputInEnv (unset = true) sends the previous stdout and
// stderr on update; a refusal is only a warning and the command still runs.
func TestPreviousOutputsOnUpdate(t *testing.T) {
	olds := func(s *sshd) map[string]interface{} {
		return map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-ed25519"]), "create": "echo a", "stdout": "before", "stderr": ""}
	}
	t.Run("refused: a warning, and the command runs", func(t *testing.T) {
		s := startSSHD(t, "")
		log := &recordedLog{}
		outs, err := update(t, log, olds(s), map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-ed25519"]), "create": "echo after"})
		if err != nil {
			t.Fatal(err)
		}
		if outs["stdout"].StringValue() != "after" {
			t.Fatalf("stdout %q", outs["stdout"].StringValue())
		}
		// stderr was empty: upstream sends only non-empty previous outputs.
		if len(log.logs) != 1 || log.logs[0].sev != diag.Warning || !strings.HasPrefix(log.logs[0].msg, "Unable to set 'PULUMI_COMMAND_STDOUT'.") {
			t.Fatalf("want one warning for PULUMI_COMMAND_STDOUT, got %+v", log.logs)
		}
	})
	t.Run("accepted: the command sees them", func(t *testing.T) {
		s := startSSHD(t, "PULUMI_COMMAND_*")
		outs, err := update(t, silentLog{}, olds(s), map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-ed25519"]), "update": `printf '%s' "$PULUMI_COMMAND_STDOUT"`})
		if err != nil {
			t.Fatal(err)
		}
		if outs["stdout"].StringValue() != "before" {
			t.Fatalf("stdout %q", outs["stdout"].StringValue())
		}
	})
	t.Run("addPreviousOutputInEnv false: nothing sent, no warning", func(t *testing.T) {
		s := startSSHD(t, "")
		log := &recordedLog{}
		_, err := update(t, log, olds(s), map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-ed25519"]), "create": "true", "addPreviousOutputInEnv": false})
		if err != nil || len(log.logs) != 0 {
			t.Fatalf("err %v, logs %+v", err, log.logs)
		}
	})
}

// remote/connection.go: the pinned key's type is the only host-key algorithm offered, so a server
// with RSA, ECDSA and ed25519 keys presents the pinned one; a wrong key is a mismatch; an RSA pin
// offers only ssh-rsa, which OpenSSH >= 8.8 refuses.
func TestHostKeyPinning(t *testing.T) {
	s := startSSHD(t, "")
	for _, kind := range []string{"ssh-ed25519", "ecdsa-sha2-nistp256"} {
		if _, err := create(t, silentLog{}, map[string]interface{}{"connection": s.connection(s.hostKeys[kind]), "create": "true"}); err != nil {
			t.Errorf("%s pin: %v", kind, err)
		}
	}
	_, err := create(t, silentLog{}, map[string]interface{}{"connection": s.connection(s.foreignKey), "create": "true"})
	if err == nil || err.Error() != "after 0 failed attempts: ssh: handshake failed: ssh: host key mismatch" {
		t.Errorf("wrong pin: %v", err)
	}
	_, err = create(t, silentLog{}, map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-rsa"]), "create": "true"})
	if err == nil || !strings.Contains(err.Error(), "no common algorithm for host key; we offered: [\"ssh-rsa\"]") {
		t.Errorf("RSA pin: want upstream's failure against OpenSSH, got %v", err)
	}
	_, err = create(t, silentLog{}, map[string]interface{}{"connection": s.connection("AAAAC3NzaC1lZDI1NTE5"), "create": "true"})
	if err == nil || !strings.HasPrefix(err.Error(), "failed to parse host key: ssh: no key found") {
		t.Errorf("bare base64 pin: %v", err)
	}
}

// remote/connection.go dialWithRetry: every failure is retried, dialErrorLimit+1 attempts, a
// status line per retry, and "after N failed attempts" at the end.
func TestDialRetriesEveryFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close() // not an SSH server: the handshake fails
		}
	}()
	conn := map[string]interface{}{"host": "127.0.0.1", "port": float64(l.Addr().(*net.TCPAddr).Port), "user": "x",
		"hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", "dialErrorLimit": 2.0, "perDialTimeout": 5.0}
	log := &recordedLog{}
	_, err = create(t, log, map[string]interface{}{"connection": conn, "create": "true"})
	if err == nil || !strings.HasPrefix(err.Error(), "after 2 failed attempts: ssh: handshake failed") {
		t.Fatalf("err %v", err)
	}
	if accepted.Load() != 3 {
		t.Fatalf("want 3 attempts, got %d", accepted.Load())
	}
	if len(log.statuses) != 2 || log.statuses[0].msg != "Dial 1/2 failed: retrying" || log.statuses[1].msg != "Dial 2/2 failed: retrying" {
		t.Fatalf("statuses %+v", log.statuses)
	}
}

// remote/logging.go + util/util.go: `logging` chooses what is streamed to the engine line by line;
// stdout and stderr are captured as outputs whatever it says, one trailing newline trimmed.
func TestLoggingStreamsWithoutChangingOutputs(t *testing.T) {
	s := startSSHD(t, "")
	for _, c := range []struct {
		logging string
		want    []string
	}{{"stdout", []string{"one", "two"}}, {"stderr", []string{"err"}}, {"none", nil}} {
		log := &recordedLog{}
		outs, err := create(t, log, map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-ed25519"]),
			"create": "echo one; echo two; echo err >&2", "logging": c.logging})
		if err != nil {
			t.Fatal(err)
		}
		if outs["stdout"].StringValue() != "one\ntwo" || outs["stderr"].StringValue() != "err" {
			t.Fatalf("%s: outputs %q %q", c.logging, outs["stdout"].StringValue(), outs["stderr"].StringValue())
		}
		var got []string
		for _, l := range log.statuses {
			got = append(got, l.msg)
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("logging %s streamed %q, want %q", c.logging, got, c.want)
		}
	}
}

// remote/commandOutputs.go: a failing command's error is the exit status, the command and all it
// printed.
func TestFailureReportsCommandAndOutput(t *testing.T) {
	s := startSSHD(t, "")
	cmd := "echo out; sleep 0.1; echo err >&2; exit 3"
	_, err := create(t, silentLog{}, map[string]interface{}{"connection": s.connection(s.hostKeys["ssh-ed25519"]), "create": cmd, "logging": "none"})
	want := "Process exited with status 3: running \"echo out; sleep 0.1; echo err >&2; exit 3\":\nout\nerr\n"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// remote/connection.go: the SSH agent (agentSocketPath, else SSH_AUTH_SOCK) is a login method
// whenever a socket is known; an unreachable socket fails the operation at once.
func TestAgentLogin(t *testing.T) {
	s := startSSHD(t, "")
	key, err := ssh.ParseRawPrivateKey([]byte(s.clientKey))
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key.(*ed25519.PrivateKey)}); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, c); _ = c.Close() }()
		}
	}()
	conn := s.connection(s.hostKeys["ssh-ed25519"])
	delete(conn, "privateKey")
	conn["agentSocketPath"] = socket
	if _, err := create(t, silentLog{}, map[string]interface{}{"connection": conn, "create": "true"}); err != nil {
		t.Fatalf("login through the agent: %v", err)
	}
	t.Setenv("SSH_AUTH_SOCK", socket)
	delete(conn, "agentSocketPath")
	if _, err := create(t, silentLog{}, map[string]interface{}{"connection": conn, "create": "true"}); err != nil {
		t.Fatalf("login through SSH_AUTH_SOCK: %v", err)
	}
	t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "gone.sock"))
	conn["privateKey"] = s.clientKey
	if _, err := create(t, silentLog{}, map[string]interface{}{"connection": conn, "create": "true"}); err == nil || !strings.Contains(err.Error(), "dial unix") {
		t.Fatalf("unreachable agent: want an immediate failure, got %v", err)
	}
}

// remote/command.go + infer defaults: outputs echo every input, the connection's defaults filled
// in by Check and the connection itself kept (the SDK stores it as a secret), for delete.
func TestCheckFillsDefaultsAndRefusesWhatItCannotHonour(t *testing.T) {
	p := &provider{log: silentLog{}}
	check := func(inputs map[string]interface{}) *pulumirpc.CheckResponse {
		resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: remoteURN, News: mustStruct(t, inputs)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := check(map[string]interface{}{"connection": map[string]interface{}{"host": "127.0.0.1", "hostKey": "ssh-ed25519 AAAA"}, "create": "true"})
	if len(resp.Failures) != 0 {
		t.Fatalf("failures %v", resp.Failures)
	}
	conn := mustProps(t, resp.Inputs)["connection"].ObjectValue().Mappable()
	if conn["user"] != "root" || conn["port"] != 22.0 || conn["dialErrorLimit"] != 10.0 || conn["perDialTimeout"] != 15.0 {
		t.Fatalf("defaults %v", conn)
	}
	for _, c := range []struct {
		inputs   map[string]interface{}
		property string
	}{
		{map[string]interface{}{"create": "true"}, "connection"},
		{map[string]interface{}{"connection": map[string]interface{}{"host": "h"}}, "connection.hostKey"},
		{map[string]interface{}{"connection": map[string]interface{}{"host": "h", "hostKey": "k", "proxy": map[string]interface{}{"host": "j"}}}, "connection.proxy"},
		{map[string]interface{}{"connection": map[string]interface{}{"host": "h", "hostKey": "k"}, "logging": "everything"}, "logging"},
	} {
		resp := check(c.inputs)
		if len(resp.Failures) != 1 || resp.Failures[0].Property != c.property {
			t.Errorf("%v: want one failure on %s, got %v", c.inputs, c.property, resp.Failures)
		}
	}
}

func TestOutputsKeepTheConnectionForDelete(t *testing.T) {
	outs := mustProps(t, outputs(resource.NewPropertyMapFromMap(map[string]interface{}{
		"connection": map[string]interface{}{"host": "h", "privateKey": "k"}}), &scriptResult{stdout: "ok"}))
	if outs["connection"].ObjectValue()["privateKey"].StringValue() != "k" || outs["stdout"].StringValue() != "ok" {
		t.Fatalf("outputs %v", outs)
	}
}

// infer's default diff: only `triggers` replaces; every other input change is an update.
func TestDiffUpdatesInPlaceAndReplacesOnlyOnTriggers(t *testing.T) {
	p := &provider{log: silentLog{}}
	old := map[string]interface{}{"connection": map[string]interface{}{"host": "h", "hostKey": "ssh-ed25519 AAAA"}, "create": "a", "stdout": "x"}
	cases := []struct {
		name     string
		edit     func(map[string]interface{})
		changes  pulumirpc.DiffResponse_DiffChanges
		replaces []string
	}{
		{"nothing", func(map[string]interface{}) {}, pulumirpc.DiffResponse_DIFF_NONE, nil},
		{"script", func(m map[string]interface{}) { m["create"] = "b" }, pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"delete only", func(m map[string]interface{}) { m["delete"] = "rm" }, pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"connection", func(m map[string]interface{}) {
			m["connection"] = map[string]interface{}{"host": "g", "hostKey": "ssh-ed25519 AAAA"}
		}, pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"triggers", func(m map[string]interface{}) { m["triggers"] = []interface{}{"x"} }, pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"}},
	}
	for _, c := range cases {
		news := map[string]interface{}{}
		for k, v := range old {
			if k != "stdout" {
				news[k] = v
			}
		}
		c.edit(news)
		resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: remoteURN,
			OldInputs: mustStruct(t, old), Olds: mustStruct(t, old), News: mustStruct(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Changes != c.changes || strings.Join(resp.Replaces, ",") != strings.Join(c.replaces, ",") {
			t.Errorf("%s: changes %v replaces %v", c.name, resp.Changes, resp.Replaces)
		}
	}
}

// The id is the resource name and 8 hex digits (commandController.go: resource.NewUniqueHex).
func TestIDIsNamePlusEightHexDigits(t *testing.T) {
	p := &provider{log: silentLog{}}
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: localURN, Properties: mustStruct(t, map[string]interface{}{})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Id) != len("up")+8 || !strings.HasPrefix(resp.Id, "up") {
		t.Fatalf("id %q", resp.Id)
	}
}

// local/commandOutputs.go: environment, previous outputs and stdin for a local command.
func TestLocalCommandGetsEnvironmentPreviousOutputAndStdin(t *testing.T) {
	p := &provider{log: silentLog{}}
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: localURN,
		Olds: mustStruct(t, map[string]interface{}{"stdout": "v1.11.5"}),
		News: mustStruct(t, map[string]interface{}{
			"update":      `printf '%s>%s:' "$PULUMI_COMMAND_STDOUT" "$TALOS_VERSION"; cat`,
			"environment": map[string]interface{}{"TALOS_VERSION": "v1.11.6"},
			"stdin":       "secret-from-stdin",
		})})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustProps(t, resp.Properties)["stdout"].StringValue(); got != "v1.11.5>v1.11.6:secret-from-stdin" {
		t.Fatalf("stdout %q", got)
	}
}

func TestLocalFailureReportsCommandAndOutput(t *testing.T) {
	p := &provider{log: silentLog{}}
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: localURN,
		Properties: mustStruct(t, map[string]interface{}{"create": "echo nope; exit 2"})})
	if err == nil || err.Error() != "exit status 2: running \"echo nope; exit 2\":\nnope\n" {
		t.Fatalf("got %v", err)
	}
}
