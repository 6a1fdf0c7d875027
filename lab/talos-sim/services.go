package main

import (
	"context"
	"runtime"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/gendata"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// machineService is machine.MachineService; every method not listed here answers
// Unimplemented through the embedded type.
type machineService struct {
	machine.UnimplementedMachineServiceServer

	sim *Simulator
}

func (m *machineService) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	return m.sim.applyConfiguration(ctx, req)
}

func (m *machineService) Bootstrap(ctx context.Context, req *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	return m.sim.bootstrap(ctx, req)
}

func (m *machineService) Kubeconfig(_ *emptypb.Empty, stream machine.MachineService_KubeconfigServer) error {
	return m.sim.kubeconfig(stream)
}

// Version reports the Talos version the node runs: the one it was installed with, or the one
// its last Upgrade installed. Re-applying a config with another installer image changes
// nothing here, as on a real node; only Upgrade does.
func (m *machineService) Version(context.Context, *emptypb.Empty) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{
		Messages: []*machine.Version{{
			Version: &machine.VersionInfo{
				Tag:       m.sim.talosVersion(),
				Sha:       "talos-sim",
				GoVersion: runtime.Version(),
				Os:        "linux",
				Arch:      runtime.GOARCH,
			},
			Platform: &machine.PlatformInfo{Name: "metal", Mode: metalMode{}.String()},
		}},
	}, nil
}

func (m *machineService) EtcdSnapshot(_ *machine.EtcdSnapshotRequest, stream grpc.ServerStreamingServer[common.Data]) error {
	return m.sim.etcdSnapshot(stream)
}

func (m *machineService) EtcdRecover(stream grpc.ClientStreamingServer[common.Data, machine.EtcdRecoverResponse]) error {
	return m.sim.etcdRecover(stream)
}

func (m *machineService) EtcdMemberList(ctx context.Context, req *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	return m.sim.etcdMemberList(ctx, req)
}

func (m *machineService) EtcdStatus(ctx context.Context, _ *emptypb.Empty) (*machine.EtcdStatusResponse, error) {
	return m.sim.etcdStatus(ctx)
}

func (m *machineService) Upgrade(ctx context.Context, req *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	return m.sim.upgrade(ctx, req)
}

// talosVersion is the version the node runs (see Simulator.version).
func (s *Simulator) talosVersion() string {
	if v := s.version.Load(); v != nil {
		return *v
	}

	return s.installedVersion(nil)
}

// installedVersion is the version an install from cfg puts on the node: --talos-version, else
// the tag of the config's installer image.
func (s *Simulator) installedVersion(cfg config.Provider) string {
	if s.opts.TalosVersion != "" {
		return s.opts.TalosVersion
	}

	// The Talos release this machinery module belongs to, for a config without an image tag.
	if cfg == nil {
		return gendata.VersionTag
	}

	// ghcr.io/siderolabs/installer:v1.11.5 -> v1.11.5; a digest-only reference has no tag.
	return imageTag(cfg.Machine().Install().Image(), gendata.VersionTag)
}

// setVersion records the version the node runs, on disk first so a restart keeps it.
func (s *Simulator) setVersion(version string) error {
	if err := s.state.saveVersion(version); err != nil {
		return err
	}

	s.version.Store(&version)

	return nil
}

// storageService is storage.StorageService with one fake disk, the install disk the
// generated configs name.
type storageService struct {
	storage.UnimplementedStorageServiceServer

	sim *Simulator
}

func (st *storageService) Disks(context.Context, *emptypb.Empty) (*storage.DisksResponse, error) {
	return &storage.DisksResponse{
		Messages: []*storage.Disks{{
			Disks: []*storage.Disk{{
				DeviceName: "/dev/sda",
				Name:       "sda",
				Model:      "TALOS-SIM DISK",
				Serial:     "TALOSSIM0001",
				Size:       128 << 30,
				Type:       storage.Disk_SSD,
				BusPath:    "/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0",
				Subsystem:  "/sys/class/block",
				// Once configured the node has installed itself onto it.
				SystemDisk: st.sim.node() != nil,
			}},
		}},
	}, nil
}
