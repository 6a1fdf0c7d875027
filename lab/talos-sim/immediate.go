package main

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configdiff"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
)

// canApplyImmediate tells whether a new config differs from the running one only where Talos
// v1.11.5 applies a change without a reboot (internal/app/machined/pkg/runtime/v1alpha1/
// v1alpha1_runtime.go, CanApplyImmediate): the v1alpha1 document's debug and cluster sections,
// and of the machine section ca, acceptedCAs, time, certSANs, install, network, sysfs,
// sysctls, logging, controlPlane, kubelet, kernel, registries, pods, seccompProfiles,
// nodeAnnotations, nodeLabels, nodeTaints, and of machine.features kubernetesTalosAPIAccess,
// kubePrism, hostDNS, imageCache and nodeAddressSortAlgorithm. Other documents never need a
// reboot. The error, like Talos's, carries the diff of what needs one.
func canApplyImmediate(current, next config.Provider) error {
	running, proposed := current.RawV1Alpha1(), next.RawV1Alpha1()

	switch {
	case running == nil:
		return errors.New("current config is not v1alpha1")
	case proposed == nil:
		return errors.New("new config is not v1alpha1")
	}

	// What is left of the proposed config once every field that may change live is taken
	// from the running one: any difference remaining needs a reboot.
	rest := proposed.DeepCopy()
	keepImmediateFields(rest, running)

	if reflect.DeepEqual(running, rest) {
		return nil
	}

	diff, err := configdiff.DiffToString(container.NewV1Alpha1(running), container.NewV1Alpha1(rest))
	if err != nil {
		return fmt.Errorf("error calculating diff: %w", err)
	}

	return fmt.Errorf("this config change can't be applied in immediate mode\ndiff:\n%s", diff)
}

// keepImmediateFields overwrites, in dst, every field Talos changes without a reboot with the
// value it has in src.
func keepImmediateFields(dst, src *v1alpha1.Config) {
	dst.ConfigDebug = src.ConfigDebug
	dst.ClusterConfig = src.ClusterConfig

	m, from := dst.MachineConfig, src.MachineConfig
	if m == nil || from == nil {
		return
	}

	m.MachineCA, m.MachineAcceptedCAs = from.MachineCA, from.MachineAcceptedCAs
	m.MachineTime, m.MachineCertSANs = from.MachineTime, from.MachineCertSANs
	m.MachineInstall, m.MachineNetwork = from.MachineInstall, from.MachineNetwork
	m.MachineSysfs, m.MachineSysctls = from.MachineSysfs, from.MachineSysctls
	m.MachineLogging, m.MachineControlPlane = from.MachineLogging, from.MachineControlPlane
	m.MachineKubelet, m.MachineKernel = from.MachineKubelet, from.MachineKernel
	m.MachineRegistries, m.MachinePods = from.MachineRegistries, from.MachinePods
	m.MachineSeccompProfiles = from.MachineSeccompProfiles
	m.MachineNodeAnnotations, m.MachineNodeLabels, m.MachineNodeTaints = from.MachineNodeAnnotations, from.MachineNodeLabels, from.MachineNodeTaints

	if f, fromF := m.MachineFeatures, from.MachineFeatures; f != nil && fromF != nil {
		f.KubernetesTalosAPIAccessConfig = fromF.KubernetesTalosAPIAccessConfig
		f.KubePrismSupport = fromF.KubePrismSupport
		f.HostDNSSupport = fromF.HostDNSSupport
		f.ImageCacheSupport = fromF.ImageCacheSupport
		f.FeatureNodeAddressSortAlgorithm = fromF.FeatureNodeAddressSortAlgorithm
	}
}
