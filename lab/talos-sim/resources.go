package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/meta"
	"github.com/cosi-project/runtime/pkg/safe"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/impl/inmem"
	"github.com/cosi-project/runtime/pkg/state/impl/namespaced"
	"github.com/cosi-project/runtime/pkg/state/registry"
	"github.com/siderolabs/talos/pkg/machinery/config"
	configres "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// nodeResources is the part of the node's COSI resource state the simulator serves over the
// resource API (cosi.resource.State), what `talosctl get` reads: the MachineConfig resources
// (namespace config, ids "v1alpha1", the running config, and "persistent", the config saved
// for the next boot, ahead of the running one after a staged apply), their resource
// definitions and namespaces. Talos keeps many more resources; the simulator serves these.
type nodeResources struct {
	st state.State
}

func newNodeResources() (*nodeResources, error) {
	ctx := context.Background()
	st := state.WrapCore(namespaced.NewState(inmem.Build))

	// The meta namespace and the definitions of namespaces and resource definitions, as
	// cosi-runtime registers them, then what Talos registers for the served resources
	// (internal/app/machined/pkg/runtime/v1alpha2/v1alpha2_state.go).
	namespaces, definitions := registry.NewNamespaceRegistry(st), registry.NewResourceRegistry(st)

	if err := namespaces.RegisterDefault(ctx); err != nil {
		return nil, err
	}

	if err := definitions.RegisterDefault(ctx); err != nil {
		return nil, err
	}

	if err := namespaces.Register(ctx, configres.NamespaceName, "Talos node configuration."); err != nil {
		return nil, err
	}

	if err := definitions.Register(ctx, &configres.MachineConfig{}); err != nil {
		return nil, err
	}

	return &nodeResources{st: st}, nil
}

// setMachineConfig publishes cfg as the persistent MachineConfig and, when running, as the
// running one too (an apply that takes effect, or the config a start loaded).
func (r *nodeResources) setMachineConfig(cfg config.Provider, running bool) error {
	ids := []resource.ID{configres.PersistentID}
	if running {
		ids = append(ids, configres.ActiveID)
	}

	for _, id := range ids {
		if err := r.put(configres.NewMachineConfigWithID(cfg, id)); err != nil {
			return err
		}
	}

	return nil
}

// put creates res or replaces the resource of that id, bumping its version.
func (r *nodeResources) put(res resource.Resource) error {
	ctx := context.Background()

	existing, err := r.st.Get(ctx, res.Metadata())

	switch {
	case state.IsNotFoundError(err):
		return r.st.Create(ctx, res)
	case err != nil:
		return err
	}

	res.Metadata().SetVersion(existing.Metadata().Version())

	return r.st.Update(ctx, res)
}

// served is the state behind the resource API: read-only, filtered by Talos's access policy.
func (r *nodeResources) served() state.CoreState { //nolint:ireturn
	return state.Filter(r.st, r.accessPolicy)
}

// accessPolicy mirrors Talos v1.11.5's filter on the resource API (internal/app/resources/
// access.go AccessPolicy): no writes; a type without a resource definition, or a namespace
// that does not exist, is refused; a Sensitive type (MachineConfig is one: it carries every
// cluster secret) needs role os:admin, whatever the RPC's own rule let through (Get, List and
// Watch are open to os:reader, see interceptors.go).
func (r *nodeResources) accessPolicy(ctx context.Context, access state.Access) error {
	if !access.Verb.Readonly() {
		return status.Error(codes.PermissionDenied, "write access is not allowed")
	}

	rd, err := safe.StateGet[*meta.ResourceDefinition](ctx, r.st,
		resource.NewMetadata(meta.NamespaceName, meta.ResourceDefinitionType, strings.ToLower(access.ResourceType), resource.VersionUndefined))
	if err != nil {
		if state.IsNotFoundError(err) {
			return status.Error(codes.PermissionDenied, fmt.Sprintf("resource type %q is not supported", access.ResourceType))
		}

		return err
	}

	roles, _ := peerRoles(ctx)

	switch rd.TypedSpec().Sensitivity {
	case meta.Sensitive:
		if !roles.Includes(role.Admin) {
			return status.Error(codes.PermissionDenied, "not authorized") // Talos's authz.ErrNotAuthorized
		}
	case meta.NonSensitive:
	default:
		return fmt.Errorf("unexpected sensitivity %q", rd.TypedSpec().Sensitivity)
	}

	_, err = safe.StateGet[*meta.Namespace](ctx, r.st,
		resource.NewMetadata(meta.NamespaceName, meta.NamespaceType, access.ResourceNamespace, resource.VersionUndefined))
	if err != nil {
		if state.IsNotFoundError(err) {
			return status.Error(codes.PermissionDenied, fmt.Sprintf("namespace %q is not supported", access.ResourceNamespace))
		}

		return err
	}

	return nil
}
