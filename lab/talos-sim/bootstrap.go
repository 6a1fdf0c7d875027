package main

import (
	"context"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bootstrap implements machine.MachineService/Bootstrap: the first successful call brings up
// the control plane and answers once the API server is ready; every later call answers
// AlreadyExists, as Talos does once etcd has data. With recover_etcd, etcd starts from the
// snapshot uploaded by EtcdRecover (restored with the real etcdutl).
//
// "Successful" is deliberate: a call that gives up waiting (its deadline, or
// --bootstrap-timeout) leaves the node un-bootstrapped from the client's point of view, so the
// provider's retry waits again instead of receiving an AlreadyExists it would retry for ten
// minutes.
func (s *Simulator) bootstrap(ctx context.Context, req *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	cfg := s.node().config

	if !cfg.Machine().Type().IsControlPlane() {
		return nil, status.Error(codes.FailedPrecondition, "bootstrap can only be performed on a control plane node")
	}

	s.bootstrapMu.Lock()
	defer s.bootstrapMu.Unlock()

	if s.state.bootstrapped() {
		return nil, status.Error(codes.AlreadyExists, "etcd data directory is not empty")
	}

	// Recovery: etcd starts from the snapshot uploaded with EtcdRecover instead of empty.
	if req.RecoverEtcd && !s.opts.SkipControlPlane {
		if err := s.restoreEtcd(ctx, req.RecoverSkipHashCheck); err != nil {
			return nil, err
		}
	}

	if !s.opts.SkipControlPlane {
		if err := s.cp.start(cfg); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "starting the control plane: %s", err)
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
