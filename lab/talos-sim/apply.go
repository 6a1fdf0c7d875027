package main

import (
	"bytes"
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
// RequiresInstall matters: on metal a config without an install disk is rejected, until the
// node is installed. Talos v1.11.5 wraps its mode the same way for a configured node
// (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go, modeWrapper): an
// installed node accepts a config without install disk.
type metalMode struct {
	installed bool
}

func (metalMode) String() string          { return "metal" }
func (m metalMode) RequiresInstall() bool { return !m.installed }
func (metalMode) InContainer() bool       { return false }

// loadConfig parses and validates a machine config the way Talos does on ApplyConfiguration,
// so the error text the provider shows is Talos's own: in maintenance mode with the prefixes
// of internal/app/maintenance/server.go, on a configured node (installed) with the bare
// messages of v1alpha1_server.go. Every failure is InvalidArgument (Talos's maintenance mode
// answers a parse error with Unknown): the provider treats only that code as final, and
// retrying a broken config for ten minutes helps nobody.
func loadConfig(data []byte, installed bool) (config.Provider, []string, error) {
	parsePrefix, validationPrefix := "failed to parse config: ", "configuration validation failed: "
	if installed {
		parsePrefix, validationPrefix = "", ""
	}

	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return nil, nil, status.Error(codes.InvalidArgument, parsePrefix+err.Error())
	}

	if installed && cfg.RawV1Alpha1() == nil {
		return nil, nil, status.Error(codes.InvalidArgument,
			"the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?")
	}

	warnings, err := cfg.Validate(metalMode{installed: installed})
	if err != nil {
		return nil, nil, status.Error(codes.InvalidArgument, validationPrefix+err.Error())
	}

	// Talos accepts configs this simulator cannot serve. Say so plainly, and finally
	// (InvalidArgument), instead of failing later in the TLS layer: a control plane signs its
	// own apid certificate with machine.ca's key; a worker has trustd sign it and verifies
	// clients with machine.ca's certificate.
	if ca := cfg.Machine().Security().IssuingCA(); cfg.RawV1Alpha1() == nil || ca == nil || len(ca.Crt) == 0 ||
		(cfg.Machine().Type().IsControlPlane() && len(ca.Key) == 0) {
		return nil, nil, status.Error(codes.InvalidArgument,
			"talos-sim: only configs with a v1alpha1 document carrying machine.ca (a control plane's with its key) can be served")
	}

	return cfg, warnings, nil
}

// maintenanceDryRun is Talos's whole answer to a dry run in maintenance mode
// (internal/app/maintenance/server.go): there is no config to compare with.
const maintenanceDryRun = "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."

// applyConfiguration implements machine.MachineService/ApplyConfiguration for both modes.
func (s *Simulator) applyConfiguration(_ context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	// One apply at a time: each one replaces the config the next one is compared with.
	s.applyMu.Lock()
	defer s.applyMu.Unlock()

	current := s.node()
	if current == nil {
		return s.applyInMaintenance(req)
	}

	cfg, warnings, err := loadConfig(req.Data, true)
	if err != nil {
		return nil, err
	}

	outcome, err := resolveMode(current.config, cfg, req.Mode)
	if err != nil {
		return nil, err
	}

	// A dry run answers what the apply would do and the diff against the running config, and
	// touches nothing: not the saved config, the staged one, the version or the resources.
	if req.DryRun {
		diff, err := configDiff(current.config, cfg)
		if err != nil {
			return nil, fmt.Errorf("failed to generate diff: %w", err)
		}

		return applyReply(&machine.ApplyConfiguration{
			Mode:        outcome.mode,
			ModeDetails: fmt.Sprintf("Dry run summary:\n%s (skipped in dry-run).\n%s", outcome.details, diff),
		}), nil
	}

	reply := &machine.ApplyConfiguration{Mode: outcome.mode, Warnings: warnings, ModeDetails: outcome.details + outcome.why}

	if outcome.mode == machine.ApplyConfigurationRequest_STAGED {
		if err = s.state.saveStagedConfig(req.Data); err != nil {
			return nil, status.Errorf(codes.Internal, "saving staged config: %s", err)
		}

		// The persisted config runs ahead of the running one until the next start.
		if err = s.resources.setMachineConfig(cfg, false); err != nil {
			return nil, status.Errorf(codes.Internal, "publishing the staged config: %s", err)
		}

		s.log.Info("config staged", "mode", modeFlag(req.Mode))

		return applyReply(reply), nil
	}

	if err = s.activate(cfg, req.Data, false); err != nil {
		return nil, err
	}

	// Talos's CRD controller follows the running config (controllers/kubeaccess/crd.go): a
	// change that enables kubernetesTalosAPIAccess, which applies live, registers the talos.dev
	// ServiceAccount type on a control plane that already runs (a node taken over without it).
	if cfg.Machine().Features().KubernetesTalosAPIAccess().Enabled() {
		if plan := s.cp.currentPlan(); plan != nil {
			go s.cp.registerTalosCRDs(s.ctx, plan)
		}
	}

	if outcome.reboot && s.opts.RebootWindow > 0 {
		s.rebootUntil.Store(time.Now().Add(s.opts.RebootWindow).UnixNano())
	}

	s.log.Info("config applied", "mode", modeFlag(req.Mode), "resolved", modeFlag(outcome.mode), "maintenance", false,
		"reboot", outcome.reboot, "cluster", cfg.Cluster().Name(), "endpoint", cfg.Cluster().Endpoint().String())

	return applyReply(reply), nil
}

// applyInMaintenance is the first apply, on a node that has no config: it installs Talos and
// reboots into the installed system.
func (s *Simulator) applyInMaintenance(req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	// Maintenance mode has no running config to keep, so like Talos it refuses the modes that
	// only make sense on a configured node.
	switch req.Mode { //nolint:exhaustive
	case machine.ApplyConfigurationRequest_AUTO, machine.ApplyConfigurationRequest_REBOOT,
		machine.ApplyConfigurationRequest_TRY:
	default:
		return nil, status.Errorf(codes.Unimplemented,
			"apply configuration --mode='%s' is not supported in maintenance mode", modeFlag(req.Mode))
	}

	cfg, warnings, err := loadConfig(req.Data, false)
	if err != nil {
		return nil, err
	}

	// As Talos: the warnings, no mode, and a summary that says there is nothing to compare.
	if req.DryRun {
		return applyReply(&machine.ApplyConfiguration{Warnings: warnings, ModeDetails: maintenanceDryRun}), nil
	}

	if err = s.activate(cfg, req.Data, true); err != nil {
		return nil, err
	}

	if s.opts.RebootWindow > 0 {
		s.rebootUntil.Store(time.Now().Add(s.opts.RebootWindow).UnixNano())
	}

	// The node boots into its installed system: its services start.
	go s.bootServices(cfg)

	s.log.Info("config applied", "mode", modeFlag(req.Mode), "maintenance", true, "reboot", true,
		"cluster", cfg.Cluster().Name(), "endpoint", cfg.Cluster().Endpoint().String())

	// Talos's maintenance mode answers with the warnings alone; the simulator has always said
	// what it did, which the lab's logs and tests read.
	return applyReply(&machine.ApplyConfiguration{
		Mode: req.Mode, Warnings: warnings, ModeDetails: "Applied configuration with a reboot",
	}), nil
}

// activate makes cfg (data as received) the node's running config: the apid identity first,
// so a config whose OS CA cannot sign leaves the node as it was, then the disk, the installed
// version on the first apply, and the MachineConfig resources.
func (s *Simulator) activate(cfg config.Provider, data []byte, install bool) error {
	next, err := s.newNodeState(cfg)
	if err != nil {
		return status.Errorf(codes.Internal, "issuing the node certificate: %s", err)
	}

	// A worker keeps the certificate trustd signed while its OS CA stays the same.
	if prev := s.node(); prev != nil && next.tls.Load() == nil && prev.tls.Load() != nil &&
		bytes.Equal(prev.config.Machine().Security().IssuingCA().Crt, cfg.Machine().Security().IssuingCA().Crt) {
		next.tls.Store(prev.tls.Load())
	}

	if err = s.state.saveConfig(data); err != nil {
		return status.Errorf(codes.Internal, "saving config: %s", err)
	}

	// This config is the persisted one now, ahead of any staged before it.
	if err = s.state.removeStagedConfig(); err != nil {
		return status.Errorf(codes.Internal, "dropping the staged config: %s", err)
	}

	// The first apply installs Talos from the config's installer image. Later applies leave the
	// installed version alone, as on Talos: only Upgrade changes what the node runs.
	if install {
		if err = s.setVersion(s.installedVersion(cfg)); err != nil {
			return status.Errorf(codes.Internal, "recording the installed version: %s", err)
		}
	}

	if err = s.resources.setMachineConfig(cfg, true); err != nil {
		return status.Errorf(codes.Internal, "publishing the config: %s", err)
	}

	// A running control plane keeps the cluster PKI it was started with; a changed cluster CA
	// reaches it at the simulator's next start (pki/ is rewritten then).
	s.current.Store(next)
	s.awaitWorkerIdentity(next)

	return nil
}

func applyReply(msg *machine.ApplyConfiguration) *machine.ApplyConfigurationResponse {
	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{msg}}
}

// applyOutcome is what an apply on a configured node does, in Talos's words.
type applyOutcome struct {
	mode    machine.ApplyConfigurationRequest_Mode // the mode it runs in: AUTO resolved
	details string                                 // Talos's mode details
	why     string                                 // for AUTO resolved to REBOOT: ": " and why
	reboot  bool
}

// resolveMode decides an apply's mode on a configured node as Talos v1.11.5 does
// (v1alpha1_server.go ApplyConfiguration): no-reboot and try need a change that can be applied
// immediately and are refused otherwise; auto becomes no-reboot when it can, else reboot (and
// says why); staged and reboot are taken as asked. The roll-back after a try is not simulated.
func resolveMode(current, next config.Provider, mode machine.ApplyConfigurationRequest_Mode) (applyOutcome, error) {
	switch mode { //nolint:exhaustive
	case machine.ApplyConfigurationRequest_TRY, machine.ApplyConfigurationRequest_NO_REBOOT:
		if err := canApplyImmediate(current, next); err != nil {
			return applyOutcome{}, status.Error(codes.InvalidArgument, err.Error())
		}

		return applyOutcome{mode: mode, details: "Applied configuration without a reboot"}, nil
	case machine.ApplyConfigurationRequest_STAGED:
		return applyOutcome{mode: mode, details: "Staged configuration to be applied after the next reboot"}, nil
	case machine.ApplyConfigurationRequest_AUTO:
		if err := canApplyImmediate(current, next); err != nil {
			return applyOutcome{
				mode: machine.ApplyConfigurationRequest_REBOOT, details: "Applied configuration with a reboot",
				why: ": " + err.Error(), reboot: true,
			}, nil
		}

		return applyOutcome{mode: machine.ApplyConfigurationRequest_NO_REBOOT, details: "Applied configuration without a reboot"}, nil
	case machine.ApplyConfigurationRequest_REBOOT:
		return applyOutcome{mode: mode, details: "Applied configuration with a reboot", reboot: true}, nil
	default:
		return applyOutcome{}, fmt.Errorf("incorrect mode '%s' specified for the apply config call", mode.String())
	}
}

// configDiff is the "Config diff" section of Talos's dry-run answer (v1alpha1_server.go
// generateDiff): the unified diff of the running config and the proposed one, both encoded
// without comments (configdiff), or "No changes.".
func configDiff(current, next config.Provider) (string, error) {
	diff, err := configdiff.DiffToString(current, next)
	if err != nil {
		return "", err
	}

	if diff == "" {
		diff = "No changes."
	}

	return "Config diff:\n\n" + diff, nil
}

// modeFlag spells a mode the way talosctl's --mode flag does (NO_REBOOT -> no-reboot).
func modeFlag(mode machine.ApplyConfigurationRequest_Mode) string {
	return strings.ReplaceAll(strings.ToLower(mode.String()), "_", "-")
}
