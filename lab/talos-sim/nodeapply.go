package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// What Talos itself (not the kubelet) puts on its Node: the labels, annotations and taints of
// the machine config, applied with an admin client once the kubelet has registered the Node.
// A kubelet could not set them: NodeRestriction forbids it the node-role.kubernetes.io labels
// and any change of its own taints.

// nodeTaint is a taint Talos wants on the Node.
type nodeTaint struct {
	Key, Value, Effect string
}

// nodeSpec is the Node's labels, annotations and taints as Talos wants them.
type nodeSpec struct {
	labels, annotations map[string]string
	taints              []nodeTaint
}

// desiredNodeSpec follows Talos v1.11.5: machine.nodeLabels plus
// node-role.kubernetes.io/control-plane="" on a control plane
// (internal/app/machined/pkg/controllers/k8s/node_label_spec.go; the
// node.kubernetes.io/exclude-from-external-load-balancers label is in nodeLabels of every
// control-plane config generated for Talos 1.8 and later, pkg/machinery/config/generate/init.go);
// machine.nodeAnnotations (node_annotation_spec.go); and the control-plane NoSchedule taint
// unless cluster.allowSchedulingOnControlPlanes, plus machine.nodeTaints written
// "value:effect" or "effect" (node_taint_spec.go).
func desiredNodeSpec(cfg config.Provider) nodeSpec {
	spec := nodeSpec{labels: map[string]string{}, annotations: map[string]string{}}

	maps.Copy(spec.labels, cfg.Machine().NodeLabels())
	maps.Copy(spec.annotations, cfg.Machine().NodeAnnotations())

	controlPlane := cfg.Machine().Type().IsControlPlane()
	if controlPlane {
		spec.labels[constants.LabelNodeRoleControlPlane] = ""
	}

	if controlPlane && !cfg.Cluster().ScheduleOnControlPlanes() {
		spec.taints = append(spec.taints, nodeTaint{Key: constants.LabelNodeRoleControlPlane, Effect: "NoSchedule"})
	}

	for _, key := range slices.Sorted(maps.Keys(cfg.Machine().NodeTaints())) {
		value, effect, found := strings.Cut(cfg.Machine().NodeTaints()[key], ":")
		if !found {
			value, effect = "", value
		}

		spec.taints = append(spec.taints, nodeTaint{Key: key, Value: value, Effect: effect})
	}

	return spec
}

// applyNodeSpec does one pass of Talos's NodeApplyController
// (internal/app/machined/pkg/controllers/k8s/node_apply.go syncOnce): read the Node, take over
// the labels, annotations and taints of the spec that are absent or already equal (recording
// them in the talos.dev/owned-* annotations), change only what Talos owns, drop owned ones the
// spec no longer has, and write the Node back. A conflict fails the pass; the caller retries.
func applyNodeSpec(ctx context.Context, admin *kubeAPI, name string, spec nodeSpec) error {
	path := "/api/v1/nodes/" + name

	var node object
	if err := admin.get(ctx, path, &node); err != nil {
		return err
	}

	meta := child(node, "metadata")
	labels, annotations := stringMap(meta, "labels"), stringMap(meta, "annotations")

	owned := map[string]map[string]bool{}

	for _, name := range []string{constants.AnnotationOwnedLabels, constants.AnnotationOwnedAnnotations, constants.AnnotationOwnedTaints} {
		set, err := ownedSet(annotations, name)
		if err != nil {
			return err
		}

		owned[name] = set
	}

	ownedLabels := owned[constants.AnnotationOwnedLabels]
	ownedAnnotations := owned[constants.AnnotationOwnedAnnotations]
	ownedTaints := owned[constants.AnnotationOwnedTaints]

	applyNodeKV(labels, ownedLabels, spec.labels)
	applyNodeKV(annotations, ownedAnnotations, spec.annotations)
	taints := applyTaints(nodeTaints(child(node, "spec")), ownedTaints, spec.taints)

	setOwned(annotations, constants.AnnotationOwnedLabels, ownedLabels)
	setOwned(annotations, constants.AnnotationOwnedAnnotations, ownedAnnotations)
	setOwned(annotations, constants.AnnotationOwnedTaints, ownedTaints)

	meta["labels"], meta["annotations"] = labels, annotations

	if len(taints) == 0 {
		delete(child(node, "spec"), "taints")
	} else {
		child(node, "spec")["taints"] = taints
	}

	return admin.update(ctx, path, node, nil)
}

// applyNodeKV is node_apply.go's applyNodeKV: set what is absent, keep what is equal, change
// only what Talos owns, and remove owned keys the spec dropped.
func applyNodeKV(current map[string]string, owned map[string]bool, spec map[string]string) {
	for key, value := range spec {
		existing, exists := current[key]

		switch {
		case !exists, existing == value:
			current[key] = value
			owned[key] = true
		case owned[key]:
			current[key] = value
		}
	}

	for key := range owned {
		if _, ok := spec[key]; !ok {
			delete(current, key)
			delete(owned, key)
		}
	}
}

// nodeTaints returns the Node's spec.taints as decoded objects.
func nodeTaints(spec object) []object {
	var out []object

	list, _ := spec["taints"].([]any) //nolint:errcheck

	for _, item := range list {
		if taint, ok := item.(map[string]any); ok {
			out = append(out, taint)
		}
	}

	return out
}

// applyTaints is node_apply.go's ApplyTaints: a taint of the spec absent from the Node is added
// and owned; an owned one is updated; an unowned one with the same value and effect becomes
// owned; owned taints the spec no longer has are removed. Taints Talos does not own (the node
// lifecycle controller's) are left alone.
func applyTaints(current []object, owned map[string]bool, spec []nodeTaint) []any {
	for _, want := range spec {
		idx := slices.IndexFunc(current, func(t object) bool { return t["key"] == want.Key })

		switch {
		case idx < 0:
			current = append(current, taintObject(want))
			owned[want.Key] = true
		case owned[want.Key]:
			current[idx]["value"], current[idx]["effect"] = want.Value, want.Effect
		case current[idx]["effect"] == want.Effect && stringOr(current[idx]["value"]) == want.Value:
			owned[want.Key] = true
		}
	}

	out := []any{}

	for _, taint := range current {
		key, _ := taint["key"].(string) //nolint:errcheck

		if owned[key] && !slices.ContainsFunc(spec, func(t nodeTaint) bool { return t.Key == key }) {
			delete(owned, key)

			continue
		}

		if taint["value"] == "" {
			delete(taint, "value")
		}

		out = append(out, taint)
	}

	return out
}

func taintObject(t nodeTaint) object {
	obj := object{"key": t.Key, "effect": t.Effect}
	if t.Value != "" {
		obj["value"] = t.Value
	}

	return obj
}

func stringOr(v any) string {
	s, _ := v.(string) //nolint:errcheck

	return s
}

// ownedSet reads one of Talos's talos.dev/owned-* annotations (a JSON list of keys); a
// mangled one fails the pass, as on Talos.
func ownedSet(annotations map[string]string, name string) (map[string]bool, error) {
	owned := map[string]bool{}

	var keys []string
	if raw := annotations[name]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &keys); err != nil {
			return nil, fmt.Errorf("error unmarshaling %s: %w", name, err)
		}
	}

	for _, key := range keys {
		owned[key] = true
	}

	return owned, nil
}

// setOwned writes an owned-* annotation back: a sorted JSON list, or no annotation when empty.
func setOwned(annotations map[string]string, name string, owned map[string]bool) {
	if len(owned) == 0 {
		delete(annotations, name)

		return
	}

	data, _ := json.Marshal(slices.Sorted(maps.Keys(owned))) //nolint:errcheck // strings always marshal
	annotations[name] = string(data)
}
