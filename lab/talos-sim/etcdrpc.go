package main

import (
	"context"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkControlplane is v1alpha1_server.go checkControlplane: the etcd APIs exist on control
// planes only.
func (s *Simulator) checkControlplane(api string) error {
	if !s.node().config.Machine().Type().IsControlPlane() {
		return status.Errorf(codes.Unimplemented, "%s is only available on control plane nodes", api)
	}

	if s.opts.SkipControlPlane {
		return status.Error(codes.FailedPrecondition, "etcd is not running on this node")
	}

	return nil
}

// etcdMemberList implements MachineService/EtcdMemberList as Talos v1.11.5 does
// (v1alpha1_server.go EtcdMemberList, what `talosctl etcd members` calls): the member list of
// the cluster through the control-plane endpoints, or of the local member with query_local.
func (s *Simulator) etcdMemberList(ctx context.Context, req *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	if err := s.checkControlplane("member list"); err != nil {
		return nil, err
	}

	var (
		client *clientv3.Client
		err    error
	)

	if req.QueryLocal {
		client, err = s.localEtcdClient(ctx)
	} else {
		client, err = newClusterEtcdClient(ctx, s.node().config)
	}

	if err != nil {
		return nil, err
	}
	defer client.Close() //nolint:errcheck

	resp, err := client.MemberList(clientv3.WithRequireLeader(ctx))
	if err != nil {
		return nil, err
	}

	members := &machine.EtcdMembers{}

	for _, m := range resp.Members {
		members.LegacyMembers = append(members.LegacyMembers, m.GetName())
		members.Members = append(members.Members, &machine.EtcdMember{
			Id:         m.GetID(),
			Hostname:   m.GetName(),
			PeerUrls:   m.GetPeerURLs(),
			ClientUrls: m.GetClientURLs(),
			IsLearner:  m.GetIsLearner(),
		})
	}

	return &machine.EtcdMemberListResponse{Messages: []*machine.EtcdMembers{members}}, nil
}

// etcdStatus implements MachineService/EtcdStatus (v1alpha1_server.go EtcdStatus, `talosctl
// etcd status`): the local member's status.
func (s *Simulator) etcdStatus(ctx context.Context) (*machine.EtcdStatusResponse, error) {
	if err := s.checkControlplane("etcd status"); err != nil {
		return nil, err
	}

	client, err := s.localEtcdClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to create etcd client: %w", err)
	}
	defer client.Close() //nolint:errcheck

	resp, err := client.Status(ctx, client.Endpoints()[0])
	if err != nil {
		return nil, fmt.Errorf("failed to query etcd status: %w", err)
	}

	return &machine.EtcdStatusResponse{
		Messages: []*machine.EtcdStatus{{
			MemberStatus: &machine.EtcdMemberStatus{
				MemberId:         resp.Header.MemberId,
				ProtocolVersion:  resp.Version,
				DbSize:           resp.DbSize,
				DbSizeInUse:      resp.DbSizeInUse,
				Leader:           resp.Leader,
				RaftIndex:        resp.RaftIndex,
				RaftTerm:         resp.RaftTerm,
				RaftAppliedIndex: resp.RaftAppliedIndex,
				StorageVersion:   resp.StorageVersion,
				Errors:           resp.Errors,
				IsLearner:        resp.IsLearner,
			},
		}},
	}, nil
}

// localEtcdClient is NewLocalClient: this node's own member.
func (s *Simulator) localEtcdClient(ctx context.Context) (*clientv3.Client, error) {
	plan := s.cp.currentPlan()
	if plan == nil {
		return nil, status.Error(codes.Unavailable, "etcd is not running on this node")
	}

	return newEtcdClient(ctx, []string{plan.etcdEndpoint()})
}
