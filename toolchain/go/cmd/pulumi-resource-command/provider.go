package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	remoteCommand = "command:remote:Command"
	localCommand  = "command:local:Command"
)

// Inputs whose change re-runs the command (update), and the one whose change replaces it.
var (
	updateInputs  = []string{"connection", "create", "update", "delete", "environment", "stdin", "logging", "addPreviousOutputInEnv", "dir", "interpreter"}
	replaceInputs = []string{"triggers"}
)

// Connection fields that are secrets: used to connect, never echoed into outputs.
var connectionSecrets = []string{"privateKey", "password", "privateKeyPassword"}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

// Secrets arrive unwrapped (we do not accept secret values) and the engine marks outputs secret
// where the matching inputs were; unknowns are kept so previews work.
var marshal = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}

func props(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, marshal)
}

func (p *provider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{}, nil
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"command","version":%q}`, version)}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{SupportsPreview: true}, nil
}

func checkType(urn string) error {
	if t := resource.URN(urn).Type(); t != remoteCommand && t != localCommand {
		return status.Errorf(codes.InvalidArgument, "%s: this build of the command provider implements only %s and %s", t, remoteCommand, localCommand)
	}
	return nil
}

// run dispatches to the SSH or the local runner by the resource's type.
func run(ctx context.Context, urn string, inputs resource.PropertyMap, which string) (*scriptResult, error) {
	if resource.URN(urn).Type() == localCommand {
		return runLocal(ctx, inputs, which)
	}
	return runScript(ctx, inputs, which)
}

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	if resource.URN(req.GetUrn()).Type() == localCommand {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
	}
	if conn, ok := news["connection"]; !ok || !conn.IsObject() && !conn.IsComputed() {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "connection", Reason: "connection is required"})
	} else if conn.IsObject() {
		hk, ok := conn.ObjectValue()["hostKey"]
		if !ok || hk.IsNull() || (hk.IsString() && hk.StringValue() == "") {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "connection.hostKey",
				Reason: "connection.hostKey is required: this provider never trusts a host key on first use"})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	// Compare against the old inputs: outputs do not carry the connection's secrets.
	oldStruct := req.GetOldInputs()
	if oldStruct == nil {
		oldStruct = req.GetOlds()
	}
	olds, err := props(oldStruct)
	if err != nil {
		return nil, err
	}
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true,
		DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	for _, key := range append(append([]string{}, updateInputs...), replaceInputs...) {
		o, n := olds[resource.PropertyKey(key)], news[resource.PropertyKey(key)]
		if equal(o, n) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		if contains(replaceInputs, key) {
			kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
			resp.Replaces = append(resp.Replaces, key)
		}
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.Diffs = append(resp.Diffs, key)
		resp.DetailedDiff[key] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	sort.Strings(resp.Diffs)
	return resp, nil
}

func equal(a, b resource.PropertyValue) bool {
	if a.ContainsUnknowns() || b.ContainsUnknowns() {
		return false
	}
	return reflect.DeepEqual(a.Mappable(), b.Mappable())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	inputs, err := props(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id := newID()
	if req.GetPreview() {
		return &pulumirpc.CreateResponse{Id: id, Properties: outputs(inputs, nil)}, nil
	}
	res, err := run(ctx, req.GetUrn(), inputs, "create")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: outputs(inputs, res)}, nil
}

func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return &pulumirpc.UpdateResponse{Properties: outputs(news, nil)}, nil
	}
	script := "update"
	if v, ok := news["update"]; !ok || v.IsNull() {
		script = "create"
	}
	res, err := run(ctx, req.GetUrn(), news, script)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: outputs(news, res)}, nil
}

func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	// The old inputs hold the connection's secrets; outputs do not.
	state := req.GetOldInputs()
	if state == nil {
		state = req.GetProperties()
	}
	inputs, err := props(state)
	if err != nil {
		return nil, err
	}
	if v, ok := inputs["delete"]; ok && v.IsString() && v.StringValue() != "" {
		if _, err := run(ctx, req.GetUrn(), inputs, "delete"); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// Read returns the recorded state: a command has nothing on the remote side to read back.
func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// outputs are the inputs (less the connection's secrets) plus stdout and stderr; unknown in a
// preview, where nothing runs.
func outputs(inputs resource.PropertyMap, res *scriptResult) *structpb.Struct {
	outs := inputs.Copy()
	if conn, ok := outs["connection"]; ok && conn.IsObject() {
		c := conn.ObjectValue().Copy()
		for _, k := range connectionSecrets {
			delete(c, resource.PropertyKey(k))
		}
		outs["connection"] = resource.NewObjectProperty(c)
	}
	if res == nil {
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		outs["stdout"] = resource.NewStringProperty(res.stdout)
		outs["stderr"] = resource.NewStringProperty(res.stderr)
	}
	s, err := plugin.MarshalProperties(outs, marshal)
	if err != nil {
		panic(err) // our own property map: cannot fail to marshal
	}
	return s
}

func newID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
