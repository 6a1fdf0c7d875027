package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cosiv1alpha1 "github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/state/protobuf/server"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Options configure a Simulator; main fills them from flags.
type Options struct {
	// Listen is the apid address, host:port; the host must be a loopback IP.
	Listen string
	// StateDir holds the node's persistent state (see stateStore).
	StateDir string
	// KubeBinDir holds etcd, kube-apiserver and kube-controller-manager.
	KubeBinDir string
	// SkipControlPlane makes Bootstrap succeed without starting any process.
	SkipControlPlane bool
	// BootstrapTimeout bounds how long one Bootstrap call waits for the API server's /readyz.
	BootstrapTimeout time.Duration
	// TalosVersion is the version the first apply installs (default: the config's installer
	// image tag). From then on the node reports the version it runs, which only Upgrade changes.
	TalosVersion string
	// FailFirst answers the first N RPCs with Unavailable.
	FailFirst int64
	// RebootWindow keeps the node Unavailable this long after an apply that reboots it, and
	// after an Upgrade (defaultUpgradeReboot when zero: an upgrade always reboots).
	RebootWindow time.Duration
}

// Simulator is one simulated Talos node: apid on one TLS listener, switching from maintenance
// mode to normal mode when the first config is applied.
type Simulator struct {
	opts Options
	ip   net.IP
	log  *slog.Logger

	state stateStore
	cp    *controlPlane
	// resources is what the resource API serves (the MachineConfig resources).
	resources *nodeResources

	// current is nil in maintenance mode; otherwise the applied config and the TLS identity
	// derived from it. Swapped atomically so TLS handshakes never wait on an apply.
	current atomic.Pointer[nodeState]
	// maintenanceTLS is the self-signed identity of an unconfigured node.
	maintenanceTLS *tls.Config

	// version is the Talos version the node runs (nil in maintenance mode); see talosVersion.
	version atomic.Pointer[string]

	applyMu     sync.Mutex // serialises ApplyConfiguration and Upgrade
	bootstrapMu sync.Mutex // serialises Bootstrap

	rpcCount    atomic.Int64 // RPCs seen, for --fail-first
	rebootUntil atomic.Int64 // UnixNano until which the node "reboots"
	rebooting   atomic.Bool  // an upgrade's reboot: until the node's services are back

	// trustd serves workers' certificate requests on a control plane (trustd.go).
	trustdMu sync.Mutex
	trustd   *grpc.Server
	// worker runs a worker's kubelet stand-in (worker.go).
	worker *workerNode

	// ctx ends with Shutdown, and with it the node's background work.
	ctx    context.Context
	cancel context.CancelFunc

	server       *grpc.Server
	shutdownOnce sync.Once
}

// nodeState is what the node derives from an applied config: the config and apid's TLS
// identity (nil until a worker has its certificate from trustd).
type nodeState struct {
	config config.Provider
	tls    atomic.Pointer[tls.Config]
}

// New builds a simulator from its state directory: a node that had a config comes back in
// normal mode, like a rebooted Talos node.
func New(opts Options, log *slog.Logger) (*Simulator, error) {
	host, port, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}

	ip := net.ParseIP(host)
	// The lab never touches a real network: everything lives on 127.0.0.0/8.
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil, fmt.Errorf("--listen: %q is not an IPv4 loopback address", host)
	}

	if _, err = strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("--listen: bad port %q", port)
	}

	state, err := newStateStore(opts.StateDir)
	if err != nil {
		return nil, err
	}

	maintenance, err := maintenanceTLSConfig(ip)
	if err != nil {
		return nil, err
	}

	resources, err := newNodeResources()
	if err != nil {
		return nil, fmt.Errorf("resource state: %w", err)
	}

	portNumber, _ := strconv.Atoi(port) //nolint:errcheck // checked above

	s := &Simulator{
		opts:           opts,
		ip:             ip,
		log:            log,
		state:          state,
		resources:      resources,
		maintenanceTLS: maintenance,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cp = newControlPlane(ip, opts.KubeBinDir, state, log)
	s.cp.source = func() (config.Provider, string) { return s.node().config, s.talosVersion() }
	s.cp.apidPort = portNumber
	s.worker = &workerNode{sim: s}

	if err = s.restore(); err != nil {
		return nil, err
	}

	// One listener for both modes: the TLS layer picks the identity per handshake.
	creds := handshakeLogger{
		TransportCredentials: credentials.NewTLS(&tls.Config{GetConfigForClient: s.tlsConfigForClient}),
		sim:                  s,
	}
	s.server = grpc.NewServer(
		grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	)
	machine.RegisterMachineServiceServer(s.server, &machineService{sim: s})
	storage.RegisterStorageServiceServer(s.server, &storageService{sim: s})
	cosiv1alpha1.RegisterStateServer(s.server, server.NewState(s.resources.served()))

	return s, nil
}

// restore loads the applied config from the state directory, as a node does on boot.
func (s *Simulator) restore() error {
	promoted, err := s.state.promoteStagedConfig()
	if err != nil {
		return fmt.Errorf("promoting the staged config: %w", err)
	}

	data, err := s.state.loadConfig()
	if err != nil {
		return err
	}

	if data == nil {
		s.log.Info("no config in the state dir: maintenance mode")

		return nil
	}

	cfg, _, err := loadConfig(data, true)
	if err != nil {
		return fmt.Errorf("the config in %s no longer loads: %w", s.state.path(configFile), err)
	}

	next, err := s.newNodeState(cfg)
	if err != nil {
		return err
	}

	// A booted node's running config is also the persisted one (a staged one was promoted).
	if err = s.resources.setMachineConfig(cfg, true); err != nil {
		return err
	}

	s.current.Store(next)
	s.awaitWorkerIdentity(next)

	upgraded, err := s.restoreVersion(cfg)
	if err != nil {
		return err
	}

	s.log.Info("config restored: normal mode", "staged_promoted", promoted, "bootstrapped", s.state.bootstrapped(),
		"version", s.talosVersion(), "staged_upgrade_promoted", upgraded)

	return nil
}

// restoreVersion loads the running version, promoting a staged upgrade first (the start is the
// reboot it waited for). A state dir from before versions were recorded gets the version its
// config installed, pinned from now on.
func (s *Simulator) restoreVersion(cfg config.Provider) (bool, error) {
	upgraded, err := s.state.promoteStagedVersion()
	if err != nil {
		return false, fmt.Errorf("promoting the staged upgrade: %w", err)
	}

	version, err := s.state.loadVersion()
	if err != nil {
		return false, err
	}

	if version == "" {
		version = s.installedVersion(cfg)
		if err = s.state.saveVersion(version); err != nil {
			return false, err
		}
	}

	s.version.Store(&version)

	return upgraded, nil
}

// node returns the normal-mode state, or nil in maintenance mode.
func (s *Simulator) node() *nodeState {
	return s.current.Load()
}

// Serve answers on lis until Shutdown. A configured node starts its services first, as Talos
// does on boot (bootServices).
func (s *Simulator) Serve(lis net.Listener) error {
	if n := s.node(); n != nil {
		s.bootServices(n.config)
	}

	s.log.Info("serving", "listen", lis.Addr().String(), "mode", s.modeName())

	return s.server.Serve(lis)
}

// Shutdown stops serving and stops the control-plane processes; safe to call twice.
func (s *Simulator) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.server.Stop()
		s.cancel()
		s.cp.shutdown()
		s.worker.stop()

		s.trustdMu.Lock()
		if s.trustd != nil {
			s.trustd.Stop()
		}
		s.trustdMu.Unlock()
	})
}

// bootServices starts what a configured node runs, as after a boot: on a control plane trustd
// and the etcd service (which joins the cluster, or starts from its data) with the rest of the
// control plane after it; on a worker the kubelet. --skip-control-plane starts none of it.
func (s *Simulator) bootServices(cfg config.Provider) {
	if s.opts.SkipControlPlane {
		return
	}

	if !cfg.Machine().Type().IsControlPlane() {
		s.worker.start(cfg)

		return
	}

	if err := s.startTrustd(cfg); err != nil {
		s.log.Error("starting trustd", "err", err)
	}

	if err := s.cp.start(cfg, false); err != nil {
		s.log.Error("starting the control plane", "err", err)
	}
}

func (s *Simulator) modeName() string {
	if s.node() == nil {
		return "maintenance"
	}

	return "normal"
}
