package main

import (
	"os"
	"strings"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc/codes"
)

// TestUpgrade drives MachineService/Upgrade as talosctl upgrade (and the homelab's
// talos-ops upgrade) does: refused where Talos refuses it, a reboot window, then the new
// version, kept across restarts; staged upgrades wait for the next start.
func TestUpgrade(t *testing.T) {
	const ip = "127.0.21.248"

	cluster := newTestCluster(t, "https://"+ip+":6443")
	stateDir := t.TempDir()
	// RebootWindow 0: an upgrade still reboots, for defaultUpgradeReboot.
	sim := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})

	upgrade := func(c *client.Client, image string, stage bool) (*machineapi.UpgradeResponse, error) {
		return c.UpgradeWithOptions(rpcCtx(t), client.WithUpgradeImage(image), client.WithUpgradePreserve(true),
			client.WithUpgradeStage(stage))
	}
	version := func(c *client.Client) string {
		t.Helper()

		resp, err := c.Version(rpcCtx(t))
		if err != nil {
			t.Fatal(err)
		}

		return resp.GetMessages()[0].GetVersion().GetTag()
	}

	_, err := upgrade(insecureClient(t, ip), "ghcr.io/siderolabs/installer:v1.11.6", false)
	assertCode(t, err, codes.Unimplemented, "maintenance mode")

	if _, err = insecureClient(t, ip).ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
		Data: cluster.configBytes, Mode: machineapi.ApplyConfigurationRequest_AUTO,
	}); err != nil {
		t.Fatal(err)
	}

	admin := mtlsClient(t, ip, cluster.talosconfig)
	if got := version(admin); got != "v1.11.5" {
		t.Fatalf("installed version = %s, want v1.11.5", got)
	}

	_, err = upgrade(mtlsClient(t, ip, cluster.talosconfigWithRoles(t, role.Reader)), "ghcr.io/siderolabs/installer:v1.11.6", false)
	assertCode(t, err, codes.PermissionDenied, "os:admin")

	for image, why := range map[string]string{
		"ghcr.io/siderolabs/installer":                   "no tag",
		"ghcr.io/siderolabs/installer:latest":            `tag "latest"`,
		"ghcr.io/siderolabs/installer:v1.11":             `tag "v1.11"`,
		"ghcr.io/SideroLabs/installer:v1.11.6":           "bad repository path component",
		"bad_host.io:x/installer:v1.11.6":                "bad registry host",
		"ghcr.io/siderolabs/installer:v1.11.6@sha256:00": "digest",
	} {
		_, err = upgrade(admin, image, false)
		assertCode(t, err, codes.InvalidArgument, "invalid installer image", why)
	}

	if got := sim.rpcLines(methodUpgrade, "InvalidArgument"); got != 6 {
		t.Errorf("InvalidArgument Upgrade log lines = %d, want 6", got)
	}

	t.Run("upgrade: ack, reboot window, new version", func(t *testing.T) {
		resp, err := upgrade(admin, "ghcr.io/siderolabs/installer:v1.11.6", false)
		if err != nil {
			t.Fatal(err)
		}

		upgraded := time.Now()

		if ack := resp.GetMessages()[0].GetAck(); ack == "" {
			t.Error("no ack")
		}

		_, err = admin.Version(rpcCtx(t))
		assertCode(t, err, codes.Unavailable, "rebooting")

		time.Sleep(defaultUpgradeReboot - time.Since(upgraded) + 100*time.Millisecond)

		if got := version(admin); got != "v1.11.6" {
			t.Fatalf("version after the reboot = %s, want v1.11.6", got)
		}

		if saved, _ := os.ReadFile(sim.state.path(versionFile)); strings.TrimSpace(string(saved)) != "v1.11.6" { //nolint:errcheck
			t.Errorf("%s = %q", versionFile, saved)
		}
	})

	t.Run("a re-applied config with another installer image does not change the version", func(t *testing.T) {
		patched, err := cluster.config.PatchV1Alpha1(func(c *v1alpha1.Config) error {
			c.MachineConfig.MachineInstall.InstallImage = "ghcr.io/siderolabs/installer:v1.11.9"

			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		data, err := patched.EncodeBytes()
		if err != nil {
			t.Fatal(err)
		}

		if _, err = admin.ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
			Data: data, Mode: machineapi.ApplyConfigurationRequest_NO_REBOOT,
		}); err != nil {
			t.Fatal(err)
		}

		if got := version(admin); got != "v1.11.6" {
			t.Fatalf("version = %s after a re-apply, want v1.11.6 (only Upgrade changes it)", got)
		}
	})

	t.Run("a staged upgrade waits for the next start", func(t *testing.T) {
		if _, err := upgrade(admin, "ghcr.io/siderolabs/installer:v1.11.7", true); err != nil {
			t.Fatal(err)
		}

		// No reboot: the node answers at once, still on the old version.
		if got := version(admin); got != "v1.11.6" {
			t.Fatalf("version right after staging = %s, want v1.11.6", got)
		}

		sim.stop()
		restarted := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})

		if got := version(mtlsClient(t, ip, cluster.talosconfig)); got != "v1.11.7" {
			t.Fatalf("version after the restart = %s, want v1.11.7", got)
		}

		restarted.stop()
	})

	t.Run("a restart keeps the version; a state dir without one pins its config's", func(t *testing.T) {
		restarted := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})
		if got := version(mtlsClient(t, ip, cluster.talosconfig)); got != "v1.11.7" {
			t.Fatalf("version after a plain restart = %s, want v1.11.7", got)
		}

		restarted.stop()

		if err := os.Remove(restarted.state.path(versionFile)); err != nil {
			t.Fatal(err)
		}

		legacy := startSim(t, ip, Options{StateDir: stateDir, SkipControlPlane: true})
		if got := version(mtlsClient(t, ip, cluster.talosconfig)); got != "v1.11.9" {
			t.Fatalf("version of a legacy state dir = %s, want v1.11.9 (its config's installer tag)", got)
		}

		if _, err := os.Stat(legacy.state.path(versionFile)); err != nil {
			t.Errorf("the version was not pinned: %v", err)
		}
	})
}
