package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

// The name the node registers under in Kubernetes, derived as Talos v1.11.5 derives it:
//
//   - the hostname is machine.network.hostname (its first label; the rest is the domain),
//     internal/app/machined/pkg/controllers/network/hostname_config.go parseMachineConfiguration
//     and pkg/machinery/resources/network/hostname_spec.go ParseFQDN;
//   - without one, the default: with machine.features.stableHostname (generated configs set it
//     since Talos 1.2) "talos-xxx-yyy" from the node's identity (getStableDefault), else
//     "talos-" + the node address with dashes (getDefault);
//   - machine.kubelet.registerWithFQDN registers hostname.domain instead
//     (internal/app/machined/pkg/controllers/k8s/nodename.go);
//   - and the result is made a valid Node name
//     (internal/app/machined/pkg/controllers/k8s/internal/nodename/nodename.go FromHostname).

// nodeIdentity is the node's identity (cluster.Identity's NodeID), made on first use and kept
// in the state directory as Talos keeps it on STATE. Talos encodes 32 random bytes in base62;
// here they are in hex, which only changes how the (random) ID looks.
func nodeIdentity(state stateStore) (string, error) {
	data, err := readOptional(state.path(nodeIdentityFile))
	if err != nil {
		return "", err
	}

	if id := strings.TrimSpace(string(data)); id != "" {
		return id, nil
	}

	buf := make([]byte, 32)
	if _, err = rand.Read(buf); err != nil {
		return "", err
	}

	id := hex.EncodeToString(buf)

	return id, writeFileAtomic(state.path(nodeIdentityFile), []byte(id+"\n"))
}

// nodeHostname is the node's hostname (network.HostnameStatus's Hostname: the first label) and
// domain, from the config or Talos's default. etcd names its member after it
// (internal/app/machined/pkg/controllers/etcd/spec.go: Name is the hostname).
func nodeHostname(cfg config.Provider, ip net.IP, state stateStore) (string, string, error) {
	hostname, domain, _ := strings.Cut(cfg.Machine().Network().Hostname(), ".")

	if hostname == "" {
		domain = ""

		if cfg.Machine().Features().StableHostnameEnabled() {
			id, err := nodeIdentity(state)
			if err != nil {
				return "", "", fmt.Errorf("node identity: %w", err)
			}

			hostname = stableHostname(id)
		} else {
			hostname = "talos-" + strings.NewReplacer(":", "", ".", "-").Replace(ip.String())
		}
	}

	return hostname, domain, nil
}

// nodeName is the Kubernetes Node name of the node with config cfg and address ip.
func nodeName(cfg config.Provider, ip net.IP, state stateStore) (string, error) {
	hostname, domain, err := nodeHostname(cfg, ip, state)
	if err != nil {
		return "", err
	}

	if cfg.Machine().Kubelet().RegisterWithFQDN() && domain != "" {
		hostname += "." + domain
	}

	return nodeNameFromHostname(hostname)
}

// stableHostname is Talos's "talos-xxx-yyy": characters 1-6 of the base36 form of the first 8
// bytes of sha256(node ID), lower case (github.com/martinlindhe/base36 EncodeBytes, which is
// big-endian base36 with a leading "0" per leading zero byte).
func stableHostname(nodeID string) string {
	sum := sha256.Sum256([]byte(nodeID))
	b := sum[:8]

	b36 := new(big.Int).SetBytes(b).Text(36)

	for _, c := range b {
		if c != 0 {
			break
		}

		b36 = "0" + b36
	}

	// Eight bytes are at most 13 base36 digits; fewer than 7 would take a 2^-28 chance.
	for len(b36) < 7 {
		b36 = "0" + b36
	}

	return fmt.Sprintf("talos-%s-%s", b36[1:4], b36[4:7])
}

// nodeNameFromHostname makes a hostname a valid Node name the way Talos's FromHostname does:
// lower case, "_" becomes "-", anything outside [a-z0-9.-] is dropped, and leading or trailing
// dashes and dots are trimmed.
func nodeNameFromHostname(hostname string) (string, error) {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		case r == '_':
			return '-'
		default:
			return -1
		}
	}, hostname)

	name = strings.Trim(name, "-.")
	if name == "" {
		return "", fmt.Errorf("could not convert hostname %q to a valid Kubernetes Node name", hostname)
	}

	return name, nil
}
