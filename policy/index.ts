// The homelab policy pack. Every rule says why it exists in policy/rules.ts; this file hands the
// rules to the engine, with the pack's settings from `--policy-pack-config` (defaults fit this
// repository's stacks).
import { PolicyPack, ResourceValidationArgs } from "@pulumi/policy";
import { keepSecretsVisible, readInputs } from "./inputs";
import {
    dataRetained,
    datasetsProtected,
    defaultSettings,
    hostPathsForStorageOnly,
    loadBalancersAtIngress,
    noPlaintextSecrets,
    pinnedVersions,
    platformNamespacesOnly,
    PolicySettings,
    remoteCommandsPortable,
    ResourceView,
} from "./rules";

keepSecretsVisible();

type Rule = (r: ResourceView, settings: PolicySettings) => string[];

function validate(rule: Rule) {
    return (args: ResourceValidationArgs, reportViolation: (message: string) => void) => {
        const settings = { ...defaultSettings, ...args.getConfig<Partial<PolicySettings>>() };
        const view: ResourceView = { type: args.type, urn: args.urn, name: args.name, ...readInputs(args.props) };
        for (const message of rule(view, settings)) reportViolation(message);
    };
}

const settingsSchema = {
    properties: {
        ingressNamespace: { type: "string" as const, default: defaultSettings.ingressNamespace },
        storageNamespaces: { type: "array" as const, items: { type: "string" as const }, default: defaultSettings.storageNamespaces },
        destroyableDatasets: { type: "array" as const, items: { type: "string" as const }, default: defaultSettings.destroyableDatasets },
        platformNamespaces: { type: "array" as const, items: { type: "string" as const }, default: defaultSettings.platformNamespaces },
    },
};

new PolicyPack("homelab", {
    enforcementLevel: "mandatory",
    policies: [
        {
            name: "pinned-versions",
            description:
                "Every Helm chart and every Talos/Kubernetes image is pinned to an exact version, so only a change in this repository changes what runs.",
            validateResource: validate(pinnedVersions),
        },
        {
            name: "no-plaintext-secrets",
            description: "Credentials are Pulumi secrets, never plain inputs that land unencrypted in state, previews and backups.",
            validateResource: validate(noPlaintextSecrets),
        },
        {
            name: "datasets-protected",
            description: "No managed ZFS dataset can be destroyed by `pulumi destroy` or by leaving config, unless explicitly allowed.",
            configSchema: settingsSchema,
            validateResource: validate(datasetsProtected),
        },
        {
            name: "platform-namespaces-only",
            description: "The stack manages the platform's namespaces only; ArgoCD owns the workloads everywhere else.",
            configSchema: settingsSchema,
            validateResource: validate(platformNamespacesOnly),
        },
        {
            name: "data-retained",
            description: "Objects that hold or describe data (namespaces, volumes, StorageClasses, CRDs) are kept on delete.",
            validateResource: validate(dataRetained),
        },
        {
            name: "remote-commands-portable",
            description: "Every remote command pins the host key and passes nothing through SSH env requests, which the NAS's sshd refuses.",
            validateResource: validate(remoteCommandsPortable),
        },
        {
            name: "loadbalancer-only-at-ingress",
            description: "Only the ingress takes a MetalLB address; everything else is routed through it.",
            configSchema: settingsSchema,
            validateResource: validate(loadBalancersAtIngress),
        },
        {
            name: "host-paths-for-storage-only",
            description: "Only the storage driver mounts host paths; every other workload keeps its data on volumes.",
            configSchema: settingsSchema,
            validateResource: validate(hostPathsForStorageOnly),
        },
    ],
});
