package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// gRPC clients since grpc-go 1.67 refuse a server that does not negotiate ALPN "h2". Configs
// returned from GetConfigForClient do not inherit the h2 that credentials.NewTLS adds to the
// base config, so each one names it itself.
var alpnH2 = []string{"h2"}

// maintenanceTLSConfig is an unconfigured node's TLS: a throw-away self-signed certificate and
// no client certificate requested. Clients connect with InsecureSkipVerify, exactly as
// `talosctl --insecure` and the provider's first probe do.
func maintenanceTLSConfig(ip net.IP) (*tls.Config, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}

	serial, err := x509.NewSerialNumber()
	if err != nil {
		return nil, err
	}

	tmpl := &stdx509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "talos-sim maintenance"},
		IPAddresses:  []net.IP{ip},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour * 365),
		KeyUsage:     stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth},
	}

	der, err := stdx509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}

	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.NoClientCert,
		NextProtos:   alpnH2,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// newNodeState derives the normal-mode apid identity from a config, as Talos does: a server
// certificate issued by the OS CA (machine.ca) for the node's address, hostname, the VIP and
// machine.certSANs, and a hard requirement for a client certificate signed by that same CA. A
// worker has no OS CA key: its identity comes from trustd later (awaitWorkerIdentity), and until
// then apid refuses every handshake, as a worker's apid is not up before it has a certificate.
//
// RequireAndVerifyClientCert, not VerifyClientCertIfGiven: the provider first dials without a
// client certificate and calls Disks; if that succeeded it would take the node for one in
// maintenance mode and run everything on the wrong connection.
func (s *Simulator) newNodeState(cfg config.Provider) (*nodeState, error) {
	n := &nodeState{config: cfg}

	if !cfg.Machine().Type().IsControlPlane() {
		return n, nil
	}

	serving, err := osServingCert(cfg, s.ip)
	if err != nil {
		return nil, fmt.Errorf("issuing the apid certificate: %w", err)
	}

	// Client certificates may come from the issuing CA or any accepted one (CA rotation).
	clientCAs := stdx509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(cfg.Machine().Security().IssuingCA().Crt) {
		return nil, errors.New("machine.ca.crt holds no certificate")
	}

	for _, accepted := range cfg.Machine().Security().AcceptedCAs() {
		clientCAs.AppendCertsFromPEM(accepted.Crt)
	}

	n.tls.Store(&tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		NextProtos:   alpnH2,
		MinVersion:   tls.VersionTLS12,
	})

	return n, nil
}

// awaitWorkerIdentity obtains a worker's apid identity from trustd in the background; it is
// dropped if another config has replaced n by then.
func (s *Simulator) awaitWorkerIdentity(n *nodeState) {
	if n.tls.Load() != nil {
		return
	}

	go func() {
		identity, err := requestWorkerIdentity(s.ctx, n.config, s.ip, s.log.Info)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("worker apid identity", "err", err)
			}

			return
		}

		n.tls.Store(identity)
	}()
}

// tlsConfigForClient picks the identity for each handshake from the node's current mode, so
// an apply switches modes without re-opening the listener.
func (s *Simulator) tlsConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	if n := s.node(); n != nil {
		if identity := n.tls.Load(); identity != nil {
			return identity, nil
		}

		return nil, errors.New("apid is not up yet: waiting for trustd to sign its certificate")
	}

	return s.maintenanceTLS, nil
}

// peerRoles returns the Talos roles in the verified client certificate's Organization.
// ok is false when the connection carries no verified client certificate (it was opened in
// maintenance mode).
func peerRoles(ctx context.Context) (roles role.Set, ok bool) {
	p, found := peer.FromContext(ctx)
	if !found {
		return role.Set{}, false
	}

	info, isTLS := p.AuthInfo.(credentials.TLSInfo)
	if !isTLS || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return role.Set{}, false
	}

	// Unknown roles are ignored, as Talos does; they grant nothing.
	roles, _ = role.Parse(info.State.VerifiedChains[0][0].Subject.Organization)

	return roles, true
}

// handshakeLogger logs refused TLS handshakes. In normal mode the provider's insecure probe
// never becomes an RPC: it dies in the handshake ("certificate required"), and the lab wants
// to see it in the log next to the RPC lines.
type handshakeLogger struct {
	credentials.TransportCredentials

	sim *Simulator
}

func (h handshakeLogger) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	mode := h.sim.modeName()

	secured, info, err := h.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		h.sim.log.Info("handshake", "peer", conn.RemoteAddr().String(), "mode", mode, "error", err.Error())
	}

	return secured, info, err
}

// Clone keeps the wrapper: gRPC clones credentials before use.
func (h handshakeLogger) Clone() credentials.TransportCredentials {
	return handshakeLogger{TransportCredentials: h.TransportCredentials.Clone(), sim: h.sim}
}
