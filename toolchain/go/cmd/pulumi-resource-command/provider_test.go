package main

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

const remoteURN = "urn:pulumi:lab::homelab::command:remote:Command::ds"
const localURN = "urn:pulumi:lab::homelab::command:local:Command::up"

func toStruct(t *testing.T, m map[string]interface{}) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(resource.NewPropertyMapFromMap(m), marshal)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func conn(hostKey string) map[string]interface{} {
	return map[string]interface{}{"host": "127.0.10.3", "port": 2222.0, "user": "csi", "hostKey": hostKey, "privateKey": "k"}
}

func TestCheckRefusesAnUnpinnedHostKey(t *testing.T) {
	p := &provider{}
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: remoteURN,
		News: toStruct(t, map[string]interface{}{"connection": conn(""), "create": "true"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || resp.Failures[0].Property != "connection.hostKey" {
		t.Fatalf("want one failure on connection.hostKey, got %v", resp.Failures)
	}
}

func TestDiffUpdatesInPlaceAndReplacesOnlyOnTriggers(t *testing.T) {
	p := &provider{}
	old := map[string]interface{}{"connection": conn("ssh-ed25519 AAAA"), "create": "a", "environment": map[string]interface{}{"G": "0"}}
	cases := []struct {
		name     string
		edit     func(map[string]interface{})
		changes  pulumirpc.DiffResponse_DiffChanges
		replaces []string
	}{
		{"nothing", func(map[string]interface{}) {}, pulumirpc.DiffResponse_DIFF_NONE, nil},
		{"script", func(m map[string]interface{}) { m["create"] = "b" }, pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"environment", func(m map[string]interface{}) { m["environment"] = map[string]interface{}{"G": "1"} }, pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"triggers", func(m map[string]interface{}) { m["triggers"] = []interface{}{"x"} }, pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"}},
	}
	for _, c := range cases {
		news := map[string]interface{}{}
		for k, v := range old {
			news[k] = v
		}
		c.edit(news)
		resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: remoteURN,
			OldInputs: toStruct(t, old), Olds: toStruct(t, old), News: toStruct(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Changes != c.changes || len(resp.Replaces) != len(c.replaces) {
			t.Errorf("%s: changes %v replaces %v", c.name, resp.Changes, resp.Replaces)
		}
	}
}

func TestLocalCommandGetsEnvironmentAndStdin(t *testing.T) {
	inputs := resource.NewPropertyMapFromMap(map[string]interface{}{
		"update":      `printf '%s:' "$TALOS_VERSION"; cat`,
		"environment": map[string]interface{}{"TALOS_VERSION": "v1.11.6"},
		"stdin":       "secret-from-stdin",
	})
	res, err := run(context.Background(), localURN, inputs, "update")
	if err != nil {
		t.Fatal(err)
	}
	if res.stdout != "v1.11.6:secret-from-stdin" {
		t.Fatalf("stdout %q", res.stdout)
	}
}

func TestOutputsNeverCarryConnectionSecrets(t *testing.T) {
	outs, err := plugin.UnmarshalProperties(outputs(resource.NewPropertyMapFromMap(map[string]interface{}{"connection": conn("ssh-ed25519 AAAA")}),
		&scriptResult{stdout: "ok"}), marshal)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := outs["connection"].ObjectValue()["privateKey"]; ok {
		t.Fatal("privateKey echoed into outputs")
	}
}
