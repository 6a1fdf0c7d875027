package main

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
)

// controlPlanePlan is everything derived from the config that the control-plane processes
// need: listen addresses and the files their flags point at.
type controlPlanePlan struct {
	ip           string
	apiPort      int
	clusterName  string
	serviceCIDRs string
	podCIDRs     string
	pkiDir       string
	// auditLog is where the API server writes its audit log (Talos: /var/log/audit/kube).
	auditLog      string
	hasAggregator bool
	// probe is an admin client identity for polling /readyz; kept in memory only.
	probeCert tls.Certificate
	// nodeName is the Node the kubelet stand-in registers ("" with
	// machine.kubelet.skipNodeRegistration), nodeID the node's identity (state: node-identity)
	// and kubeletCert the kubelet's system:node client certificate.
	nodeName    string
	nodeID      string
	kubeletCert tls.Certificate
	// talosAPIAccess: the config lets pods use the Talos API, so Talos's ServiceAccount type exists.
	talosAPIAccess bool
	caPool         *stdx509.CertPool
	// etcdName is the node's etcd member name: its hostname (etcd/spec.go).
	etcdName string
	// issuer is the service-account issuer: the cluster endpoint.
	issuer string
	// vip is the shared IP of machine.network.interfaces[].vip ("" without one), and clusterPort
	// the cluster endpoint's port, which the VIP's holder serves.
	vip         string
	clusterPort int
	// bootstrapToken is cluster.token ("<id>.<secret>"), the kubelet bootstrap token.
	bootstrapToken string
}

func (p *controlPlanePlan) file(name string) string { return p.pkiDir + "/" + name }

func (p *controlPlanePlan) apiServerURL() string {
	return "https://" + net.JoinHostPort(p.ip, strconv.Itoa(p.apiPort))
}

func (p *controlPlanePlan) etcdURL(port int) string {
	return "http://" + net.JoinHostPort(p.ip, strconv.Itoa(port))
}

// etcdEndpoint is the node's own etcd for a client (Talos: NewLocalClient).
func (p *controlPlanePlan) etcdEndpoint() string {
	return net.JoinHostPort(p.ip, strconv.Itoa(etcdClientPort))
}

// planControlPlane writes the control plane's key material into <state>/pki. All of it comes
// from the applied config: the cluster CA signs the API server's serving certificate and every
// client certificate, and the service-account key is the config's, so tokens and the admin
// kubeconfig the simulator hands out verify exactly as on a real Talos node. The files are
// rewritten on every start, so a re-applied config takes effect at the next start.
func planControlPlane(cfg config.Provider, ip net.IP, state stateStore) (*controlPlanePlan, error) {
	cluster := cfg.Cluster()

	port, err := apiServerPort(cluster.Endpoint(), cluster.LocalAPIServerPort())
	if err != nil {
		return nil, err
	}

	serviceCIDRs := cluster.Network().ServiceCIDRs()
	if len(serviceCIDRs) == 0 {
		serviceCIDRs = []string{"10.96.0.0/12"}
	}

	plan := &controlPlanePlan{
		ip:             ip.String(),
		apiPort:        port,
		clusterName:    cluster.Name(),
		serviceCIDRs:   strings.Join(serviceCIDRs, ","),
		podCIDRs:       strings.Join(cluster.Network().PodCIDRs(), ","),
		pkiDir:         state.path("pki"),
		issuer:         cluster.Endpoint().String(),
		vip:            configVIP(cfg),
		clusterPort:    port,
		bootstrapToken: cluster.Token().ID() + "." + cluster.Token().Secret(),
		auditLog:       state.path("audit", "kube-apiserver.log"),
		caPool:         stdx509.NewCertPool(),
	}

	ca := cluster.IssuingCA()
	if ca == nil || len(ca.Key) == 0 {
		return nil, fmt.Errorf("cluster.ca with a key is required to run a control plane")
	}

	if cluster.ServiceAccount() == nil || len(cluster.ServiceAccount().Key) == 0 {
		return nil, fmt.Errorf("cluster.serviceAccount.key is required to run a control plane")
	}

	plan.caPool.AppendCertsFromPEM(ca.Crt)

	files := map[string][]byte{
		"ca.crt": ca.Crt,
		"ca.key": ca.Key, // kube-controller-manager signs CSRs (kubelet certificates) with it
		"sa.key": cluster.ServiceAccount().Key,
	}

	// kube-apiserver serving certificate: every name a client may use for it.
	ips, dnsNames := apiServerSANs(cfg, ip, serviceCIDRs[0])

	serving, err := issueClusterCert(ca,
		x509.CommonName("kube-apiserver"),
		x509.IPAddresses(ips),
		x509.DNSNames(dnsNames),
		x509.NotAfter(time.Now().Add(365*24*time.Hour)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
	)
	if err != nil {
		return nil, fmt.Errorf("apiserver certificate: %w", err)
	}

	files["apiserver.crt"], files["apiserver.key"] = serving.CrtPEM, serving.KeyPEM

	// kube-controller-manager's identity, the one its RBAC role is bound to.
	kcm, err := issueClusterCert(ca,
		x509.CommonName("system:kube-controller-manager"),
		x509.NotAfter(time.Now().Add(365*24*time.Hour)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}),
	)
	if err != nil {
		return nil, fmt.Errorf("controller-manager certificate: %w", err)
	}

	files["controller-manager.kubeconfig"], err = renderKubeconfig(kubeconfigParams{
		cluster: plan.clusterName,
		user:    "system:kube-controller-manager",
		context: "system:kube-controller-manager@" + plan.clusterName,
		server:  plan.apiServerURL(),
		caPEM:   ca.Crt,
		certPEM: kcm.CrtPEM,
		keyPEM:  kcm.KeyPEM,
	})
	if err != nil {
		return nil, err
	}

	// The aggregation layer (metrics-server and other APIServices) authenticates the API server
	// by a front-proxy client certificate from cluster.aggregatorCA, as Talos configures it.
	if agg := cluster.AggregatorCA(); agg != nil && len(agg.Key) > 0 {
		proxy, err := issueClusterCert(agg,
			x509.CommonName("front-proxy-client"),
			x509.NotAfter(time.Now().Add(365*24*time.Hour)),
			x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}),
		)
		if err != nil {
			return nil, fmt.Errorf("front-proxy certificate: %w", err)
		}

		files["aggregator-ca.crt"] = agg.Crt
		files["front-proxy-client.crt"], files["front-proxy-client.key"] = proxy.CrtPEM, proxy.KeyPEM
		plan.hasAggregator = true
	}

	// The API server's admission and encryption configuration, rendered as Talos renders them.
	if files[admissionConfigFile], err = admissionControlConfig(cfg); err != nil {
		return nil, fmt.Errorf("admission control config: %w", err)
	}

	if files[encryptionConfigFile], err = encryptionConfig(cfg); err != nil {
		return nil, fmt.Errorf("encryption config: %w", err)
	}

	if files[auditPolicyFile], err = auditPolicy(cfg); err != nil {
		return nil, fmt.Errorf("audit policy: %w", err)
	}

	if err = os.MkdirAll(filepath.Dir(plan.auditLog), 0o700); err != nil {
		return nil, err
	}

	for name, data := range files {
		if err = writeFileAtomic(plan.file(name), data); err != nil {
			return nil, err
		}
	}

	if err = planNode(plan, cfg, ip, state); err != nil {
		return nil, err
	}

	if plan.etcdName, _, err = nodeHostname(cfg, ip, state); err != nil {
		return nil, err
	}

	probe, err := issueClusterCert(ca,
		x509.CommonName("talos-sim:readiness-probe"),
		x509.Organization("system:masters"),
		x509.NotAfter(time.Now().Add(365*24*time.Hour)),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}),
	)
	if err != nil {
		return nil, err
	}

	plan.probeCert = *probe.Certificate

	return plan, nil
}

// apiServerPort is the port of cluster.controlPlane.endpoint, where clients will look for the
// API server; without one, Talos's local API server port.
func apiServerPort(endpoint *url.URL, fallback int) (int, error) {
	if endpoint == nil || endpoint.Port() == "" {
		return fallback, nil
	}

	port, err := strconv.Atoi(endpoint.Port())
	if err != nil {
		return 0, fmt.Errorf("cluster.controlPlane.endpoint port: %w", err)
	}

	return port, nil
}

func apiServerSANs(cfg config.Provider, ip net.IP, serviceCIDR string) ([]net.IP, []string) {
	ips := []net.IP{ip, net.IPv4(127, 0, 0, 1)}

	// The first address of the service range is the in-cluster "kubernetes" Service.
	if _, cidr, err := net.ParseCIDR(serviceCIDR); err == nil {
		first := make(net.IP, len(cidr.IP))
		copy(first, cidr.IP)
		first[len(first)-1]++
		ips = append(ips, first)
	}

	domain := cfg.Cluster().Network().DNSDomain()
	if domain == "" {
		domain = "cluster.local"
	}

	dnsNames := []string{
		"localhost",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain,
	}

	extra := append([]string{}, cfg.Cluster().CertSANs()...)
	if endpoint := cfg.Cluster().Endpoint(); endpoint != nil {
		extra = append(extra, endpoint.Hostname())
	}

	if hostname := cfg.Machine().Network().Hostname(); hostname != "" {
		extra = append(extra, hostname)
	}

	// The VIP is one of the node's addresses while it holds it.
	if vip := configVIP(cfg); vip != "" {
		extra = append(extra, vip)
	}

	for _, san := range extra {
		if parsed := net.ParseIP(san); parsed != nil {
			ips = append(ips, parsed)
		} else if san != "" {
			dnsNames = append(dnsNames, san)
		}
	}

	return ips, dnsNames
}

// configVIP is the shared IP of the first machine.network.interfaces[] entry with a vip, as the
// VIP operator takes it (internal/app/machined/pkg/controllers/network/operator_config.go), or "".
func configVIP(cfg config.Provider) string {
	if cfg.Machine() == nil {
		return ""
	}

	for _, device := range cfg.Machine().Network().Devices() {
		if device.VIPConfig() != nil && device.VIPConfig().IP() != "" {
			return device.VIPConfig().IP()
		}
	}

	return ""
}
