package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/tls"
	stdx509 "crypto/x509"
	"encoding/pem"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// untarSingle checks raw is a gzip'd tar with exactly one entry, name, and returns it.
func untarSingle(t *testing.T, raw []byte, name string) []byte {
	t.Helper()

	gz, err := gzip.NewReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}

	tr := tar.NewReader(gz)

	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}

	if hdr.Name != name {
		t.Fatalf("tar entry %q, want %q", hdr.Name, name)
	}

	data, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}

	if _, err = tr.Next(); err != io.EOF {
		t.Fatalf("more than one tar entry (next: %v)", err)
	}

	return data
}

// parsedKubeconfig is the admin kubeconfig read back with a schema of the test's own.
type parsedKubeconfig struct {
	server   string
	caPEM    []byte
	certPEM  []byte
	keyPEM   []byte
	leafCert *stdx509.Certificate
}

func parseKubeconfig(t *testing.T, data []byte) parsedKubeconfig {
	t.Helper()

	var kc struct {
		CurrentContext string `yaml:"current-context"`
		Contexts       []struct {
			Name    string
			Context struct{ Cluster, User string }
		}
		Clusters []struct {
			Name    string
			Cluster struct {
				Server string
				CA     string `yaml:"certificate-authority-data"`
			}
		}
		Users []struct {
			Name string
			User struct {
				Cert string `yaml:"client-certificate-data"`
				Key  string `yaml:"client-key-data"`
			}
		}
	}

	if err := yaml.Unmarshal(data, &kc); err != nil {
		t.Fatal(err)
	}

	var out parsedKubeconfig

	found := false

	for _, ctx := range kc.Contexts {
		if ctx.Name != kc.CurrentContext {
			continue
		}

		for _, cl := range kc.Clusters {
			if cl.Name == ctx.Context.Cluster {
				out.server, out.caPEM = cl.Cluster.Server, decodeB64(t, cl.Cluster.CA)
			}
		}

		for _, u := range kc.Users {
			if u.Name == ctx.Context.User {
				out.certPEM, out.keyPEM = decodeB64(t, u.User.Cert), decodeB64(t, u.User.Key)
				found = true
			}
		}
	}

	if !found || out.server == "" || len(out.caPEM) == 0 {
		t.Fatalf("current context %q does not resolve to a cluster and a user:\n%s", kc.CurrentContext, data)
	}

	block, _ := pem.Decode(out.certPEM)
	if block == nil {
		t.Fatal("client-certificate-data is not PEM")
	}

	leaf, err := stdx509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	out.leafCert = leaf

	return out
}

func checkAdminKubeconfig(t *testing.T, data []byte, cluster *testCluster) parsedKubeconfig {
	t.Helper()

	kc := parseKubeconfig(t, data)

	if want := cluster.config.Cluster().Endpoint().String(); kc.server != want {
		t.Errorf("server = %q, want %q", kc.server, want)
	}

	if string(kc.caPEM) != string(cluster.secrets.Certs.K8s.Crt) {
		t.Error("certificate-authority-data is not the cluster CA")
	}

	leaf := kc.leafCert
	if leaf.Subject.CommonName != "admin" || !slices.Contains(leaf.Subject.Organization, "system:masters") {
		t.Errorf("subject = %v, want CN=admin O=system:masters", leaf.Subject)
	}

	if life := time.Until(leaf.NotAfter); life < 364*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("client certificate valid for %s, want a year", life)
	}

	roots := stdx509.NewCertPool()
	roots.AppendCertsFromPEM(cluster.secrets.Certs.K8s.Crt)

	if _, err := leaf.Verify(stdx509.VerifyOptions{Roots: roots, KeyUsages: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against the cluster CA: %v", err)
	}

	if _, err := tls.X509KeyPair(kc.certPEM, kc.keyPEM); err != nil {
		t.Errorf("client key does not match the certificate: %v", err)
	}

	return kc
}
