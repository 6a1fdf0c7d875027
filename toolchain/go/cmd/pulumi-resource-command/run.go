package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The previous run's outputs, as upstream hands them to the next update or delete
// (upstream util/util.go).
const (
	previousStdoutVar = "PULUMI_COMMAND_STDOUT"
	previousStderrVar = "PULUMI_COMMAND_STDERR"
)

type scriptResult struct {
	stdout, stderr string
}

// runner runs one script of one resource, local or remote, the way upstream's run() does in
// remote/commandOutputs.go and local/commandOutputs.go.
type runner struct {
	log      engineLog
	urn      resource.URN
	inputs   resource.PropertyMap
	previous *scriptResult
}

// environment is the `environment` input as name/value pairs, sorted by name.
func (r runner) environment() [][2]string {
	env, ok := r.inputs["environment"]
	if !ok || !env.IsObject() {
		return nil
	}
	m := env.ObjectValue().Mappable()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([][2]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, [2]string{k, fmt.Sprint(m[k])})
	}
	return pairs
}

// previousOutputEnv is PULUMI_COMMAND_STDOUT/STDERR from the previous run, each only when it is
// not empty, unless `addPreviousOutputInEnv` is false (unset means true).
func (r runner) previousOutputEnv() [][2]string {
	if v, ok := r.inputs["addPreviousOutputInEnv"]; ok && v.IsBool() && !v.BoolValue() {
		return nil
	}
	var env [][2]string
	if r.previous.stdout != "" {
		env = append(env, [2]string{previousStdoutVar, r.previous.stdout})
	}
	if r.previous.stderr != "" {
		env = append(env, [2]string{previousStderrVar, r.previous.stderr})
	}
	return env
}

// setenvRefused is upstream's diagnostic when the SSH server refuses a variable
// (remote/commandOutputs.go, logAndWrapSetenvErr), word for word.
func setenvRefused(key string) string {
	return fmt.Sprintf("Unable to set '%s'. This only works if your SSH server is configured to accept\n"+
		"\tthese variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could\n"+
		"\tprefix the command itself with the variables in the form 'VAR=value command'", key)
}

// logged says which streams are sent to the engine line by line (`logging`; unset means both).
// It never changes what is captured as outputs.
func (r runner) logged() (stdout, stderr bool) {
	l, ok := r.inputs["logging"]
	if !ok || !l.IsString() {
		return true, true
	}
	switch l.StringValue() {
	case "stdout":
		return true, false
	case "stderr":
		return false, true
	case "stdoutAndStderr":
		return true, true
	}
	return false, false
}

func (r runner) stdin() io.Reader {
	// Upstream attaches stdin only when it is not empty.
	if in, ok := r.inputs["stdin"]; ok && in.IsString() && in.StringValue() != "" {
		return strings.NewReader(in.StringValue())
	}
	return nil
}

// capture collects a script's stdout and stderr, each alone and both in arrival order (for the
// error message), and streams the logged ones to the engine as status lines.
type capture struct {
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	combined       bytes.Buffer
	outLines       *statusLines
	errLines       *statusLines
}

func (r runner) newCapture(ctx context.Context) *capture {
	logOut, logErr := r.logged()
	c := &capture{}
	if logOut {
		c.outLines = &statusLines{ctx: ctx, log: r.log, urn: r.urn}
	}
	if logErr {
		c.errLines = &statusLines{ctx: ctx, log: r.log, urn: r.urn}
	}
	return c
}

func (c *capture) stream(own *bytes.Buffer, lines *statusLines) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		own.Write(b)
		c.combined.Write(b)
		if lines != nil {
			lines.write(b)
		}
		return len(b), nil
	})
}

func (c *capture) stdoutWriter() io.Writer { return c.stream(&c.stdout, c.outLines) }
func (c *capture) stderrWriter() io.Writer { return c.stream(&c.stderr, c.errLines) }

// finish flushes partial log lines and returns the outputs (exactly one trailing newline trimmed,
// as upstream), or the error upstream reports: the cause, the command, and everything it printed.
func (c *capture) finish(cmd string, err error) (*scriptResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outLines.flush()
	c.errLines.flush()
	if err != nil {
		return nil, fmt.Errorf("%w: running %q:\n%s", err, cmd, c.combined.String())
	}
	return &scriptResult{
		stdout: strings.TrimSuffix(c.stdout.String(), "\n"),
		stderr: strings.TrimSuffix(c.stderr.String(), "\n"),
	}, nil
}

// statusLines sends complete lines to the engine's progress display. Unlike upstream's
// bufio.Scanner it has no line-length limit that could stall the command.
type statusLines struct {
	ctx     context.Context
	log     engineLog
	urn     resource.URN
	partial []byte
}

func (s *statusLines) write(b []byte) {
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return
		}
		_ = s.log.LogStatus(s.ctx, diag.Info, s.urn, string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
}

func (s *statusLines) flush() {
	if s != nil && len(s.partial) > 0 {
		_ = s.log.LogStatus(s.ctx, diag.Info, s.urn, string(s.partial))
		s.partial = nil
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
