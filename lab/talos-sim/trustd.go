package main

import (
	"bytes"
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/siderolabs/crypto/x509"
	securityapi "github.com/siderolabs/talos/pkg/machinery/api/security"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// trustd: a worker's apid has no OS CA key (a worker config carries machine.ca's certificate
// only), so it asks a control plane's trustd to sign its serving certificate, authenticating
// with machine.token (internal/app/trustd/main.go, internal/app/trustd/internal/reg/reg.go; the
// worker side is internal/app/machined/pkg/controllers/secrets/api.go generateWorker with
// pkg/grpc/gen/remote.go). The worker reaches trustd on port 50001 of the control-plane
// endpoints, which in the lab is the cluster endpoint's host (the VIP, whose holder forwards the
// port).

// trustdServer is the SecurityService on a control plane.
type trustdServer struct {
	securityapi.UnimplementedSecurityServiceServer

	cfg config.Provider
	log func(msg string, args ...any)
}

// startTrustd serves trustd on the node's address, port 50001, with a serving certificate from
// the OS CA, until Shutdown.
func (s *Simulator) startTrustd(cfg config.Provider) error {
	s.trustdMu.Lock()
	defer s.trustdMu.Unlock()

	if s.trustd != nil {
		return nil
	}

	identity, err := osServingCert(cfg, s.ip)
	if err != nil {
		return fmt.Errorf("trustd certificate: %w", err)
	}

	lis, err := net.Listen("tcp", net.JoinHostPort(s.ip.String(), strconv.Itoa(trustdPort)))
	if err != nil {
		return fmt.Errorf("trustd: %w", err)
	}

	token := cfg.Machine().Security().Token()
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{identity},
			NextProtos:   alpnH2,
			MinVersion:   tls.VersionTLS12,
		})),
		// basic.TokenCredentials' interceptor: the "token" metadata must be machine.token.
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if md, ok := metadata.FromIncomingContext(ctx); !ok || len(md["token"]) == 0 || md["token"][0] != token {
				return nil, errors.New(codes.Unauthenticated.String())
			}

			return handler(ctx, req)
		}),
	)
	securityapi.RegisterSecurityServiceServer(srv, &trustdServer{cfg: cfg, log: s.log.Info})
	s.trustd = srv

	go srv.Serve(lis) //nolint:errcheck

	s.log.Info("trustd serving", "listen", lis.Addr().String())

	return nil
}

// Certificate is reg.go Certificate: sign the CSR with the OS CA for server auth only (an
// Organization, which would make it a client identity, is removed) and answer with the
// accepted CAs.
func (t *trustdServer) Certificate(ctx context.Context, in *securityapi.CertificateRequest) (*securityapi.CertificateResponse, error) {
	remote, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.PermissionDenied, "peer not found")
	}

	block, _ := pem.Decode(in.Csr)
	if block == nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed to decode CSR")
	}

	request, err := stdx509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed to parse CSR: %s", err)
	}

	t.log("received CSR signing request", "peer", remote.Addr.String(), "subject", request.Subject.String(),
		"dns_names", request.DNSNames, "addresses", fmt.Sprint(request.IPAddresses))

	opts := []x509.Option{
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	}

	if len(request.Subject.Organization) > 0 {
		opts = append(opts, x509.OverrideSubject(func(subject *pkix.Name) { subject.Organization = nil }))
	}

	ca := t.cfg.Machine().Security().IssuingCA()

	signed, err := x509.NewCertificateFromCSRBytes(ca.Crt, ca.Key, in.Csr, opts...)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "failed to sign CSR: %s", err)
	}

	accepted := [][]byte{ca.Crt}
	for _, c := range t.cfg.Machine().Security().AcceptedCAs() {
		accepted = append(accepted, c.Crt)
	}

	return &securityapi.CertificateResponse{Ca: bytes.Join(accepted, nil), Crt: signed.X509CertificatePEM}, nil
}

// osServingCert is a serving certificate from the OS CA for the node's address, its hostname,
// machine.certSANs and the VIP (an address of the node while it holds it).
func osServingCert(cfg config.Provider, ip net.IP) (tls.Certificate, error) {
	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(cfg.Machine().Security().IssuingCA())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("machine.ca: %w", err)
	}

	ips, dnsNames, commonName := apidSANs(cfg, ip)

	pair, err := x509.NewKeyPair(ca,
		x509.CommonName(commonName),
		x509.IPAddresses(ips),
		x509.DNSNames(dnsNames),
		x509.NotBefore(time.Now().Add(-time.Minute)),
		x509.NotAfter(time.Now().Add(365*24*time.Hour)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	)
	if err != nil {
		return tls.Certificate{}, err
	}

	return *pair.Certificate, nil
}

// apidSANs are the names an apid (or trustd) serving certificate carries (Talos's
// secrets.CertSAN for the API: the node's addresses, hostname and machine.certSANs).
func apidSANs(cfg config.Provider, ip net.IP) ([]net.IP, []string, string) {
	ips := []net.IP{ip}
	dnsNames := []string{"localhost"}
	commonName := ip.String()

	if hostname := cfg.Machine().Network().Hostname(); hostname != "" {
		dnsNames = append(dnsNames, hostname)
		commonName = hostname
	}

	if vip := net.ParseIP(configVIP(cfg)); vip != nil {
		ips = append(ips, vip)
	}

	for _, san := range cfg.Machine().Security().CertSANs() {
		if parsed := net.ParseIP(san); parsed != nil {
			ips = append(ips, parsed)
		} else {
			dnsNames = append(dnsNames, san)
		}
	}

	return ips, dnsNames, commonName
}

// tokenCredentials is basic.TokenCredentials on the client side: the "token" metadata.
type tokenCredentials string

func (t tokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"token": string(t)}, nil
}

func (tokenCredentials) RequireTransportSecurity() bool { return true }

// requestWorkerIdentity is generateWorker: a CSR for the node's names, signed by trustd on the
// control-plane endpoints (retried until it succeeds or ctx ends), and the TLS identity made from
// it. Clients are verified against the OS CA as on a control plane.
func requestWorkerIdentity(ctx context.Context, cfg config.Provider, ip net.IP, logf func(string, ...any)) (*tls.Config, error) {
	caPEM := cfg.Machine().Security().IssuingCA().Crt

	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, errors.New("machine.ca.crt holds no certificate")
	}

	caCert, err := stdx509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("machine.ca.crt: %w", err)
	}

	ips, dnsNames, commonName := apidSANs(cfg, ip)

	csr, identity, err := x509.NewCSRAndIdentityFromCA(caCert,
		x509.IPAddresses(ips), x509.DNSNames(dnsNames), x509.CommonName(commonName))
	if err != nil {
		return nil, fmt.Errorf("failed to generate API server CSR: %w", err)
	}

	roots := stdx509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	for _, accepted := range cfg.Machine().Security().AcceptedCAs() {
		roots.AppendCertsFromPEM(accepted.Crt)
	}

	host := cfg.Cluster().Endpoint().Hostname()

	conn, err := grpc.NewClient(net.JoinHostPort(host, strconv.Itoa(trustdPort)),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})),
		grpc.WithPerRPCCredentials(tokenCredentials(cfg.Machine().Security().Token())),
	)
	if err != nil {
		return nil, fmt.Errorf("failed creating trustd client: %w", err)
	}
	defer conn.Close() //nolint:errcheck

	client := securityapi.NewSecurityServiceClient(conn)

	var resp *securityapi.CertificateResponse

	logged := false

	err = poll(ctx, time.Second, func() error {
		attemptCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()

		resp, err = client.Certificate(attemptCtx, &securityapi.CertificateRequest{Csr: csr.X509CertificateRequestPEM})
		if err != nil && !logged {
			logf("waiting for trustd to sign the apid certificate", "endpoint", host, "err", err)
			logged = true
		}

		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to sign API server CSR: %w", err)
	}

	cert, err := tls.X509KeyPair(resp.Crt, identity.Key)
	if err != nil {
		return nil, fmt.Errorf("trustd's certificate: %w", err)
	}

	clientCAs := stdx509.NewCertPool()
	clientCAs.AppendCertsFromPEM(caPEM)

	for _, accepted := range cfg.Machine().Security().AcceptedCAs() {
		clientCAs.AppendCertsFromPEM(accepted.Crt)
	}

	logf("apid certificate signed by trustd", "endpoint", host)

	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		NextProtos:   alpnH2,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
