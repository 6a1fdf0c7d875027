package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverSnapshotFile is where EtcdRecover keeps an uploaded snapshot until a
// Bootstrap(recover_etcd) restores it, as Talos keeps it on the node.
const recoverSnapshotFile = "etcd-recover.snapshot"

// etcdSnapshot implements MachineService/EtcdSnapshot: the lab's real etcd streams a snapshot
// of its database (etcd's Maintenance/Snapshot, through its HTTP gateway) and the node passes
// it on in chunks, as Talos does. Allowed for os:admin and os:etcd:backup.
func (s *Simulator) etcdSnapshot(stream grpc.ServerStreamingServer[common.Data]) error {
	if s.opts.SkipControlPlane || s.cp.etcdDataEmpty() {
		return status.Error(codes.FailedPrecondition, "etcd is not running on this node")
	}

	plan := s.cp.currentPlan()
	if plan == nil {
		return status.Error(codes.Unavailable, "etcd is starting")
	}

	req, err := http.NewRequestWithContext(stream.Context(), http.MethodPost,
		plan.etcdURL(etcdClientPort)+"/v3/maintenance/snapshot", strings.NewReader("{}"))
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return status.Errorf(codes.Unavailable, "etcd snapshot: %s", err)
	}
	defer resp.Body.Close() //nolint:errcheck

	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))

		return status.Errorf(codes.Unavailable, "etcd snapshot: %s: %s", resp.Status, body)
	}

	// The gateway streams one JSON object per chunk: {"result":{"remaining_bytes":..,"blob":".."}}.
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	total := 0

	for {
		var msg struct {
			Result *struct {
				Blob []byte `json:"blob"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}

		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return status.Errorf(codes.Unavailable, "etcd snapshot stream: %s", err)
		}

		if msg.Error != nil {
			return status.Errorf(codes.Unavailable, "etcd snapshot: %s", msg.Error.Message)
		}

		if msg.Result == nil || len(msg.Result.Blob) == 0 {
			continue
		}

		total += len(msg.Result.Blob)

		if err := stream.Send(&common.Data{Bytes: msg.Result.Blob}); err != nil {
			return err
		}
	}

	s.log.Info("etcd snapshot sent", "bytes", total)

	return nil
}

// etcdRecover implements MachineService/EtcdRecover: it keeps the uploaded snapshot for the
// next Bootstrap with recover_etcd, and refuses while etcd has data (as Talos does).
func (s *Simulator) etcdRecover(stream grpc.ClientStreamingServer[common.Data, machine.EtcdRecoverResponse]) error {
	s.bootstrapMu.Lock()
	defer s.bootstrapMu.Unlock()

	if s.state.bootstrapped() {
		return status.Error(codes.FailedPrecondition, "etcd data directory is not empty: recovery is for a node that lost its etcd")
	}

	tmp := s.state.path(recoverSnapshotFile + ".part")

	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}

	total := 0

	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}

		if err != nil {
			f.Close() //nolint:errcheck

			return err
		}

		n, err := f.Write(msg.GetBytes())
		total += n

		if err != nil {
			f.Close() //nolint:errcheck

			return status.Error(codes.Internal, err.Error())
		}
	}

	if err := f.Close(); err != nil {
		return status.Error(codes.Internal, err.Error())
	}

	if total == 0 {
		return status.Error(codes.InvalidArgument, "empty etcd snapshot")
	}

	if err := os.Rename(tmp, s.state.path(recoverSnapshotFile)); err != nil {
		return status.Error(codes.Internal, err.Error())
	}

	s.log.Info("etcd snapshot received for recovery", "bytes", total)

	return stream.SendAndClose(&machine.EtcdRecoverResponse{Messages: []*machine.EtcdRecover{{}}})
}

// restoreEtcd turns the uploaded snapshot into etcd's data directory with the real etcdutl,
// before the control plane starts (Bootstrap with recover_etcd).
func (s *Simulator) restoreEtcd(ctx context.Context, cfg config.Provider, skipHashCheck bool) error {
	snapshot := s.state.path(recoverSnapshotFile)
	if _, err := os.Stat(snapshot); err != nil {
		return status.Error(codes.FailedPrecondition, "no etcd snapshot uploaded: call EtcdRecover first")
	}

	dataDir := s.state.path("etcd")
	if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
		return status.Error(codes.FailedPrecondition, "etcd data directory is not empty")
	}

	if err := os.RemoveAll(dataDir); err != nil {
		return status.Error(codes.Internal, err.Error())
	}

	// The member is named after the node, as the etcd it restores for (services/etcd.go
	// recoverFromSnapshot).
	name, _, err := nodeHostname(cfg, s.ip, s.state)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}

	ip := s.cp.ip.String()
	args := []string{
		"snapshot", "restore", snapshot,
		"--data-dir", dataDir,
		"--name", name,
		"--initial-cluster", fmt.Sprintf("%s=http://%s:%d", name, ip, etcdPeerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://%s:%d", ip, etcdPeerPort),
	}
	if skipHashCheck {
		args = append(args, "--skip-hash-check")
	}

	out, err := exec.CommandContext(ctx, filepath.Join(s.opts.KubeBinDir, "etcdutl"), args...).CombinedOutput()
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "etcdutl snapshot restore: %s: %s", err, lastLine(string(out)))
	}

	s.log.Info("etcd restored from snapshot", "data_dir", dataDir)

	return os.Remove(snapshot)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")

	return lines[len(lines)-1]
}
