package main

import (
	"net"
	"regexp"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
)

// TestStableHostname checks the default name against Talos's own fixture
// (internal/app/machined/pkg/controllers/network/hostname_config_test.go).
func TestStableHostname(t *testing.T) {
	if got := stableHostname("fGdOI05hVrx3YMagLo0Bwxa2Nm9BAswWm8XLeEj0aS4"); got != "talos-hwz-sw5" {
		t.Errorf("stableHostname = %q, want talos-hwz-sw5", got)
	}
}

// TestNodeNameFromHostname follows Talos's FromHostname cases
// (internal/app/machined/pkg/controllers/k8s/internal/nodename/nodename_test.go).
func TestNodeNameFromHostname(t *testing.T) {
	for hostname, want := range map[string]string{
		"foo":             "foo",
		"foo_ია":          "foo",
		"Node1":           "node1",
		"MY_test_server_": "my-test-server",
		"123":             "123",
		"-my-server-":     "my-server",
		"foo.bar.tld.":    "foo.bar.tld",
	} {
		if got, err := nodeNameFromHostname(hostname); err != nil || got != want {
			t.Errorf("nodeNameFromHostname(%q) = %q, %v; want %q", hostname, got, err, want)
		}
	}

	_, err := nodeNameFromHostname("კომპიუტერი")
	if err == nil || err.Error() != `could not convert hostname "კომპიუტერი" to a valid Kubernetes Node name` {
		t.Errorf("a hostname with nothing valid in it: %v", err)
	}
}

// TestNodeName derives the Node name from generated configs patched as an operator would.
func TestNodeName(t *testing.T) {
	ip := net.ParseIP("127.0.21.253")
	cluster := newTestCluster(t, "https://127.0.21.253:6443")

	for _, tc := range []struct {
		name, patch, want string
	}{
		{"hostname", `{"machine":{"network":{"hostname":"Node_1.lab.example"}}}`, "^node-1$"},
		{"fqdn", `{"machine":{"network":{"hostname":"node1.lab.example"},"kubelet":{"registerWithFQDN":true}}}`, "^node1.lab.example$"},
		{"stable default", "", "^talos-[0-9a-z]{3}-[0-9a-z]{3}$"},
		{"address default", `{"machine":{"features":{"stableHostname":false}}}`, "^talos-127-0-21-253$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cluster.config

			if tc.patch != "" {
				patched, err := configpatcher.Apply(configpatcher.WithConfig(cfg), mustPatch(t, tc.patch))
				if err != nil {
					t.Fatal(err)
				}

				if cfg, err = patched.Config(); err != nil {
					t.Fatal(err)
				}
			}

			state, err := newStateStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}

			name, err := nodeName(cfg, ip, state)
			if err != nil || !regexp.MustCompile(tc.want).MatchString(name) {
				t.Fatalf("nodeName = %q, %v; want %s", name, err, tc.want)
			}

			// The identity is kept, so the node keeps its name across restarts.
			if again, _ := nodeName(cfg, ip, state); again != name {
				t.Errorf("second nodeName = %q, first %q", again, name)
			}
		})
	}
}

func mustPatch(t *testing.T, patch string) []configpatcher.Patch {
	t.Helper()

	patches, err := configpatcher.LoadPatches([]string{patch})
	if err != nil {
		t.Fatal(err)
	}

	return patches
}
