package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// connection is the `connection` input (upstream remote/connection.go), with Check's defaults.
type connection struct {
	host, user, password, privateKey, privateKeyPassword, hostKey, agentSocketPath string
	port, dialErrorLimit                                                           int
	perDialTimeout                                                                 time.Duration
}

func parseConnection(inputs resource.PropertyMap) (connection, error) {
	c := connection{port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 * time.Second}
	v, ok := inputs["connection"]
	if !ok || !v.IsObject() {
		return c, errors.New("connection is required")
	}
	m := v.ObjectValue().Mappable()
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	num := func(k string, def int) int {
		if f, ok := m[k].(float64); ok {
			return int(f) // upstream truncates the float the same way
		}
		return def
	}
	c.host, c.hostKey, c.agentSocketPath = str("host"), str("hostKey"), str("agentSocketPath")
	c.password, c.privateKey, c.privateKeyPassword = str("password"), str("privateKey"), str("privateKeyPassword")
	if u := str("user"); u != "" {
		c.user = u
	}
	c.port = num("port", c.port)
	c.dialErrorLimit = num("dialErrorLimit", c.dialErrorLimit)
	c.perDialTimeout = time.Duration(num("perDialTimeout", 15)) * time.Second
	if c.host == "" {
		return c, errors.New("connection.host is required")
	}
	if c.hostKey == "" {
		return c, errors.New("connection.hostKey is required: this provider never trusts a host key on first use")
	}
	if _, ok := m["proxy"]; ok {
		return c, errors.New("connection.proxy (a jump host) is not supported by this build of the command provider")
	}
	return c, nil
}

// clientConfig is upstream's SSHConfig: the pinned host key with the negotiation limited to its
// algorithm, then the login methods in upstream's order: private key, password (also answering
// keyboard-interactive), and the SSH agent whenever a socket is known. The returned closer
// releases the agent connection.
func (c connection) clientConfig() (*ssh.ClientConfig, func(), error) {
	pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.hostKey))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to parse host key: %w", err)
	}
	var auth []ssh.AuthMethod
	if c.privateKey != "" {
		var signer ssh.Signer
		if c.privateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.privateKey), []byte(c.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(c.privateKey))
		}
		if err != nil {
			return nil, nil, err // x/crypto's message names the problem, never the key
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if c.password != "" {
		auth = append(auth, ssh.Password(c.password), ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = c.password
				}
				return answers, nil
			}))
	}
	closeAgent := func() {}
	socket := c.agentSocketPath
	if socket == "" {
		socket = os.Getenv("SSH_AUTH_SOCK")
	}
	if socket != "" {
		// Upstream fails the operation at once when the agent cannot be reached.
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return nil, nil, err
		}
		closeAgent = func() { _ = conn.Close() }
		auth = append(auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return &ssh.ClientConfig{
		User: c.user,
		Auth: auth,
		// Only the pinned key's algorithm is offered, so a server with several host keys (TrueNAS
		// has RSA, ECDSA and ed25519) presents the pinned one. Upstream offers key.Type(), so an
		// RSA pin offers only ssh-rsa, which OpenSSH >= 8.8 refuses: the same failure here.
		HostKeyAlgorithms: []string{pinned.Type()},
		HostKeyCallback:   ssh.FixedHostKey(pinned),
		// Bounds the TCP connect only, as in upstream (x/crypto applies it to net.DialTimeout).
		Timeout: c.perDialTimeout,
	}, closeAgent, nil
}

// dial is upstream's dialWithRetry: every failure is retried (refused, timed out, a wrong host
// key, a failed login alike), dialErrorLimit+1 attempts in all (-1: no limit), waiting 100 ms
// growing by half each time up to 5 s, with a status line per failure.
func (c connection) dial(ctx context.Context, log engineLog, urn resource.URN) (*ssh.Client, func(), error) {
	cfg, closeAgent, err := c.clientConfig()
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	limit := strconv.Itoa(c.dialErrorLimit)
	if c.dialErrorLimit < 0 {
		limit = "inf"
	}
	delay := 100 * time.Millisecond
	for try := 0; ; try++ {
		client, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return client, closeAgent, nil
		}
		if c.dialErrorLimit > -1 && try+1 > c.dialErrorLimit {
			closeAgent()
			return nil, nil, fmt.Errorf("after %d failed attempts: %w", try, err)
		}
		_ = log.LogStatus(ctx, diag.Info, urn, fmt.Sprintf("Dial %d/%s failed: retrying", try+1, limit))
		select {
		case <-ctx.Done():
			closeAgent()
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 5*time.Second)
	}
}

// remote runs a script over one SSH session the way upstream's remote run() does: environment
// variables as SSH "env" requests (a refusal fails the command before it runs; OpenSSH refuses
// every name not in AcceptEnv), the previous outputs the same way (a refusal is only a warning),
// then the script text as the exec request, verbatim, through the user's login shell. Like
// upstream, a running command is not interrupted when the operation is cancelled.
func (r runner) remote(ctx context.Context, cmd string) (*scriptResult, error) {
	conn, err := parseConnection(r.inputs)
	if err != nil {
		return nil, err
	}
	client, closeAgent, err := conn.dial(ctx, r.log, r.urn)
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	defer session.Close()

	for _, kv := range r.environment() {
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			_ = r.log.Log(ctx, diag.Error, r.urn, setenvRefused(kv[0]))
			return nil, fmt.Errorf("could not set environment variable %q: %w", kv[0], err)
		}
	}
	for _, kv := range r.previousOutputEnv() {
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			_ = r.log.Log(ctx, diag.Warning, r.urn, setenvRefused(kv[0]))
		}
	}
	if in := r.stdin(); in != nil {
		session.Stdin = in
	}
	out := r.newCapture(ctx)
	session.Stdout, session.Stderr = out.stdoutWriter(), out.stderrWriter()
	return out.finish(cmd, session.Run(cmd))
}
