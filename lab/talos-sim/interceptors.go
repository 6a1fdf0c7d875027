package main

import (
	"context"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

const (
	methodApply      = "/machine.MachineService/ApplyConfiguration"
	methodBootstrap  = "/machine.MachineService/Bootstrap"
	methodKubeconfig = "/machine.MachineService/Kubeconfig"
	methodVersion    = "/machine.MachineService/Version"
	methodUpgrade    = "/machine.MachineService/Upgrade"
	methodSnapshot   = "/machine.MachineService/EtcdSnapshot"
	methodMembers    = "/machine.MachineService/EtcdMemberList"
	methodEtcdStatus = "/machine.MachineService/EtcdStatus"
	methodDisks      = "/storage.StorageService/Disks"

	// The resource API (`talosctl get`); what each type needs is the access policy's
	// business (resources.go).
	methodResourceGet   = "/cosi.resource.State/Get"
	methodResourceList  = "/cosi.resource.State/List"
	methodResourceWatch = "/cosi.resource.State/Watch"
)

// maintenanceMethods are the only RPCs an unconfigured node answers here (Talos's maintenance
// API is a little larger; the provider uses these two).
var maintenanceMethods = map[string]bool{
	methodApply: true,
	methodDisks: true,
}

// readOnlyMethods are open to os:reader and above; everything else needs os:admin, matching
// Talos's authorization of these methods (internal/app/machined/pkg/system/services/
// machined.go, rules; the resource API's writes fall back to os:admin here and are refused by
// the access policy).
var readOnlyMethods = map[string]bool{
	methodDisks:         true,
	methodVersion:       true,
	methodResourceGet:   true,
	methodResourceList:  true,
	methodResourceWatch: true,
}

var readRoles = role.MakeSet(role.Admin, role.Operator, role.Reader)

func (s *Simulator) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	mode := s.modeName()

	err := s.admit(ctx, info.FullMethod)

	var resp any
	if err == nil {
		resp, err = handler(ctx, req)
	}

	s.logRPC(ctx, info.FullMethod, mode, start, err)

	return resp, err
}

func (s *Simulator) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	mode := s.modeName()

	err := s.admit(ss.Context(), info.FullMethod)
	if err == nil {
		err = handler(srv, ss)
	}

	s.logRPC(ss.Context(), info.FullMethod, mode, start, err)

	return err
}

// admit decides whether an RPC reaches its handler: injected faults first (they stand for a
// node that is not there at all), then the mode, then the caller's role.
func (s *Simulator) admit(ctx context.Context, method string) error {
	if n := s.rpcCount.Add(1); n <= s.opts.FailFirst {
		return status.Errorf(codes.Unavailable, "talos-sim: injected failure %d of %d", n, s.opts.FailFirst)
	}

	if until := s.rebootUntil.Load(); s.rebooting.Load() || (until != 0 && time.Now().UnixNano() < until) {
		return status.Error(codes.Unavailable, "talos-sim: node is rebooting")
	}

	if s.node() == nil {
		if !maintenanceMethods[method] {
			return status.Error(codes.Unimplemented, "API is not implemented in maintenance mode")
		}

		return nil
	}

	roles, ok := peerRoles(ctx)
	if !ok {
		// A connection opened before the apply: on a real node the reboot would have cut it.
		return status.Error(codes.Unavailable, "talos-sim: node left maintenance mode, reconnect with a client certificate")
	}

	allowed, needed := roles.Includes(role.Admin), string(role.Admin)
	switch {
	case readOnlyMethods[method]:
		allowed, needed = roles.IncludesAny(readRoles), string(role.Reader)+" or higher"
	case method == methodSnapshot:
		// What an in-cluster backup job's Talos service account is given.
		allowed, needed = roles.IncludesAny(role.MakeSet(role.Admin, role.EtcdBackup)), string(role.EtcdBackup)+" or "+string(role.Admin)
	case method == methodMembers, method == methodEtcdStatus:
		// machined.go: os:admin, os:operator, os:reader and os:etcd:backup.
		allowed = roles.IncludesAny(role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup))
		needed = string(role.Reader) + ", " + string(role.EtcdBackup) + " or higher"
	}

	if !allowed {
		return status.Errorf(codes.PermissionDenied, "not authorized: %s needs role %s", method, needed)
	}

	return nil
}

// logRPC writes the one line per RPC the lab counts Talos API calls by.
func (s *Simulator) logRPC(ctx context.Context, method, mode string, start time.Time, err error) {
	addr := "unknown"
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr.String()
	}

	var node string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("node"); len(v) > 0 {
			node = v[0]
		}
	}

	attrs := []any{
		"method", method,
		"peer", addr,
		"node", node,
		"mode", mode,
		"code", status.Code(err).String(),
		"duration", time.Since(start).Round(time.Millisecond).String(),
	}
	if err != nil {
		attrs = append(attrs, "error", status.Convert(err).Message())
	}

	s.log.Info("rpc", attrs...)
}
