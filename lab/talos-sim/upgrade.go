package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultUpgradeReboot is how long an upgraded node stays away when --reboot-window is 0: an
// upgrade always reboots, and a client that never sees the node go away proves nothing.
const defaultUpgradeReboot = 2 * time.Second

// upgrade implements machine.MachineService/Upgrade (normal mode only; the interceptor turns
// it away in maintenance mode and without role os:admin). Nothing is pulled or installed. As on
// Talos v1.11.5 (v1alpha1_server.go Upgrade), a control plane first makes sure the etcd cluster
// keeps quorum without it, unless forced: under the cluster's upgrade mutex, every member must be
// started and healthy and there must not be exactly two. Then the node acknowledges and
// "reboots": its services stop (the VIP is resigned first, etcd stops with its data: the
// upgrade sequence's StopServicesEphemeral, v1alpha1_sequencer.go), it is Unavailable for the
// reboot window, and it comes back running the image's tag, its services started again (etcd
// from its data, as the same member). The window ends when its services have been started, as a
// real node's apid answers once booted: its API server becomes ready some seconds later. With stage=true the new version waits for the simulator's next
// start instead, as a staged upgrade on Talos waits for the next reboot.
func (s *Simulator) upgrade(ctx context.Context, req *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	version, err := installerTag(req.GetImage())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid installer image %q: %s", req.GetImage(), err)
	}

	cfg := s.node().config

	if cfg.Machine().Type().IsControlPlane() && !req.GetForce() && !s.opts.SkipControlPlane {
		if err = checkUpgradeQuorum(ctx, cfg); err != nil {
			return nil, err
		}
	}

	s.applyMu.Lock()
	defer s.applyMu.Unlock()

	from := s.talosVersion()

	if req.GetStage() {
		if err = s.state.saveStagedVersion(version); err != nil {
			return nil, status.Errorf(codes.Internal, "staging the upgrade: %s", err)
		}
	} else {
		// An immediate upgrade overtakes one staged earlier.
		if err = s.state.removeStagedVersion(); err != nil {
			return nil, status.Errorf(codes.Internal, "dropping the staged upgrade: %s", err)
		}

		if err = s.setVersion(version); err != nil {
			return nil, status.Errorf(codes.Internal, "recording the new version: %s", err)
		}

		window := s.opts.RebootWindow
		if window == 0 {
			window = defaultUpgradeReboot
		}

		s.reboot(cfg, window)
	}

	s.log.Info("upgrade", "image", req.GetImage(), "from", from, "to", version, "stage", req.GetStage(),
		"preserve", req.GetPreserve(), "force", req.GetForce())

	return &machine.UpgradeResponse{Messages: []*machine.Upgrade{{Ack: "Upgrade request received"}}}, nil
}

// checkUpgradeQuorum is Talos's check under the cluster's upgrade mutex. Talos releases the mutex
// when its handler returns, with the upgrade sequence only starting in the background (etcd stops
// later); here the reboot stops etcd at once, so the mutex is released before it starts.
func checkUpgradeQuorum(ctx context.Context, cfg config.Provider) error {
	client, err := newClusterEtcdClient(ctx, cfg)
	if err != nil {
		return fmt.Errorf("failed to create etcd client: %w", err)
	}
	defer client.Close() //nolint:errcheck

	unlock, err := tryLockUpgradeMutex(ctx, client)
	if err != nil {
		return fmt.Errorf("failed to acquire upgrade mutex: %w", err)
	}
	defer unlock()

	if err = validateForUpgrade(ctx, client); err != nil {
		return fmt.Errorf("error validating etcd for upgrade: %w", err)
	}

	return nil
}

// reboot takes the node away for window: every RPC is Unavailable from now until the window has
// passed and the services it stopped are back (see admit).
func (s *Simulator) reboot(cfg config.Provider, window time.Duration) {
	s.rebooting.Store(true)
	s.rebootUntil.Store(time.Now().Add(window).UnixNano())

	go func() {
		defer s.rebooting.Store(false)

		start := time.Now()

		s.cp.stop()
		s.worker.stop()
		s.log.Info("rebooting: services stopped", "took", time.Since(start).Round(time.Millisecond).String())

		select {
		case <-s.ctx.Done():
			return
		case <-time.After(time.Until(time.Unix(0, s.rebootUntil.Load()))):
		}

		s.bootServices(cfg)
		// Booted: apid answers from here on, as on Talos, while the API server is still starting
		// (a client that takes the new version for a ready control plane is caught out).
		s.rebooting.Store(false)

		if running, _ := s.cp.running(); running {
			waitCtx, cancel := context.WithTimeout(s.ctx, s.opts.BootstrapTimeout)
			defer cancel()

			if err := s.cp.waitReady(waitCtx); err != nil {
				s.log.Warn("rebooted: the control plane is not ready yet", "err", err)

				return
			}
		}

		s.log.Info("rebooted", "took", time.Since(start).Round(time.Millisecond).String())
	}()
}

var (
	// versionTag is the only tag form the lab's installer images carry.
	versionTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	// registryHost is a registry host with an optional port (the first component of a
	// reference is one when it has a dot or a port, or is localhost).
	registryHost = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$`)
	// pathComponent is a repository path component: lower case, separators inside only.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
)

// installerTag checks an installer image reference (the container reference grammar,
// simplified; no digests) and returns its tag, which must be vX.Y.Z: the version the node will
// run.
func installerTag(image string) (string, error) {
	if strings.Contains(image, "@") {
		return "", fmt.Errorf("digest references are not supported: want <repository>:vX.Y.Z")
	}

	slash := strings.LastIndex(image, "/")

	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return "", fmt.Errorf("no tag: want <repository>:vX.Y.Z")
	}

	name, tag := image[:colon], image[colon+1:]
	if !versionTag.MatchString(tag) {
		return "", fmt.Errorf("tag %q is not a Talos version vX.Y.Z", tag)
	}

	components := strings.Split(name, "/")
	if first := components[0]; len(components) > 1 &&
		(strings.ContainsAny(first, ".:") || first == "localhost") {
		if !registryHost.MatchString(first) {
			return "", fmt.Errorf("bad registry host %q", first)
		}

		components = components[1:]
	}

	for _, c := range components {
		if !pathComponent.MatchString(c) {
			return "", fmt.Errorf("bad repository path component %q (lower case letters, digits and . _ - only)", c)
		}
	}

	return tag, nil
}
