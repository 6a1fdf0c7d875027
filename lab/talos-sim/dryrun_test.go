package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/state"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	configres "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc/codes"
)

// patchedConfig is the cluster's config with edit applied, encoded as the stack sends it.
func (c *testCluster) patchedConfig(t *testing.T, edit func(*v1alpha1.Config)) []byte {
	t.Helper()

	patched, err := c.config.PatchV1Alpha1(func(cfg *v1alpha1.Config) error {
		edit(cfg)

		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	data, err := patched.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}

	return data
}

// machineConfig reads a MachineConfig resource through the resource API, as `talosctl get mc`.
func machineConfig(ctx context.Context, c *client.Client, id resource.ID) ([]byte, resource.Version, error) {
	r, err := c.COSI.Get(ctx, resource.NewMetadata(configres.NamespaceName, configres.MachineConfigType, id, resource.VersionUndefined))
	if err != nil {
		return nil, resource.Version{}, err
	}

	mc, ok := r.(*configres.MachineConfig)
	if !ok {
		return nil, resource.Version{}, nil
	}

	data, err := mc.Container().Bytes()

	return data, r.Metadata().Version(), err
}

// TestDryRunLikeTalos: ApplyConfiguration with dry_run answers as Talos v1.11.5 does
// (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go ApplyConfiguration and
// generateDiff; internal/app/maintenance/server.go), with a real diff against the running
// config, and changes nothing on the node.
func TestDryRunLikeTalos(t *testing.T) {
	const ip = "127.0.21.233"

	cluster := newTestCluster(t, "https://"+ip+":6443")
	sim := startSim(t, ip, Options{StateDir: t.TempDir(), SkipControlPlane: true})

	apply := func(c *client.Client, data []byte, mode machineapi.ApplyConfigurationRequest_Mode, dryRun bool) (*machineapi.ApplyConfiguration, error) {
		resp, err := c.ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{Data: data, Mode: mode, DryRun: dryRun})
		if err != nil {
			return nil, err
		}

		return resp.GetMessages()[0], nil
	}

	t.Run("maintenance mode: the fixed summary, no mode", func(t *testing.T) {
		msg, err := apply(insecureClient(t, ip), cluster.configBytes, machineapi.ApplyConfigurationRequest_AUTO, true)
		if err != nil {
			t.Fatal(err)
		}

		if msg.GetModeDetails() != "Dry run summary:\nNode is running in maintenance mode and does not have a config yet." ||
			msg.GetMode() != machineapi.ApplyConfigurationRequest_REBOOT { // unset: the enum's zero
			t.Errorf("mode %v, details %q", msg.GetMode(), msg.GetModeDetails())
		}

		if sim.node() != nil {
			t.Fatal("the dry run configured the node")
		}
	})

	if _, err := apply(insecureClient(t, ip), cluster.configBytes, machineapi.ApplyConfigurationRequest_AUTO, false); err != nil {
		t.Fatal(err)
	}

	admin := mtlsClient(t, ip, cluster.talosconfig)

	savedBefore, _ := os.ReadFile(sim.state.path(configFile))    //nolint:errcheck
	versionBefore, _ := os.ReadFile(sim.state.path(versionFile)) //nolint:errcheck

	_, activeBefore, err := machineConfig(rpcCtx(t), admin, configres.ActiveID)
	if err != nil {
		t.Fatal(err)
	}

	hostname := cluster.patchedConfig(t, func(c *v1alpha1.Config) { c.MachineConfig.MachineNetwork.NetworkHostname = "takeover-1" })
	env := cluster.patchedConfig(t, func(c *v1alpha1.Config) {
		c.MachineConfig.MachineEnv = v1alpha1.Env{"GRPC_GO_LOG_SEVERITY_LEVEL": "info"}
	})

	// configdiff's hunk for the hostname: `network: {}` becomes a mapping with the hostname.
	const hostnameHunk = "-    network: {}\n+    network:\n+        hostname: takeover-1\n"

	for _, tt := range []struct {
		name string
		data []byte
		mode machineapi.ApplyConfigurationRequest_Mode
		want machineapi.ApplyConfigurationRequest_Mode
		head string // the mode details up to the diff
		diff string // a part of the diff
	}{
		{"auto, a change applied live: no-reboot", hostname, machineapi.ApplyConfigurationRequest_AUTO, machineapi.ApplyConfigurationRequest_NO_REBOOT,
			"Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n@@ ", hostnameHunk},
		{"auto, a change that needs a reboot: reboot", env, machineapi.ApplyConfigurationRequest_AUTO, machineapi.ApplyConfigurationRequest_REBOOT,
			"Dry run summary:\nApplied configuration with a reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n@@ ", "+        GRPC_GO_LOG_SEVERITY_LEVEL: info\n"},
		{"staged", env, machineapi.ApplyConfigurationRequest_STAGED, machineapi.ApplyConfigurationRequest_STAGED,
			"Dry run summary:\nStaged configuration to be applied after the next reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n@@ ", "GRPC_GO_LOG_SEVERITY_LEVEL"},
		{"reboot", hostname, machineapi.ApplyConfigurationRequest_REBOOT, machineapi.ApplyConfigurationRequest_REBOOT,
			"Dry run summary:\nApplied configuration with a reboot (skipped in dry-run).\nConfig diff:\n\n--- a\n+++ b\n@@ ", hostnameHunk},
		{"the running config again", cluster.configBytes, machineapi.ApplyConfigurationRequest_AUTO, machineapi.ApplyConfigurationRequest_NO_REBOOT,
			"Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\nConfig diff:\n\nNo changes.", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := apply(admin, tt.data, tt.mode, true)
			if err != nil {
				t.Fatal(err)
			}

			details := msg.GetModeDetails()
			if msg.GetMode() != tt.want || !strings.HasPrefix(details, tt.head) || !strings.Contains(details, tt.diff) {
				t.Errorf("mode %v (want %v), details:\n%s", msg.GetMode(), tt.want, details)
			}

			if len(msg.GetWarnings()) != 0 {
				t.Errorf("Talos sends no warnings with a dry run's answer: %q", msg.GetWarnings())
			}
		})
	}

	t.Run("no-reboot with a change that needs a reboot is refused, with the diff", func(t *testing.T) {
		_, err := apply(admin, env, machineapi.ApplyConfigurationRequest_NO_REBOOT, true)
		assertCode(t, err, codes.InvalidArgument, "this config change can't be applied in immediate mode\ndiff:\n--- a\n+++ b\n",
			"+        GRPC_GO_LOG_SEVERITY_LEVEL: info")
	})

	t.Run("a configured node validates as installed, without the maintenance prefixes", func(t *testing.T) {
		noDisk := cluster.patchedConfig(t, func(c *v1alpha1.Config) { c.MachineConfig.MachineInstall.InstallDisk = "" })

		msg, err := apply(admin, noDisk, machineapi.ApplyConfigurationRequest_AUTO, true)
		if err != nil || !strings.Contains(msg.GetModeDetails(), "-        disk: /dev/sda") {
			t.Errorf("an installed node needs no install disk: %v", err)
		}

		_, err = apply(admin, []byte("machine: [unterminated"), machineapi.ApplyConfigurationRequest_AUTO, true)
		assertCode(t, err, codes.InvalidArgument)

		if strings.Contains(err.Error(), "failed to parse config") {
			t.Errorf("normal mode has no maintenance prefix: %v", err)
		}
	})

	t.Run("nothing changed on the node", func(t *testing.T) {
		saved, _ := os.ReadFile(sim.state.path(configFile))    //nolint:errcheck
		version, _ := os.ReadFile(sim.state.path(versionFile)) //nolint:errcheck

		if !bytes.Equal(saved, savedBefore) || !bytes.Equal(version, versionBefore) {
			t.Error("a dry run changed the saved config or the version")
		}

		if _, err := os.Stat(sim.state.path(stagedConfigFile)); !os.IsNotExist(err) {
			t.Errorf("a staged dry run staged the config (%v)", err)
		}

		data, active, err := machineConfig(rpcCtx(t), admin, configres.ActiveID)
		if err != nil || !active.Equal(activeBefore) || !bytes.Equal(data, cluster.configBytes) {
			t.Errorf("the MachineConfig resource changed: version %s -> %s (%v)", activeBefore, active, err)
		}

		if got := sim.rpcLines(methodApply, "OK"); got != 8 {
			t.Errorf("ApplyConfiguration OK lines = %d, want 8 (7 dry runs and the install)", got)
		}
	})

	t.Run("a real auto apply of a change that needs one reboots, and says why", func(t *testing.T) {
		msg, err := apply(admin, env, machineapi.ApplyConfigurationRequest_AUTO, false)
		if err != nil {
			t.Fatal(err)
		}

		if msg.GetMode() != machineapi.ApplyConfigurationRequest_REBOOT ||
			!strings.HasPrefix(msg.GetModeDetails(), "Applied configuration with a reboot: this config change can't be applied in immediate mode\ndiff:\n") {
			t.Errorf("mode %v, details %q", msg.GetMode(), msg.GetModeDetails())
		}

		if data, _, err := machineConfig(rpcCtx(t), admin, configres.ActiveID); err != nil || !bytes.Equal(data, env) {
			t.Errorf("the applied config is not the running one (%v)", err)
		}
	})
}

// TestMachineConfigResource: the resource API serves the MachineConfig resources as Talos
// does (`talosctl get mc`), to os:admin only (the type is Sensitive,
// internal/app/resources/access.go), with the persistent config running ahead after a staged
// apply until the next start.
func TestMachineConfigResource(t *testing.T) {
	const ip = "127.0.21.234"

	cluster := newTestCluster(t, "https://"+ip+":6443")
	stateDir := t.TempDir()
	sim := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})

	// restart stands for a reboot; the node outlives the subtest that restarts it.
	top := t
	restart := func() {
		sim.stop()
		sim = startSim(top, ip, Options{StateDir: stateDir, SkipControlPlane: true})
	}

	_, _, err := machineConfig(rpcCtx(t), insecureClient(t, ip), configres.ActiveID)
	assertCode(t, err, codes.Unimplemented, "maintenance mode")

	if _, err = insecureClient(t, ip).ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
		Data: cluster.configBytes, Mode: machineapi.ApplyConfigurationRequest_AUTO,
	}); err != nil {
		t.Fatal(err)
	}

	admin := mtlsClient(t, ip, cluster.talosconfig)

	for _, id := range []resource.ID{configres.ActiveID, configres.PersistentID} {
		data, _, err := machineConfig(rpcCtx(t), admin, id)
		if err != nil || !bytes.Equal(data, cluster.configBytes) {
			t.Errorf("MachineConfig %s: not the applied config (%v)", id, err)
		}
	}

	list, err := admin.COSI.List(rpcCtx(t), resource.NewMetadata(configres.NamespaceName, configres.MachineConfigType, "", resource.VersionUndefined))
	if err != nil || len(list.Items) != 2 {
		t.Errorf("list: %d items, %v", len(list.Items), err)
	}

	t.Run("what Talos refuses", func(t *testing.T) {
		for _, roles := range [][]role.Role{{role.Reader}, {role.Operator}, {role.EtcdBackup}} {
			_, _, err := machineConfig(rpcCtx(t), mtlsClient(t, ip, cluster.talosconfigWithRoles(t, roles...)), configres.ActiveID)

			want := "not authorized" // the access policy's
			if roles[0] == role.EtcdBackup {
				want = "needs role os:reader" // the RPC's rule, before the policy
			}

			assertCode(t, err, codes.PermissionDenied, want)
		}

		_, err := admin.COSI.Get(rpcCtx(t), resource.NewMetadata(configres.NamespaceName, "Nothing.talos.dev", "x", resource.VersionUndefined))
		assertCode(t, err, codes.PermissionDenied, `resource type "Nothing.talos.dev" is not supported`)

		_, err = admin.COSI.Get(rpcCtx(t), resource.NewMetadata("nowhere", configres.MachineConfigType, "x", resource.VersionUndefined))
		assertCode(t, err, codes.PermissionDenied, `namespace "nowhere" is not supported`)

		// The client turns the node's NotFound into COSI's own not-found error.
		if _, _, err = machineConfig(rpcCtx(t), admin, "maintenance"); !state.IsNotFoundError(err) ||
			!strings.Contains(err.Error(), "code = NotFound desc = resource MachineConfigs.config.talos.dev(config/maintenance@undefined) doesn't exist") {
			t.Errorf("a resource that does not exist: %v", err)
		}
	})

	t.Run("a staged config is persistent, and running after the next start", func(t *testing.T) {
		staged := cluster.patchedConfig(t, func(c *v1alpha1.Config) { c.MachineConfig.MachineNetwork.NetworkHostname = "staged-1" })

		if _, err := admin.ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
			Data: staged, Mode: machineapi.ApplyConfigurationRequest_STAGED,
		}); err != nil {
			t.Fatal(err)
		}

		running, _, _ := machineConfig(rpcCtx(t), admin, configres.ActiveID)        //nolint:errcheck
		persistent, _, _ := machineConfig(rpcCtx(t), admin, configres.PersistentID) //nolint:errcheck

		if !bytes.Equal(running, cluster.configBytes) || !bytes.Equal(persistent, staged) {
			t.Error("want the old config running and the staged one persistent")
		}

		restart()

		admin := mtlsClient(t, ip, cluster.talosconfig)
		for _, id := range []resource.ID{configres.ActiveID, configres.PersistentID} {
			if data, _, err := machineConfig(rpcCtx(t), admin, id); err != nil || !bytes.Equal(data, staged) {
				t.Errorf("after the start, MachineConfig %s is not the staged config (%v)", id, err)
			}
		}
	})

	t.Run("a later apply overtakes a staged config, across a start too", func(t *testing.T) {
		admin := mtlsClient(t, ip, cluster.talosconfig)
		staged := cluster.patchedConfig(t, func(c *v1alpha1.Config) { c.MachineConfig.MachineNetwork.NetworkHostname = "staged-2" })
		applied := cluster.patchedConfig(t, func(c *v1alpha1.Config) { c.MachineConfig.MachineNetwork.NetworkHostname = "applied-2" })

		for _, step := range []struct {
			data []byte
			mode machineapi.ApplyConfigurationRequest_Mode
		}{{staged, machineapi.ApplyConfigurationRequest_STAGED}, {applied, machineapi.ApplyConfigurationRequest_NO_REBOOT}} {
			if _, err := admin.ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{Data: step.data, Mode: step.mode}); err != nil {
				t.Fatal(err)
			}
		}

		if persistent, _, err := machineConfig(rpcCtx(t), admin, configres.PersistentID); err != nil || !bytes.Equal(persistent, applied) {
			t.Errorf("the persistent config is not the one applied last (%v)", err)
		}

		restart()

		if data, _, err := machineConfig(rpcCtx(t), mtlsClient(t, ip, cluster.talosconfig), configres.ActiveID); err != nil || !bytes.Equal(data, applied) {
			t.Errorf("after the start the node runs another config than the one applied last (%v)", err)
		}
	})
}
