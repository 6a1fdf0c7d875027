package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// runLocal runs one of the create/update/delete scripts on this machine: through `/bin/sh -c`
// (or the given interpreter), in `dir`, with `environment` added and `stdin` attached.
func runLocal(ctx context.Context, inputs resource.PropertyMap, which string) (*scriptResult, error) {
	v, ok := inputs[resource.PropertyKey(which)]
	if !ok || !v.IsString() || v.StringValue() == "" {
		return &scriptResult{}, nil
	}
	interpreter := []string{"/bin/sh", "-c"}
	if i, ok := inputs["interpreter"]; ok && i.IsArray() && len(i.ArrayValue()) > 0 {
		interpreter = interpreter[:0]
		for _, x := range i.ArrayValue() {
			interpreter = append(interpreter, x.StringValue())
		}
	}
	cmd := exec.CommandContext(ctx, interpreter[0], append(interpreter[1:], v.StringValue())...)
	if d, ok := inputs["dir"]; ok && d.IsString() {
		cmd.Dir = d.StringValue()
	}
	cmd.Env = os.Environ()
	if env, ok := inputs["environment"]; ok && env.IsObject() {
		m := env.ObjectValue().Mappable()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%v", k, m[k]))
		}
	}
	if in, ok := inputs["stdin"]; ok && in.IsString() {
		cmd.Stdin = strings.NewReader(in.StringValue())
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s script failed: %w: %s", which, err, strings.TrimSpace(stderr.String()))
	}
	return &scriptResult{stdout: strings.TrimSuffix(stdout.String(), "\n"), stderr: strings.TrimSuffix(stderr.String(), "\n")}, nil
}
