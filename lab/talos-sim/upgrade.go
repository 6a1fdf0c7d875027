package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultUpgradeReboot is how long an upgraded node stays away when --reboot-window is 0: an
// upgrade always reboots, and a client that never sees the node go away proves nothing.
const defaultUpgradeReboot = 2 * time.Second

// upgrade implements machine.MachineService/Upgrade (normal mode only; the interceptor turns
// it away in maintenance mode and without role os:admin). Nothing is pulled or installed: the
// node acknowledges, "reboots" (Unavailable for the reboot window) and comes back running the
// image's tag. With stage=true the new version waits for the simulator's next start instead,
// as a staged upgrade on Talos waits for the next reboot. The control plane keeps running.
func (s *Simulator) upgrade(_ context.Context, req *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	version, err := installerTag(req.GetImage())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid installer image %q: %s", req.GetImage(), err)
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

		// Every RPC from now until the window ends is Unavailable (see admit), so nobody sees
		// the new version before the "reboot" is over.
		s.rebootUntil.Store(time.Now().Add(window).UnixNano())
	}

	s.log.Info("upgrade", "image", req.GetImage(), "from", from, "to", version, "stage", req.GetStage(),
		"preserve", req.GetPreserve(), "force", req.GetForce())

	return &machine.UpgradeResponse{Messages: []*machine.Upgrade{{Ack: "Upgrade request received"}}}, nil
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
