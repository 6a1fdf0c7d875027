package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// talosServiceAccountCRD is the custom resource Talos registers when a machine config enables
// kubernetesTalosAPIAccess: a talos.dev/v1alpha1 ServiceAccount asks for Talos API credentials
// with some roles (the etcd backup job's is os:etcd:backup). The lab registers the same type, so
// the stack's ServiceAccount installs against the lab as it does against a node.
const talosServiceAccountCRD = `{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "serviceaccounts.talos.dev"},
  "spec": {
    "group": "talos.dev",
    "names": {"kind": "ServiceAccount", "listKind": "ServiceAccountList", "plural": "serviceaccounts", "singular": "serviceaccount"},
    "scope": "Namespaced",
    "versions": [{
      "name": "v1alpha1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"roles": {"type": "array", "items": {"type": "string"}}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
      }}}
    }]
  }
}`

// registerTalosCRDs creates the ServiceAccount type once the API server answers (409, already
// there after a restart, is fine).
func (c *controlPlane) registerTalosCRDs(ctx context.Context, plan *controlPlanePlan) {
	client := probeClient(plan)
	defer client.CloseIdleConnections()

	err := poll(ctx, time.Second, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			plan.apiServerURL()+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bytes.NewReader([]byte(talosServiceAccountCRD)))
		if err != nil {
			return err
		}

		req.Header.Set("Content-Type", "application/json")

		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close() //nolint:errcheck

		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048)) //nolint:errcheck
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}

		return nil
	})
	if err != nil {
		c.log.Warn("registering the talos.dev ServiceAccount type", "error", err)

		return
	}

	c.log.Info("registered the talos.dev ServiceAccount type")
}
