package main

import (
	"context"
	"os"
	"os/exec"
)

// local runs a script on this machine as upstream's local/commandOutputs.go does: through
// `/bin/sh -c` (or the given interpreter), in `dir` (default: the plugin's working directory),
// with this process's environment plus `environment` and the previous outputs, stdin attached
// when not empty. Unlike a remote command, it is killed when the operation is cancelled.
func (r runner) local(ctx context.Context, cmdText string) (*scriptResult, error) {
	interpreter := []string{"/bin/sh", "-c"}
	if i, ok := r.inputs["interpreter"]; ok && i.IsArray() && len(i.ArrayValue()) > 0 {
		interpreter = interpreter[:0]
		for _, x := range i.ArrayValue() {
			interpreter = append(interpreter, x.StringValue())
		}
	}
	cmd := exec.CommandContext(ctx, interpreter[0], append(interpreter[1:], cmdText)...)
	if d, ok := r.inputs["dir"]; ok && d.IsString() && d.StringValue() != "" {
		cmd.Dir = d.StringValue()
	}
	cmd.Env = os.Environ()
	for _, kv := range append(r.environment(), r.previousOutputEnv()...) {
		cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
	}
	cmd.Stdin = r.stdin()
	out := r.newCapture(ctx)
	cmd.Stdout, cmd.Stderr = out.stdoutWriter(), out.stderrWriter()
	return out.finish(cmdText, cmd.Run())
}
