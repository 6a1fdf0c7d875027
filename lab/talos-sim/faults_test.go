package main

import (
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
)

// TestFaultInjection checks --fail-first and --reboot-window, which the lab's reliability
// tests use to prove the stack's retries.
func TestFaultInjection(t *testing.T) {
	const ip = "127.0.21.249"

	cluster := newTestCluster(t, "https://"+ip+":6443")
	sim := startSim(t, ip, Options{StateDir: t.TempDir(), SkipControlPlane: true, FailFirst: 2, RebootWindow: 2 * time.Second})
	c := insecureClient(t, ip)

	for i := range 2 {
		_, err := c.Disks(rpcCtx(t))
		assertCode(t, err, codes.Unavailable, "injected failure")

		if i == 1 && sim.rpcLines(methodDisks, "Unavailable") != 2 {
			t.Errorf("Unavailable log lines:\n%s", sim.logs.String())
		}
	}

	if _, err := c.Disks(rpcCtx(t)); err != nil {
		t.Fatalf("third RPC: %v", err)
	}

	// A maintenance-mode apply installs and reboots: the node is away for the window.
	if _, err := c.ApplyConfiguration(rpcCtx(t), &machineapi.ApplyConfigurationRequest{
		Data: cluster.configBytes, Mode: machineapi.ApplyConfigurationRequest_AUTO,
	}); err != nil {
		t.Fatal(err)
	}

	m := mtlsClient(t, ip, cluster.talosconfig)

	_, err := m.Disks(rpcCtx(t))
	assertCode(t, err, codes.Unavailable, "rebooting")

	time.Sleep(2100 * time.Millisecond)

	if _, err = m.Disks(rpcCtx(t)); err != nil {
		t.Fatalf("after the reboot window: %v", err)
	}
}
