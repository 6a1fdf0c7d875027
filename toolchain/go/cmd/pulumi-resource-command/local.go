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
	for _, kv := range environment(inputs) {
		cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
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

// environment is the `environment` input as name/value pairs, sorted by name.
func environment(inputs resource.PropertyMap) [][2]string {
	env, ok := inputs["environment"]
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
