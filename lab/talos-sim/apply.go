package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configdiff"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metalMode is the runtime mode a bare-metal Talos node validates configs for. Talos's own
// implementation lives outside the machinery module; validation only asks these three things.
// RequiresInstall matters: on metal a config without an install disk is rejected.
type metalMode struct{}

func (metalMode) String() string        { return "metal" }
func (metalMode) RequiresInstall() bool { return true }
func (metalMode) InContainer() bool     { return false }

// loadConfig parses and validates a machine config the way Talos does on ApplyConfiguration,
// so the error text the provider shows is Talos's own. Both failures are InvalidArgument: the
// provider treats only that code as final, and retrying a broken config for ten minutes helps
// nobody.
func loadConfig(data []byte) (config.Provider, []string, error) {
	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "failed to parse config: %s", err)
	}

	warnings, err := cfg.Validate(metalMode{})
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "configuration validation failed: %s", err)
	}

	// Talos accepts configs this simulator cannot serve (a worker whose apid certificate comes
	// from trustd). Say so plainly, and finally (InvalidArgument), instead of failing later in
	// the TLS layer.
	if cfg.RawV1Alpha1() == nil || cfg.Machine().Security().IssuingCA() == nil ||
		len(cfg.Machine().Security().IssuingCA().Key) == 0 {
		return nil, nil, status.Error(codes.InvalidArgument,
			"talos-sim: only configs with a v1alpha1 document carrying machine.ca (crt and key) can be served, i.e. control-plane configs")
	}

	return cfg, warnings, nil
}

// applyConfiguration implements machine.MachineService/ApplyConfiguration for both modes.
func (s *Simulator) applyConfiguration(_ context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	// One apply at a time: each one replaces the config the next one is compared with.
	s.applyMu.Lock()
	defer s.applyMu.Unlock()

	current := s.node()
	maintenance := current == nil

	// Maintenance mode has no running config to keep, so like Talos it refuses the modes that
	// only make sense on a configured node.
	if maintenance {
		switch req.Mode { //nolint:exhaustive
		case machine.ApplyConfigurationRequest_AUTO, machine.ApplyConfigurationRequest_REBOOT,
			machine.ApplyConfigurationRequest_TRY:
		default:
			return nil, status.Errorf(codes.Unimplemented,
				"apply configuration --mode='%s' is not supported in maintenance mode", modeFlag(req.Mode))
		}
	}

	cfg, warnings, err := loadConfig(req.Data)
	if err != nil {
		return nil, err
	}

	details, reboot := modeOutcome(maintenance, req.Mode)
	reply := &machine.ApplyConfiguration{Mode: req.Mode, Warnings: warnings, ModeDetails: details}

	if req.DryRun {
		reply.ModeDetails, err = dryRunSummary(current, cfg, details)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "config diff: %s", err)
		}

		return applyReply(reply), nil
	}

	if req.Mode == machine.ApplyConfigurationRequest_STAGED {
		if err = s.state.saveStagedConfig(req.Data); err != nil {
			return nil, status.Errorf(codes.Internal, "saving staged config: %s", err)
		}

		return applyReply(reply), nil
	}

	// Issue the new apid identity before anything is saved, so a config whose OS CA cannot
	// sign leaves the node as it was.
	next, err := s.newNodeState(cfg)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "issuing the node certificate: %s", err)
	}

	if err = s.state.saveConfig(req.Data); err != nil {
		return nil, status.Errorf(codes.Internal, "saving config: %s", err)
	}

	// The first apply installs Talos from the config's installer image. Later applies leave the
	// installed version alone, as on Talos: only Upgrade changes what the node runs.
	if maintenance {
		if err = s.setVersion(s.installedVersion(cfg)); err != nil {
			return nil, status.Errorf(codes.Internal, "recording the installed version: %s", err)
		}
	}

	// A running control plane keeps the cluster PKI it was started with; a changed cluster CA
	// reaches it at the simulator's next start (pki/ is rewritten then).
	s.current.Store(next)

	if reboot && s.opts.RebootWindow > 0 {
		s.rebootUntil.Store(time.Now().Add(s.opts.RebootWindow).UnixNano())
	}

	s.log.Info("config applied", "mode", modeFlag(req.Mode), "maintenance", maintenance, "reboot", reboot,
		"cluster", cfg.Cluster().Name(), "endpoint", cfg.Cluster().Endpoint().String())

	return applyReply(reply), nil
}

func applyReply(msg *machine.ApplyConfiguration) *machine.ApplyConfigurationResponse {
	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{msg}}
}

// modeOutcome says what an apply in the given mode does to the node, in Talos's words.
// A first apply in maintenance mode installs Talos and reboots into the installed system.
// On a configured node AUTO is taken as "no reboot needed": the simulator has no kernel
// settings or disks whose change would force one.
func modeOutcome(maintenance bool, mode machine.ApplyConfigurationRequest_Mode) (string, bool) {
	if maintenance {
		return "Applied configuration with a reboot", true
	}

	switch mode { //nolint:exhaustive
	case machine.ApplyConfigurationRequest_REBOOT:
		return "Applied configuration with a reboot", true
	case machine.ApplyConfigurationRequest_STAGED:
		return "Staged configuration to be applied after a reboot", false
	case machine.ApplyConfigurationRequest_TRY:
		// The roll-back after the try timeout is not simulated.
		return "Applied configuration in a try mode", false
	default:
		return "Applied configuration without a reboot", false
	}
}

// dryRunSummary renders the dry-run answer like Talos: the outcome and the config diff.
func dryRunSummary(current *nodeState, next config.Provider, details string) (string, error) {
	if current == nil {
		return "Dry run summary:\nNode is running in maintenance mode and does not have a config yet.", nil
	}

	diff, err := configdiff.DiffToString(current.config, next)
	if err != nil {
		return "", err
	}

	if diff == "" {
		diff = "No changes."
	}

	return fmt.Sprintf("Dry run summary:\n%s (skipped in dry-run).\nConfig diff:\n\n%s", details, diff), nil
}

// modeFlag spells a mode the way talosctl's --mode flag does (NO_REBOOT -> no-reboot).
func modeFlag(mode machine.ApplyConfigurationRequest_Mode) string {
	return strings.ReplaceAll(strings.ToLower(mode.String()), "_", "-")
}
