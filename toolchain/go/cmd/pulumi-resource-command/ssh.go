package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
)

type scriptResult struct {
	stdout, stderr string
}

// connection is the `connection` input, as far as this provider supports it.
type connection struct {
	host, user, password, privateKey, privateKeyPassword, hostKey string
	port, dialErrorLimit                                          int
	perDialTimeout                                                time.Duration
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
			return int(f)
		}
		return def
	}
	c.host, c.hostKey = str("host"), str("hostKey")
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
	return c, nil
}

func (c connection) clientConfig() (*ssh.ClientConfig, error) {
	pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.hostKey))
	if err != nil {
		return nil, fmt.Errorf("connection.hostKey: %w", err)
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
			// Never include the key in the message.
			return nil, errors.New("connection.privateKey: not a private key in a format ssh understands")
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if c.password != "" {
		auth = append(auth, ssh.Password(c.password))
	}
	return &ssh.ClientConfig{
		User:            c.user,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(pinned),
		Timeout:         c.perDialTimeout,
	}, nil
}

// dial retries refused or timed-out connections (a NAS rebooting), never a wrong host key or a
// failed authentication.
func (c connection) dial(ctx context.Context) (*ssh.Client, error) {
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	var lastErr error
	for attempt := 1; attempt <= max(1, c.dialErrorLimit); attempt++ {
		client, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return client, nil
		}
		lastErr = err
		var netErr net.Error
		if !errors.As(err, &netErr) && !strings.Contains(err.Error(), "connection refused") {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("ssh %s@%s: %w", c.user, addr, lastErr)
}

// runScript runs one of the create/update/delete scripts in a single SSH session, with the
// environment exported first (sshd's AcceptEnv would drop most names) and stdin attached.
func runScript(ctx context.Context, inputs resource.PropertyMap, which string) (*scriptResult, error) {
	v, ok := inputs[resource.PropertyKey(which)]
	if !ok || !v.IsString() || v.StringValue() == "" {
		return &scriptResult{}, nil
	}
	conn, err := parseConnection(inputs)
	if err != nil {
		return nil, err
	}
	client, err := conn.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("ssh session: %w", err)
	}
	defer session.Close()

	var script strings.Builder
	for _, kv := range environment(inputs) {
		fmt.Fprintf(&script, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	script.WriteString(v.StringValue())

	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	if in, ok := inputs["stdin"]; ok && in.IsString() {
		session.Stdin = strings.NewReader(in.StringValue())
	}
	done := make(chan error, 1)
	go func() { done <- session.Run(script.String()) }()
	select {
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		return nil, ctx.Err()
	case err := <-done:
		res := &scriptResult{stdout: strings.TrimSuffix(stdout.String(), "\n"), stderr: strings.TrimSuffix(stderr.String(), "\n")}
		if err != nil {
			return nil, fmt.Errorf("%s script failed: %w: %s", which, err, strings.TrimSpace(stderr.String()))
		}
		return res, nil
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
