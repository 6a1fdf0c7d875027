package main

// The commands that talk to no node: a cluster's secrets bundle, new (gen-secrets) or out of a
// control plane's machine config (secrets-from-config), and from a bundle the machine configs
// (gen-config) and an admin talosconfig (talosconfig), each as talosctl makes it in Talos
// v1.11.5 (cmd/talosctl/cmd/mgmt/gen/secrets.go and config.go), on the same machinery:
//
//	talos-ops gen-secrets [--talos-version vX.Y.Z] >secrets.yaml
//	talos-ops secrets-from-config <controlplane.yaml >secrets.yaml
//	talos-ops gen-config --cluster-name <name> --endpoint https://<ip>:6443 --kubernetes-version vX.Y.Z
//	    --talos-version vX.Y.Z [--install-disk /dev/sda] [--install-image <image>] [--patch <file>]... [--worker]
//	    <secrets.yaml >config.yaml
//	talos-ops talosconfig --endpoint <ip> [--node <ip>]... --context <name> <secrets.yaml >talosconfig
//
// The bundle is the YAML of `talosctl gen secrets` (secrets.Bundle marshalled with yaml.v3).
// gen-config is `talosctl gen config --with-secrets` for one machine type: generate.NewInput
// with the bundle, the version contract and talosctl's defaults (install disk /dev/sda,
// persist, cluster discovery, DNS domain cluster.local), then each --patch in order (a
// strategic merge patch, or a JSON 6902 patch, as configpatcher.LoadPatch reads it, i.e.
// talosctl's --config-patch @file), then validated for a metal install, the mode a Talos node
// installed on hardware validates in (as `talosctl validate --mode metal`). It is written
// without comments (talosctl adds documentation and examples; the node and configdiff ignore
// them). The talosconfig holds a client certificate with role os:admin from the bundle's OS
// CA, as gen config's talosconfig.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	sideronet "github.com/siderolabs/net"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"gopkg.in/yaml.v3"
)

const (
	genSecretsUsage        = "usage: talos-ops gen-secrets [--talos-version vX.Y.Z] >secrets.yaml"
	secretsFromConfigUsage = "usage: talos-ops secrets-from-config <controlplane.yaml >secrets.yaml"
	genConfigUsage         = "usage: talos-ops gen-config --cluster-name <name> --endpoint https://<ip>:6443 --kubernetes-version vX.Y.Z " +
		"--talos-version vX.Y.Z [--install-disk /dev/sda] [--install-image <image>] [--patch <file>]... [--worker] <secrets.yaml >config.yaml"
	talosconfigUsage = "usage: talos-ops talosconfig --endpoint <ip> [--node <ip>]... --context <name> <secrets.yaml >talosconfig"

	// defaultTalosVersion is the Talos release whose contract a new bundle follows: the one
	// this machinery belongs to.
	defaultTalosVersion = "v1.11"

	// maxBundle and maxMachineConfig bound what is read from stdin (and from --patch files):
	// a bundle is a few kilobytes, a config with inline manifests may be large.
	maxBundle        = 1 << 20
	maxMachineConfig = 16 << 20
)

// releaseVersion is a Talos or Kubernetes release: vX.Y.Z.
var releaseVersion = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// stringList is a flag given any number of times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)

	return nil
}

// readBundle reads a secrets bundle from stdin, as `talosctl gen config --with-secrets` loads
// one (secrets.LoadBundle, then Validate). Unknown keys are refused: a typo would otherwise
// leave a secret out and a new one generated in its place. No message quotes the input.
func readBundle(stdin io.Reader, name string) (*secrets.Bundle, error) {
	data, err := readStdin(stdin, name, "secrets bundle", "secrets.yaml", maxBundle)
	if err != nil {
		return nil, err
	}

	bundle := &secrets.Bundle{Clock: secrets.NewClock()}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)

	if err = dec.Decode(bundle); err != nil {
		where := yamlLine.FindString(err.Error())
		if where == "" {
			where = "its structure"
		}

		return nil, fmt.Errorf("the secrets bundle on stdin is not valid (YAML error at %s)", where)
	}

	if err = bundle.Validate(); err != nil {
		return nil, fmt.Errorf("the secrets bundle on stdin is not valid: %w", err)
	}

	return bundle, nil
}

// readMachineConfig reads a machine config from stdin with Talos's loader.
func readMachineConfig(stdin io.Reader, name string) (config.Provider, error) {
	data, err := readStdin(stdin, name, "machine config", "controlplane.yaml", maxMachineConfig)
	if err != nil {
		return nil, err
	}

	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("the machine config on stdin does not load: %s", redactedConfigError(err))
	}

	return cfg, nil
}

var backquoted = regexp.MustCompile("`[^`]*`")

// unknownKeys is how Talos's config decoder starts the YAML of the keys it does not know
// (pkg/machinery/config/configloader/internal/decoder); the YAML, values and all, follows.
const unknownKeys = "unknown keys found during decoding:"

// redactedConfigError is a config loader's (or a node's) error about a config without what it
// may quote of the config: the values it puts in backquotes (a value of the wrong type), and
// the YAML of unknown keys, of which only the keys' paths are kept.
func redactedConfigError(err error) string {
	msg := err.Error()

	if i := strings.Index(msg, unknownKeys); i >= 0 {
		var doc yaml.Node

		var paths []string
		if yaml.Unmarshal([]byte(msg[i+len(unknownKeys):]), &doc) == nil {
			paths = keyPaths(&doc, "")
		}

		msg = msg[:i] + unknownKeys + " " + strings.Join(paths, ", ")
	}

	return strings.TrimSpace(backquoted.ReplaceAllString(msg, "`...`"))
}

// keyPaths lists the paths (machine.foo, machine.files[0].bar) of the leaves under n.
func keyPaths(n *yaml.Node, prefix string) []string {
	var paths []string

	switch n.Kind { //nolint:exhaustive
	case yaml.DocumentNode:
		for _, c := range n.Content {
			paths = append(paths, keyPaths(c, prefix)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}

			paths = append(paths, keyPaths(n.Content[i+1], key)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			paths = append(paths, keyPaths(c, fmt.Sprintf("%s[%d]", prefix, i))...)
		}
	default:
		if prefix != "" {
			paths = append(paths, prefix)
		}
	}

	return paths
}

// metalInstall is the runtime mode a node installed on hardware validates its config in (Talos
// v1.11.5 internal/app/machined/pkg/runtime/mode.go, ModeMetal; the machinery has no type of
// its own for it).
type metalInstall struct{}

func (metalInstall) String() string        { return "metal" }
func (metalInstall) RequiresInstall() bool { return true }
func (metalInstall) InContainer() bool     { return false }

// writeYAML marshals v (a bundle) as talosctl writes it.
func writeYAML(stdout io.Writer, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}

	_, err = stdout.Write(data)

	return err
}

// genSecretsCmd is talos-ops gen-secrets.
type genSecretsCmd struct {
	talosVersion string
	contract     *config.VersionContract
}

func (g *genSecretsCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&g.talosVersion, "talos-version", defaultTalosVersion, "the Talos version whose contract the secrets follow")
}

func (g *genSecretsCmd) check(stdout io.Writer) error {
	var err error
	if g.contract, err = config.ParseContractFromVersion(g.talosVersion); err != nil {
		return fmt.Errorf("--talos-version %q: %w", g.talosVersion, err)
	}

	return refuseTerminal(stdout, "secrets bundle", "talos-ops gen-secrets >secrets.yaml")
}

func (g *genSecretsCmd) run(_ localInput, stdout, _ io.Writer) error {
	bundle, err := secrets.NewBundle(secrets.NewFixedClock(time.Now()), g.contract)
	if err != nil {
		return fmt.Errorf("failed to create secrets bundle: %w", err)
	}

	return writeYAML(stdout, bundle)
}

// secretsFromConfigCmd is talos-ops secrets-from-config: no flags.
type secretsFromConfigCmd struct{}

func (*secretsFromConfigCmd) flags(*flag.FlagSet) {}

func (*secretsFromConfigCmd) check(stdout io.Writer) error {
	return refuseTerminal(stdout, "secrets bundle", "talos-ops secrets-from-config <controlplane.yaml >secrets.yaml")
}

// run is `talosctl gen secrets --from-controlplane-config`: secrets.NewBundleFromConfig. Only a
// control plane's config carries the CA keys; a bundle missing any is refused rather than
// written, since configs made from it could not join the cluster.
func (*secretsFromConfigCmd) run(in localInput, stdout, _ io.Writer) error {
	cfg := in.config

	if cfg.RawV1Alpha1() == nil {
		return errors.New("the machine config on stdin has no v1alpha1 document (machine and cluster)")
	}

	if t := cfg.Machine().Type(); !t.IsControlPlane() {
		return fmt.Errorf("the machine config on stdin is a %s config: only a control plane's carries the cluster's CA keys", t)
	}

	bundle := secrets.NewBundleFromConfig(secrets.NewFixedClock(time.Now()), cfg)
	if err := bundle.Validate(); err != nil {
		return fmt.Errorf("the machine config on stdin lacks secrets of the cluster: %w", err)
	}

	return writeYAML(stdout, bundle)
}

// genConfigCmd is talos-ops gen-config.
type genConfigCmd struct {
	clusterName, endpoint, kubernetesVersion, talosVersion string
	installDisk, installImage                              string
	patches                                                stringList
	worker                                                 bool

	contract *config.VersionContract
}

func (g *genConfigCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&g.clusterName, "cluster-name", "", "the cluster's name")
	fs.StringVar(&g.endpoint, "endpoint", "", "the Kubernetes API endpoint, https://<ip>:6443")
	fs.StringVar(&g.kubernetesVersion, "kubernetes-version", "", "the Kubernetes version, vX.Y.Z")
	fs.StringVar(&g.talosVersion, "talos-version", "", "the Talos version the config is for (its contract), vX.Y.Z")
	fs.StringVar(&g.installDisk, "install-disk", "/dev/sda", "the disk to install to")
	fs.StringVar(&g.installImage, "install-image", "", "the installer image (default ghcr.io/siderolabs/installer:<talos-version>)")
	fs.Var(&g.patches, "patch", "a config patch file, applied in the order given (repeatable)")
	fs.BoolVar(&g.worker, "worker", false, "write the worker config instead of the control plane's")
}

func (g *genConfigCmd) check(stdout io.Writer) error {
	switch {
	case g.clusterName == "":
		return errors.New("--cluster-name is required")
	case g.endpoint == "":
		return errors.New("--endpoint is required")
	case !releaseVersion.MatchString(g.kubernetesVersion):
		return fmt.Errorf("--kubernetes-version %q must be vX.Y.Z", g.kubernetesVersion)
	case !releaseVersion.MatchString(g.talosVersion):
		return fmt.Errorf("--talos-version %q must be vX.Y.Z", g.talosVersion)
	case g.installDisk == "":
		return errors.New("--install-disk must not be empty")
	}

	if err := checkClusterEndpoint(g.endpoint); err != nil {
		return err
	}

	var err error
	if g.contract, err = config.ParseContractFromVersion(g.talosVersion); err != nil {
		return fmt.Errorf("--talos-version %q: %w", g.talosVersion, err)
	}

	if g.installImage == "" {
		g.installImage = "ghcr.io/siderolabs/installer:" + g.talosVersion
	}

	for _, p := range g.patches {
		if err = checkInputFile("--patch", p); err != nil {
			return err
		}
	}

	return refuseTerminal(stdout, "machine config", "talos-ops gen-config ... <secrets.yaml >config.yaml")
}

// checkClusterEndpoint accepts what talosctl gen config accepts as the cluster endpoint: an
// https URL (cmd/talosctl/cmd/mgmt/gen/config.go validateClusterEndpoint).
func checkClusterEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--endpoint %q must be an https URL, https://<ip>:6443", endpoint)
	}

	if err = sideronet.ValidateEndpointURI(endpoint); err != nil {
		return fmt.Errorf("--endpoint %q: %w", endpoint, err)
	}

	return nil
}

// checkInputFile checks that a file named by flag is a regular, non-empty file.
func checkInputFile(flagName, path string) error {
	info, err := os.Stat(path)

	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", flagName, err)
	case !info.Mode().IsRegular():
		return fmt.Errorf("%s %s is not a regular file", flagName, path)
	case info.Size() == 0:
		return fmt.Errorf("%s %s is empty", flagName, path)
	case info.Size() > maxMachineConfig:
		return fmt.Errorf("%s %s is larger than %d bytes", flagName, path, maxMachineConfig)
	}

	return nil
}

func (g *genConfigCmd) run(in localInput, stdout, stderr io.Writer) error {
	kind := machine.TypeControlPlane
	if g.worker {
		kind = machine.TypeWorker
	}

	input, err := generate.NewInput(g.clusterName, g.endpoint, strings.TrimPrefix(g.kubernetesVersion, "v"),
		generate.WithVersionContract(g.contract),
		generate.WithSecretsBundle(in.bundle),
		generate.WithInstallDisk(g.installDisk),
		generate.WithInstallImage(g.installImage),
		// talosctl gen config's defaults.
		generate.WithAdditionalSubjectAltNames([]string{}),
		generate.WithDNSDomain("cluster.local"),
		generate.WithPersist(true),
		generate.WithClusterDiscovery(true),
	)
	if err != nil {
		return fmt.Errorf("generating the config: %w", err)
	}

	cfg, err := input.Config(kind)
	if err != nil {
		return fmt.Errorf("generating the %s config: %w", kind, err)
	}

	if cfg, err = applyPatches(cfg, g.patches); err != nil {
		return err
	}

	warnings, err := cfg.Validate(metalInstall{}, validation.WithLocal())
	if err != nil {
		return fmt.Errorf("the %s config is not valid for a metal install: %w", kind, err)
	}

	for _, w := range warnings {
		fmt.Fprintf(stderr, "talos-ops gen-config: warning: %s\n", oneLine(errors.New(w)))
	}

	data, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
	if err != nil {
		return fmt.Errorf("encoding the %s config: %w", kind, err)
	}

	_, err = stdout.Write(data)

	return err
}

// applyPatches applies the patch files to cfg in order, as talosctl's --config-patch @file
// does (configpatcher.LoadPatch, configpatcher.Apply).
func applyPatches(cfg config.Provider, files []string) (config.Provider, error) {
	if len(files) == 0 {
		return cfg, nil
	}

	patches := make([]configpatcher.Patch, 0, len(files))

	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--patch: %w", err)
		}

		patch, err := configpatcher.LoadPatch(data)
		if err != nil {
			return nil, fmt.Errorf("--patch %s: %s", file, redactedConfigError(err))
		}

		patches = append(patches, patch)
	}

	out, err := configpatcher.Apply(configpatcher.WithConfig(cfg), patches)
	if err != nil {
		return nil, fmt.Errorf("applying the patches: %s", redactedConfigError(err))
	}

	patched, err := out.Config()
	if err != nil {
		return nil, fmt.Errorf("applying the patches: %s", redactedConfigError(err))
	}

	return patched, nil
}

// talosconfigCmd is talos-ops talosconfig.
type talosconfigCmd struct {
	endpoints, nodes stringList
	context          string
}

func (c *talosconfigCmd) flags(fs *flag.FlagSet) {
	fs.Var(&c.endpoints, "endpoint", "IP[:port] of a Talos API endpoint (repeatable)")
	fs.Var(&c.nodes, "node", "IP of a node the talosconfig targets by default (repeatable)")
	fs.StringVar(&c.context, "context", "", "the talosconfig context's name")
}

func (c *talosconfigCmd) check(stdout io.Writer) error {
	switch {
	case len(c.endpoints) == 0:
		return errors.New("--endpoint is required")
	case strings.TrimSpace(c.context) == "":
		return errors.New("--context is required")
	}

	for _, e := range c.endpoints {
		if !isIPEndpoint(e) {
			return fmt.Errorf("--endpoint %q is not an IP address or IP:port", e)
		}
	}

	for _, n := range c.nodes {
		if net.ParseIP(n) == nil {
			return fmt.Errorf("--node %q is not an IP address", n)
		}
	}

	return refuseTerminal(stdout, "talosconfig", "talos-ops talosconfig ... <secrets.yaml >talosconfig")
}

// run is generate's Talosconfig: a client certificate with role os:admin, issued by the
// bundle's OS CA for a year (constants.TalosAPIDefaultCertificateValidityDuration), the CA,
// and the endpoints; plus the nodes.
func (c *talosconfigCmd) run(in localInput, stdout, _ io.Writer) error {
	crt, err := in.bundle.GenerateTalosAPIClientCertificate(role.MakeSet(role.Admin))
	if err != nil {
		return fmt.Errorf("issuing the client certificate: %w", err)
	}

	cfg := clientconfig.NewConfig(c.context, c.endpoints, in.bundle.Certs.OS.Crt, crt)
	cfg.Contexts[c.context].Nodes = c.nodes

	data, err := cfg.Bytes()
	if err != nil {
		return err
	}

	_, err = stdout.Write(data)

	return err
}
