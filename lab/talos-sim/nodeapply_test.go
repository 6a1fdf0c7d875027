package main

import (
	"maps"
	"reflect"
	"testing"
)

// TestApplyNodeKV walks the ownership rules of Talos's NodeApplyController
// (internal/app/machined/pkg/controllers/k8s/node_apply.go applyNodeKV).
func TestApplyNodeKV(t *testing.T) {
	current := map[string]string{"kubernetes.io/hostname": "n", "user": "mine", "same": "v", "gone": "x"}
	owned := map[string]bool{"gone": true}

	applyNodeKV(current, owned, map[string]string{"new": "1", "user": "talos", "same": "v"})

	// new: added and owned; same: equal, so taken over; user: set by someone else, kept;
	// gone: owned but no longer wanted, removed.
	want := map[string]string{"kubernetes.io/hostname": "n", "user": "mine", "same": "v", "new": "1"}
	if !maps.Equal(current, want) {
		t.Errorf("labels = %v, want %v", current, want)
	}

	if wantOwned := map[string]bool{"new": true, "same": true}; !maps.Equal(owned, wantOwned) {
		t.Errorf("owned = %v, want %v", owned, wantOwned)
	}
}

// TestApplyTaints follows node_apply.go ApplyTaints.
func TestApplyTaints(t *testing.T) {
	current := []object{
		{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}, // from registration
		{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},          // the lifecycle controller's
		{"key": "dropped", "value": "x", "effect": "NoExecute"},
		{"key": "foreign", "effect": "NoSchedule"},
	}
	owned := map[string]bool{"dropped": true}

	got := applyTaints(current, owned, []nodeTaint{
		{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"},
		{Key: "foreign", Value: "v", Effect: "NoSchedule"},
		{Key: "added", Value: "v", Effect: "PreferNoSchedule"},
	})

	want := []any{
		object{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
		object{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
		object{"key": "foreign", "effect": "NoSchedule"}, // not owned and different: left alone
		object{"key": "added", "value": "v", "effect": "PreferNoSchedule"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("taints = %v, want %v", got, want)
	}

	if wantOwned := map[string]bool{"node-role.kubernetes.io/control-plane": true, "added": true}; !maps.Equal(owned, wantOwned) {
		t.Errorf("owned = %v, want %v", owned, wantOwned)
	}
}

// TestDesiredNodeSpec: a generated control-plane config asks for the control-plane role and
// the exclude-from-external-load-balancers label, and the NoSchedule taint.
func TestDesiredNodeSpec(t *testing.T) {
	cluster := newTestCluster(t, "https://127.0.21.253:6443")

	spec := desiredNodeSpec(cluster.config)

	wantLabels := map[string]string{
		"node-role.kubernetes.io/control-plane":                   "",
		"node.kubernetes.io/exclude-from-external-load-balancers": "",
	}
	if !maps.Equal(spec.labels, wantLabels) {
		t.Errorf("labels = %v, want %v", spec.labels, wantLabels)
	}

	if want := []nodeTaint{{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}}; !reflect.DeepEqual(spec.taints, want) {
		t.Errorf("taints = %v, want %v", spec.taints, want)
	}
}
