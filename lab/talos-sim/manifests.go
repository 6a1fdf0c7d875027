package main

import (
	"context"
	"strings"
	"time"
)

// Talos's bootstrap manifests that kubelets need to join: the bootstrap token Secret made from
// cluster.token and the RBAC that lets its holders ask for node client certificates, have them
// approved automatically, and renew them
// (internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/kubelet.go and csr.go, their
// testdata kubelet-bootstrapping-token.yaml, csr-node-bootstrap.yaml,
// csr-approver-role-binding.yaml, csr-renewal-role-binding.yaml, and talos.go's
// talos-nodes-rbac-cluster-role(-binding).yaml). Talos's manifest controller applies them from a
// control plane under an etcd lock; every control plane here creates what is missing, which
// comes to the same thing.

// bootstrapManifests are the objects, each with the collection it is created in.
func bootstrapManifests(plan *controlPlanePlan) []struct {
	path string
	obj  object
} {
	id, secret, _ := strings.Cut(plan.bootstrapToken, ".")

	binding := func(name, role string, groups ...string) object {
		var subjects []any
		for _, g := range groups {
			subjects = append(subjects, object{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g})
		}

		return object{
			"apiVersion": "rbac.authorization.k8s.io/v1",
			"kind":       "ClusterRoleBinding",
			"metadata":   object{"name": name},
			"roleRef":    object{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
			"subjects":   subjects,
		}
	}

	const bindings = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"

	return []struct {
		path string
		obj  object
	}{
		{"/api/v1/namespaces/kube-system/secrets", object{
			"apiVersion": "v1",
			"kind":       "Secret",
			"metadata":   object{"name": "bootstrap-token-" + id, "namespace": "kube-system"},
			"type":       "bootstrap.kubernetes.io/token",
			"stringData": object{
				"token-id":                       id,
				"token-secret":                   secret,
				"usage-bootstrap-authentication": "true",
				"auth-extra-groups":              "system:bootstrappers:nodes",
			},
		}},
		{bindings, binding("system-bootstrap-node-bootstrapper", "system:node-bootstrapper", "system:bootstrappers:nodes", "system:nodes")},
		{bindings, binding("system-bootstrap-approve-node-client-csr",
			"system:certificates.k8s.io:certificatesigningrequests:nodeclient", "system:bootstrappers:nodes")},
		{bindings, binding("system-bootstrap-node-renewal",
			"system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes")},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", object{
			"apiVersion": "rbac.authorization.k8s.io/v1",
			"kind":       "ClusterRole",
			"metadata":   object{"name": "system:talos-nodes", "labels": object{"kubernetes.io/bootstrapping": "rbac-defaults"}},
			"rules": []any{object{
				"apiGroups": []any{"discovery.k8s.io"}, "resources": []any{"endpointslices"}, "verbs": []any{"get", "list", "watch"},
			}},
		}},
		{bindings, func() object {
			b := binding("system:talos-nodes", "system:talos-nodes", "system:nodes")
			b["metadata"] = object{
				"name":        "system:talos-nodes",
				"labels":      object{"kubernetes.io/bootstrapping": "rbac-defaults"},
				"annotations": object{"rbac.authorization.kubernetes.io/autoupdate": "true"},
			}

			return b
		}()},
	}
}

// applyBootstrapManifests creates each manifest that does not exist yet (409 is fine), retrying
// until all are there or ctx ends.
func (c *controlPlane) applyBootstrapManifests(ctx context.Context, plan *controlPlanePlan) {
	api := newKubeAPI(plan.apiServerURL(), plan.caPool, plan.probeCert)
	defer api.close()

	for _, m := range bootstrapManifests(plan) {
		err := poll(ctx, time.Second, func() error {
			err := api.create(ctx, m.path, m.obj, nil)
			if statusCode(err) == 409 {
				return nil
			}

			return err
		})
		if err != nil {
			c.log.Warn("applying a bootstrap manifest", "path", m.path, "err", err)

			return
		}
	}

	c.log.Info("bootstrap manifests applied")
}
