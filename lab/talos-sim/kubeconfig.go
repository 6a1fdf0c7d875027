package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	stdx509 "crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"
)

// kubeconfig implements machine.MachineService/Kubeconfig: a stream of common.Data whose
// bytes are a gzip'd tar holding one file named "kubeconfig", as Talos sends it.
func (s *Simulator) kubeconfig(stream machine.MachineService_KubeconfigServer) error {
	cfg := s.node().config

	if !cfg.Machine().Type().IsControlPlane() {
		return status.Error(codes.FailedPrecondition, "kubeconfig is only available on control plane nodes")
	}

	kubeconfig, err := adminKubeconfig(cfg)
	if err != nil {
		return status.Errorf(codes.Internal, "generating the admin kubeconfig: %s", err)
	}

	archive, err := tarGz("kubeconfig", kubeconfig)
	if err != nil {
		return status.Errorf(codes.Internal, "archiving the kubeconfig: %s", err)
	}

	return stream.Send(&common.Data{Bytes: archive})
}

// adminKubeconfig issues a fresh admin client certificate from the cluster CA, like Talos:
// CN=admin in system:masters, valid for cluster.adminKubeconfig.certLifetime (default a year),
// pointed at cluster.controlPlane.endpoint. The provider renews it when it is near expiry and
// crashes on a kubeconfig whose current context, cluster or user is missing, so all three are
// always written.
func adminKubeconfig(cfg config.Provider) ([]byte, error) {
	lifetime := cfg.Cluster().AdminKubeconfig().CertLifetime()

	cert, err := issueClusterCert(cfg.Cluster().IssuingCA(),
		x509.CommonName("admin"),
		x509.Organization("system:masters"),
		x509.NotAfter(time.Now().Add(lifetime)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}),
	)
	if err != nil {
		return nil, err
	}

	return renderKubeconfig(kubeconfigParams{
		cluster: cfg.Cluster().Name(),
		user:    "admin@" + cfg.Cluster().Name(),
		context: "admin@" + cfg.Cluster().Name(),
		server:  cfg.Cluster().Endpoint().String(),
		caPEM:   cfg.Cluster().IssuingCA().Crt,
		certPEM: cert.CrtPEM,
		keyPEM:  cert.KeyPEM,
	})
}

// issueClusterCert signs a certificate with a Kubernetes-side CA from the config (cluster.ca
// or cluster.aggregatorCA). Validity starts a minute early to tolerate clock skew between
// processes.
func issueClusterCert(caPair *x509.PEMEncodedCertificateAndKey, opts ...x509.Option) (*x509.KeyPair, error) {
	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(caPair)
	if err != nil {
		return nil, fmt.Errorf("loading the CA: %w", err)
	}

	opts = append([]x509.Option{
		x509.NotBefore(time.Now().Add(-time.Minute)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature | stdx509.KeyUsageKeyEncipherment),
	}, opts...)

	return x509.NewKeyPair(ca, opts...)
}

type kubeconfigParams struct {
	cluster, user, context, server string
	caPEM, certPEM, keyPEM         []byte
}

// The kubeconfig schema, only the fields written here. The *-data fields are plain strings
// holding base64, as kubectl writes them (yaml.v3 would tag a []byte as !!binary).
type kubeconfigFile struct {
	APIVersion     string              `yaml:"apiVersion"`
	Kind           string              `yaml:"kind"`
	Clusters       []kubeconfigCluster `yaml:"clusters"`
	Users          []kubeconfigUser    `yaml:"users"`
	Contexts       []kubeconfigContext `yaml:"contexts"`
	CurrentContext string              `yaml:"current-context"`
	Preferences    struct{}            `yaml:"preferences"`
}

type kubeconfigCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server                   string `yaml:"server"`
		CertificateAuthorityData string `yaml:"certificate-authority-data"`
	} `yaml:"cluster"`
}

type kubeconfigUser struct {
	Name string `yaml:"name"`
	User struct {
		ClientCertificateData string `yaml:"client-certificate-data"`
		ClientKeyData         string `yaml:"client-key-data"`
	} `yaml:"user"`
}

type kubeconfigContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster   string `yaml:"cluster"`
		User      string `yaml:"user"`
		Namespace string `yaml:"namespace,omitempty"`
	} `yaml:"context"`
}

func renderKubeconfig(p kubeconfigParams) ([]byte, error) {
	var (
		cluster kubeconfigCluster
		user    kubeconfigUser
		context kubeconfigContext
	)

	cluster.Name = p.cluster
	cluster.Cluster.Server = p.server
	cluster.Cluster.CertificateAuthorityData = b64(p.caPEM)

	user.Name = p.user
	user.User.ClientCertificateData = b64(p.certPEM)
	user.User.ClientKeyData = b64(p.keyPEM)

	context.Name = p.context
	context.Context.Cluster = p.cluster
	context.Context.User = p.user
	context.Context.Namespace = "default"

	return yaml.Marshal(kubeconfigFile{
		APIVersion:     "v1",
		Kind:           "Config",
		Clusters:       []kubeconfigCluster{cluster},
		Users:          []kubeconfigUser{user},
		Contexts:       []kubeconfigContext{context},
		CurrentContext: p.context,
	})
}

// tarGz packs one file into a gzip'd tar.
func tarGz(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer

	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)

	hdr := &tar.Header{
		Name:     name,
		Mode:     0o600,
		Size:     int64(len(data)),
		ModTime:  time.Now(),
		Typeflag: tar.TypeReg,
	}

	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}

	if _, err := tw.Write(data); err != nil {
		return nil, err
	}

	if err := tw.Close(); err != nil {
		return nil, err
	}

	if err := gz.Close(); err != nil {
		return nil, err
	}

	return buf.Bytes(), nil
}

func b64(data []byte) string {
	return base64.StdEncoding.EncodeToString(data)
}
