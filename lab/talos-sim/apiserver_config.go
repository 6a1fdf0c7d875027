package main

import (
	"encoding/json"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"gopkg.in/yaml.v3"
)

// The configuration files Talos v1.11.5 renders for kube-apiserver from the machine config. The
// API server itself parses and validates them, so a config Talos's API server would refuse
// (an unknown PodSecurity level, a malformed encryption key) stops this one too.

const (
	admissionConfigFile  = "admission-control-config.yaml"
	encryptionConfigFile = "encryptionconfig.yaml"
	auditPolicyFile      = "auditpolicy.yaml"
)

// auditPolicy is cluster.apiServer.auditPolicy as the API server's audit.k8s.io/v1 Policy
// (render_config_static_pods.go auditPolicyConfig; control_plane_static_pod.go passes it with
// --audit-policy-file and logs to /var/log/audit/kube/kube-apiserver.log). The machinery fills in
// Talos's default when the config has none: every request at the Metadata level.
func auditPolicy(cfg config.Provider) ([]byte, error) {
	policy := cfg.Cluster().APIServer().AuditPolicy()
	if len(policy) == 0 {
		return nil, fmt.Errorf("cluster.apiServer.auditPolicy is empty")
	}

	return yaml.Marshal(policy)
}

// admissionControlConfig is the AdmissionConfiguration built from
// cluster.apiServer.admissionControl, one plugin entry per item, with the item's configuration
// as given (internal/app/machined/pkg/controllers/k8s/render_config_static_pods.go
// admissionControlConfig; the list comes from control_plane.go
// NewControlPlaneAdmissionControlController). Generated configs carry Talos's PodSecurity
// defaults there (pkg/machinery/config/generate/init.go): enforce baseline, audit and warn
// restricted, kube-system exempt. An empty list is an empty plugin list, leaving every plugin
// at the API server's own defaults, as on Talos.
func admissionControlConfig(cfg config.Provider) ([]byte, error) {
	type plugin struct {
		Name          string         `yaml:"name"`
		Configuration map[string]any `yaml:"configuration"`
	}

	doc := struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Plugins    []plugin `yaml:"plugins"`
	}{APIVersion: "apiserver.config.k8s.io/v1", Kind: "AdmissionConfiguration", Plugins: []plugin{}}

	for _, p := range cfg.Cluster().APIServer().AdmissionControl() {
		// Talos passes each configuration through encoding/json (a runtime.Unknown); doing the
		// same turns whatever the YAML loader produced into plain JSON values.
		raw, err := json.Marshal(p.Configuration())
		if err != nil {
			return nil, fmt.Errorf("error marshaling configuration for plugin %q: %w", p.Name(), err)
		}

		var configuration map[string]any
		if err = json.Unmarshal(raw, &configuration); err != nil {
			return nil, err
		}

		doc.Plugins = append(doc.Plugins, plugin{Name: p.Name(), Configuration: configuration})
	}

	return yaml.Marshal(doc)
}

// encryptionConfig is the API server's encryption at rest, as Talos writes it
// (internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/apiserver.go
// APIServerEncryptionConfig, rendered by render_secrets_static_pod.go): Secrets only, with
// secretbox (key2, cluster.secretboxEncryptionSecret) first when set, then aescbc (key1,
// cluster.aescbcEncryptionSecret) when set, then identity, so Secrets written before a key
// existed stay readable. The legacy "v1"/"EncryptionConfig" header is Talos's own.
func encryptionConfig(cfg config.Provider) ([]byte, error) {
	type key struct {
		Name   string `yaml:"name"`
		Secret string `yaml:"secret"`
	}

	type keys struct {
		Keys []key `yaml:"keys"`
	}

	type provider struct {
		Secretbox *keys     `yaml:"secretbox,omitempty"`
		AESCBC    *keys     `yaml:"aescbc,omitempty"`
		Identity  *struct{} `yaml:"identity,omitempty"`
	}

	var providers []provider

	if secret := cfg.Cluster().SecretboxEncryptionSecret(); secret != "" {
		providers = append(providers, provider{Secretbox: &keys{Keys: []key{{Name: "key2", Secret: secret}}}})
	}

	if secret := cfg.Cluster().AESCBCEncryptionSecret(); secret != "" {
		providers = append(providers, provider{AESCBC: &keys{Keys: []key{{Name: "key1", Secret: secret}}}})
	}

	providers = append(providers, provider{Identity: &struct{}{}})

	type resource struct {
		Resources []string   `yaml:"resources"`
		Providers []provider `yaml:"providers"`
	}

	return yaml.Marshal(struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Resources  []resource `yaml:"resources"`
	}{
		APIVersion: "v1",
		Kind:       "EncryptionConfig",
		Resources:  []resource{{Resources: []string{"secrets"}, Providers: providers}},
	})
}
