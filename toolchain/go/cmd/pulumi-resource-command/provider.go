package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"
	"strings"

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

// The one input whose change replaces the resource (upstream common/inputs.go: `triggers` is the
// only replaceOnChanges input; the SDKs add `triggers[*]` so element changes replace too).
const replaceInput = "triggers"

// Connection defaults, applied at Check and so stored in state, as upstream's
// remote/connection.go declares them (user root, port 22, dialErrorLimit 10, perDialTimeout 15).
var connectionDefaults = map[string]resource.PropertyValue{
	"user":           resource.NewStringProperty("root"),
	"port":           resource.NewNumberProperty(22),
	"dialErrorLimit": resource.NewNumberProperty(10),
	"perDialTimeout": resource.NewNumberProperty(15),
}

// The values of `logging` (upstream remote/logging.go).
var loggingValues = []string{"stdout", "stderr", "stdoutAndStderr", "none"}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	log engineLog
}

// Secrets arrive unwrapped (Configure does not accept secrets); the engine marks outputs secret
// where the matching inputs were (annotateSecrets), and the SDK marks `connection` secret as a
// whole (additionalSecretOutputs). Unknowns are kept so previews work.
var marshal = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}

func props(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, marshal)
}

func toStruct(m resource.PropertyMap) *structpb.Struct {
	s, err := plugin.MarshalProperties(m, marshal)
	if err != nil {
		panic(err) // our own property map: cannot fail to marshal
	}
	return s
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

// Check validates the inputs and fills in the connection's defaults, which are then stored in
// state like upstream's. It is stricter than upstream where upstream would run differently from
// what the program asked for: no host key, a jump host, or an unknown logging value.
func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	fail := func(property, reason string) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: property, Reason: reason})
	}
	if l, ok := news["logging"]; ok && l.IsString() && !contains(loggingValues, l.StringValue()) {
		fail("logging", fmt.Sprintf("logging %q is not one of %s", l.StringValue(), strings.Join(loggingValues, ", ")))
	}
	if resource.URN(req.GetUrn()).Type() == remoteCommand {
		conn, ok := news["connection"]
		switch {
		case !ok || conn.IsNull():
			fail("connection", "connection is required")
		case conn.IsObject():
			c := conn.ObjectValue().Copy()
			if h, ok := c["host"]; !ok || h.IsNull() || (h.IsString() && h.StringValue() == "") {
				fail("connection.host", "connection.host is required")
			}
			if hk, ok := c["hostKey"]; !ok || hk.IsNull() || (hk.IsString() && hk.StringValue() == "") {
				fail("connection.hostKey", "connection.hostKey is required: this provider never trusts a host key on first use")
			}
			if px, ok := c["proxy"]; ok && !px.IsNull() {
				fail("connection.proxy", "connection.proxy (a jump host) is not supported by this build of the command provider: connect to the host directly")
			}
			for k, v := range connectionDefaults {
				if cur, ok := c[resource.PropertyKey(k)]; !ok || cur.IsNull() {
					c[resource.PropertyKey(k)] = v
				}
			}
			news["connection"] = resource.NewObjectProperty(c)
		}
	}
	return &pulumirpc.CheckResponse{Inputs: toStruct(news), Failures: failures}, nil
}

// Diff compares old and new inputs: a change to `triggers` replaces the resource, every other
// change updates it in place (upstream: infer's default diff, with `triggers` the only
// replaceOnChanges input). `version` and `__` keys are the engine's, never compared.
func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
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
	keys := map[string]bool{}
	for k := range olds {
		keys[string(k)] = true
	}
	for k := range news {
		keys[string(k)] = true
	}
	resp := &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true,
		DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	for key := range keys {
		if key == "version" || strings.HasPrefix(key, "__") || key == "stdout" || key == "stderr" {
			continue
		}
		o, n := olds[resource.PropertyKey(key)], news[resource.PropertyKey(key)]
		if equal(o, n) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		if key == replaceInput {
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

// Create runs `create` (nothing, and no connection, when it is unset). A failed create records
// no resource.
func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	inputs, err := props(req.GetProperties())
	if err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	// Upstream's id: the resource name and 8 random hex digits (resource.NewUniqueHex(name, 8, 0)).
	id := urn.Name() + randomHex(4)
	if req.GetPreview() {
		return &pulumirpc.CreateResponse{Id: id, Properties: outputs(inputs, nil)}, nil
	}
	res, err := p.run(ctx, urn, inputs, script(inputs, "create"), &scriptResult{})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: outputs(inputs, res)}, nil
}

// Update runs `update`, or `create` when `update` is unset, with the new inputs and the previous
// outputs (PULUMI_COMMAND_STDOUT/STDERR). A failed update keeps the old state.
func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return &pulumirpc.UpdateResponse{Properties: outputs(news, nil)}, nil
	}
	olds, err := props(req.GetOlds())
	if err != nil {
		return nil, err
	}
	cmd := script(news, "update")
	if cmd == "" {
		cmd = script(news, "create")
	}
	res, err := p.run(ctx, resource.URN(req.GetUrn()), news, cmd, previousOutputs(olds))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: outputs(news, res)}, nil
}

// Delete runs `delete` with the stored state: the connection the resource was made with, and its
// last outputs.
func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := props(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if cmd := script(state, "delete"); cmd != "" {
		if _, err := p.run(ctx, resource.URN(req.GetUrn()), state, cmd, previousOutputs(state)); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// Read returns the recorded state: a command has nothing on the remote side to read back.
func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// run dispatches to the SSH or the local runner by the resource's type. An empty script runs
// nothing and opens no connection; the previous outputs stay.
func (p *provider) run(ctx context.Context, urn resource.URN, inputs resource.PropertyMap, cmd string, previous *scriptResult) (*scriptResult, error) {
	if cmd == "" {
		return previous, nil
	}
	r := runner{log: p.log, urn: urn, inputs: inputs, previous: previous}
	if urn.Type() == localCommand {
		return r.local(ctx, cmd)
	}
	return r.remote(ctx, cmd)
}

func script(inputs resource.PropertyMap, which string) string {
	if v, ok := inputs[resource.PropertyKey(which)]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

func previousOutputs(state resource.PropertyMap) *scriptResult {
	return &scriptResult{stdout: script(state, "stdout"), stderr: script(state, "stderr")}
}

// outputs are the inputs (the connection included: the SDK keeps it secret, and the engine keeps
// its secret fields secret) plus stdout and stderr; unknown in a preview, where nothing runs.
func outputs(inputs resource.PropertyMap, res *scriptResult) *structpb.Struct {
	outs := inputs.Copy()
	if res == nil {
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		outs["stdout"] = resource.NewStringProperty(res.stdout)
		outs["stderr"] = resource.NewStringProperty(res.stderr)
	}
	return toStruct(outs)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
