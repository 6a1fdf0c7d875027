package main

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAPIServerConfigFiles compares the rendered files, as data, with what Talos v1.11.5 writes
// for a generated config.
func TestAPIServerConfigFiles(t *testing.T) {
	cluster := newTestCluster(t, "https://127.0.21.253:6443")

	admission, err := admissionControlConfig(cluster.config)
	if err != nil {
		t.Fatal(err)
	}

	// The PodSecurity defaults of pkg/machinery/config/generate/init.go, wrapped as
	// render_config_static_pods.go admissionControlConfig wraps them.
	assertYAML(t, "admission-control-config.yaml", admission, `
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1alpha1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      enforce-version: latest
      audit: restricted
      audit-version: latest
      warn: restricted
      warn-version: latest
    exemptions:
      usernames: []
      runtimeClasses: []
      namespaces: [kube-system]
`)

	encryption, err := encryptionConfig(cluster.config)
	if err != nil {
		t.Fatal(err)
	}

	// The shape of Talos's testdata
	// internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/testdata/apiserver-encryption-secretbox.yaml,
	// with this config's key.
	assertYAML(t, "encryptionconfig.yaml", encryption, `
apiVersion: v1
kind: EncryptionConfig
resources:
- providers:
  - secretbox:
      keys:
      - name: key2
        secret: `+cluster.config.Cluster().SecretboxEncryptionSecret()+`
  - identity: {}
  resources:
  - secrets
`)
}

func assertYAML(t *testing.T, name string, got []byte, want string) {
	t.Helper()

	var gotDoc, wantDoc any

	if err := yaml.Unmarshal(got, &gotDoc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}

	if err := yaml.Unmarshal([]byte(want), &wantDoc); err != nil {
		t.Fatal(err)
	}

	if !reflect.DeepEqual(gotDoc, wantDoc) {
		t.Errorf("%s =\n%s\nwant\n%s", name, got, want)
	}
}
