package main

import (
	"context"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errEtcdNotEmpty is Talos's refusal of a Bootstrap on a node whose etcd has data: the node
// that was bootstrapped, and every control plane that joined the cluster
// (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go Bootstrap).
var errEtcdNotEmpty = status.Error(codes.AlreadyExists, "etcd data directory is not empty")

// bootstrap implements machine.MachineService/Bootstrap as Talos v1.11.5 does: refused on a
// worker, and with AlreadyExists on a node whose etcd data directory is not empty; otherwise
// the etcd service (waiting to join a cluster) is stopped and started again in bootstrap mode, a
// new cluster of one member (services/etcd.go BootstrapEtcd). The call answers once the API
// server is ready. With recover_etcd, etcd starts from the snapshot uploaded by EtcdRecover
// (restored with the real etcdutl).
//
// "Once ready" is deliberate: a call that gives up waiting (its deadline, or
// --bootstrap-timeout) leaves the node un-bootstrapped from the client's point of view, so the
// provider's retry waits again, on the control plane the first call started, instead of
// receiving an AlreadyExists it would retry for ten minutes.
func (s *Simulator) bootstrap(ctx context.Context, req *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	cfg := s.node().config

	if !cfg.Machine().Type().IsControlPlane() {
		return nil, status.Error(codes.FailedPrecondition, "bootstrap can only be performed on a control plane node")
	}

	s.bootstrapMu.Lock()
	defer s.bootstrapMu.Unlock()

	if s.state.bootstrapped() {
		return nil, errEtcdNotEmpty
	}

	if !s.opts.SkipControlPlane {
		if err := s.bootstrapEtcd(ctx, cfg, req); err != nil {
			return nil, err
		}

		waitCtx, cancel := context.WithTimeout(ctx, s.opts.BootstrapTimeout)
		defer cancel()

		if err := s.cp.waitReady(waitCtx); err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}

			return nil, status.Errorf(codes.Unavailable, "control plane is not ready yet: %s", err)
		}
	}

	if err := s.state.markBootstrapped(); err != nil {
		return nil, status.Errorf(codes.Internal, "recording the bootstrap: %s", err)
	}

	s.log.Info("bootstrapped", "control_plane", !s.opts.SkipControlPlane)

	return &machine.BootstrapResponse{Messages: []*machine.Bootstrap{{}}}, nil
}

// bootstrapEtcd restarts the control plane in bootstrap mode, unless an earlier Bootstrap call
// already did (its caller gave up waiting).
func (s *Simulator) bootstrapEtcd(ctx context.Context, cfg config.Provider, req *machine.BootstrapRequest) error {
	if running, bootstrapping := s.cp.running(); running && bootstrapping {
		return nil
	}

	if !s.cp.etcdDataEmpty() {
		return errEtcdNotEmpty
	}

	// Stop the etcd service that waits to join; if it joined meanwhile, it keeps its data and
	// comes back as it was.
	s.cp.stop()

	started := false

	defer func() {
		if !started {
			if err := s.cp.start(cfg, false); err != nil {
				s.log.Error("restarting the control plane", "err", err)
			}
		}
	}()

	if !s.cp.etcdDataEmpty() {
		return errEtcdNotEmpty
	}

	// Recovery: etcd starts from the snapshot uploaded with EtcdRecover instead of empty.
	if req.RecoverEtcd {
		if err := s.restoreEtcd(ctx, cfg, req.RecoverSkipHashCheck); err != nil {
			return err
		}
	}

	if err := s.cp.start(cfg, true); err != nil {
		return status.Errorf(codes.FailedPrecondition, "starting the control plane: %s", err)
	}

	started = true

	return nil
}
