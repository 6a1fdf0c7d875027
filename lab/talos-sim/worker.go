package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

// A worker runs no control plane: its kubelet joins the cluster through the cluster endpoint
// (the VIP) with TLS bootstrapping, as Talos's kubelet does with its bootstrap kubeconfig
// (internal/app/machined/pkg/controllers/k8s/kubelet_spec.go "bootstrap-kubeconfig", made from
// cluster.token): it authenticates with the bootstrap token, files a CertificateSigningRequest
// for system:node:<name> with the kube-apiserver-client-kubelet signer, which the controller
// manager approves (the RBAC of manifests.go) and signs, and from then on it is the node. Talos's
// NodeApplyController uses that same kubelet identity on a worker (node_apply.go getK8sClient),
// and gives a worker no role label and no taint (node_label_spec.go, kubelet_spec.go: only
// control planes get node-role.kubernetes.io/control-plane and its NoSchedule taint).

const (
	kubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet"
	// kubeletClientCertFile keeps the issued client certificate and key across restarts, as the
	// kubelet keeps /var/lib/kubelet/pki/kubelet-client-current.pem.
	kubeletClientCertFile = "kubelet/kubelet-client-current.pem"
)

// workerNode runs a worker's kubelet stand-in.
type workerNode struct {
	sim *Simulator

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *workerNode) start(cfg config.Provider) {
	w.mu.Lock()
	defer w.mu.Unlock()

	if w.cancel != nil {
		return
	}

	ctx, cancel := context.WithCancel(w.sim.ctx)
	w.cancel, w.done = cancel, make(chan struct{})

	go func() {
		defer close(w.done)
		w.run(ctx, cfg)
	}()
}

func (w *workerNode) stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()

	if cancel != nil {
		cancel()
		<-done
	}
}

func (w *workerNode) run(ctx context.Context, cfg config.Provider) {
	s := w.sim

	if cfg.Machine().Kubelet().SkipNodeRegistration() {
		s.log.Info("no Node registered: machine.kubelet.skipNodeRegistration is set")

		return
	}

	name, err := nodeName(cfg, s.ip, s.state)
	if err != nil {
		s.log.Error("worker node name", "err", err)

		return
	}

	id, err := nodeIdentity(s.state)
	if err != nil {
		s.log.Error("worker node identity", "err", err)

		return
	}

	server := cfg.Cluster().Endpoint().String()
	roots := stdx509.NewCertPool()
	roots.AppendCertsFromPEM(cfg.Cluster().IssuingCA().Crt)

	log := s.log.With("node", name)

	cert, err := w.clientCertificate(ctx, cfg, server, roots, name)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("kubelet TLS bootstrap", "err", err)
		}

		return
	}

	node := newKubeAPI(server, roots, cert)
	defer node.close()

	k := &kubelet{name: name, id: id, ip: s.ip.String(), node: node, admin: node, source: s.cp.source, log: log}
	k.loop(ctx)
}

// clientCertificate is the kubelet's client certificate: the one kept from an earlier start
// while it is valid for another hour, else a new one through TLS bootstrapping.
func (w *workerNode) clientCertificate(ctx context.Context, cfg config.Provider, server string, roots *stdx509.CertPool, name string) (tls.Certificate, error) {
	path := w.sim.state.path(kubeletClientCertFile)

	if data, err := os.ReadFile(path); err == nil {
		if cert, err := tls.X509KeyPair(data, data); err == nil && cert.Leaf != nil &&
			cert.Leaf.Subject.CommonName == "system:node:"+name && time.Until(cert.Leaf.NotAfter) > time.Hour {
			return cert, nil
		}
	}

	token := cfg.Cluster().Token().ID() + "." + cfg.Cluster().Token().Secret()

	certPEM, keyPEM, err := tlsBootstrap(ctx, server, roots, token, name, w.sim.log.Info)
	if err != nil {
		return tls.Certificate{}, err
	}

	if err = writeFileAtomic(path, append(certPEM, keyPEM...)); err != nil {
		return tls.Certificate{}, err
	}

	return tls.X509KeyPair(certPEM, keyPEM)
}

// tlsBootstrap is the kubelet's TLS bootstrap (k8s.io/kubernetes pkg/kubelet/certificate/bootstrap
// with k8s.io/client-go/util/certificate/csr): a new ECDSA key, a CSR for system:node:<name> in
// system:nodes, filed with the bootstrap token, and the certificate once the CSR is approved and
// signed. It retries until ctx ends (the cluster endpoint may not answer yet).
func tlsBootstrap(ctx context.Context, server string, roots *stdx509.CertPool, token, name string, logf func(string, ...any)) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}

	der, err := stdx509.CreateCertificateRequest(rand.Reader, &stdx509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		return nil, nil, err
	}

	keyDER, err := stdx509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}

	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})

	api := newKubeAPI(server, roots, tls.Certificate{})
	api.token = token

	defer api.close()

	const csrs = "/apis/certificates.k8s.io/v1/certificatesigningrequests"

	var created object

	logged := false

	if err = poll(ctx, 2*time.Second, func() error {
		err := api.create(ctx, csrs, object{
			"apiVersion": "certificates.k8s.io/v1",
			"kind":       "CertificateSigningRequest",
			"metadata":   object{"generateName": "node-csr-"},
			"spec": object{
				"request":    base64.StdEncoding.EncodeToString(csrPEM),
				"signerName": kubeletClientSigner,
				"usages":     []any{"digital signature", "client auth"},
			},
		}, &created)
		if err != nil && !logged {
			logf("kubelet: waiting to file its certificate signing request", "server", server, "err", err)
			logged = true
		}

		return err
	}); err != nil {
		return nil, nil, err
	}

	csrName := stringOr(child(created, "metadata")["name"])
	logf("kubelet: certificate signing request filed", "csr", csrName, "server", server)

	var certPEM []byte

	err = poll(ctx, time.Second, func() error {
		var csr object
		if err := api.get(ctx, csrs+"/"+csrName, &csr); err != nil {
			return err
		}

		st := child(csr, "status")

		conditions, _ := st["conditions"].([]any) //nolint:errcheck
		for _, c := range conditions {
			if cond, ok := c.(map[string]any); ok && (cond["type"] == "Denied" || cond["type"] == "Failed") {
				return fmt.Errorf("certificate signing request %s %s: %s", csrName, cond["type"], stringOr(cond["message"]))
			}
		}

		if encoded := stringOr(st["certificate"]); encoded != "" {
			if certPEM, err = base64.StdEncoding.DecodeString(encoded); err != nil {
				return err
			}

			return nil
		}

		return errors.New("certificate signing request " + csrName + " is not signed yet")
	})
	if err != nil {
		return nil, nil, err
	}

	if !strings.Contains(string(certPEM), "BEGIN CERTIFICATE") {
		return nil, nil, errors.New("the signed certificate is not PEM")
	}

	logf("kubelet: client certificate issued", "csr", csrName)

	return certPEM, keyPEM, nil
}
