// The homelab's policies as pure functions of one resource: its type, URN, inputs, and which of
// its inputs are secrets. policy/index.ts hands them to the engine; tests call them directly too.
// Each returns the violations it finds, as messages that name the offending input.

/** An input a preview does not know yet (an output of a resource still to be created). */
export const unknownInput = Symbol("unknown input");

/** One resource as a policy sees it. `secret` holds the dotted paths of inputs that are secrets;
 * inputs not known yet are `unknownInput`, and a rule that needs one says nothing. */
export interface ResourceView {
    readonly type: string;
    readonly urn: string;
    readonly name: string;
    readonly props: Record<string, unknown>;
    readonly secret: ReadonlySet<string>;
}

export interface PolicySettings {
    /** The namespaces the stack owns (the platform's, and kube-system for the etcd backup job):
     * everything else in the cluster is ArgoCD's. */
    readonly platformNamespaces: readonly string[];
    /** The only namespace whose Services may be of type LoadBalancer (the ingress). */
    readonly ingressNamespace: string;
    /** Namespaces of the storage driver, the only workloads that may mount host paths. */
    readonly storageNamespaces: readonly string[];
    /** Datasets whose config explicitly allows `pulumi destroy` to destroy them: generated from
     * the stack's validated config (allowDestroy) by the wrappers, never written by hand. */
    readonly destroyableDatasets: readonly string[];
}

export const defaultSettings: PolicySettings = {
    platformNamespaces: [
        "metallb-system",
        "traefik",
        "cert-manager",
        "democratic-csi",
        "monitoring",
        "argocd",
        "kubelet-csr-approver",
        "kube-system",
    ],
    ingressNamespace: "traefik",
    storageNamespaces: ["democratic-csi"],
    destroyableDatasets: [],
};

const helmRelease = "kubernetes:helm.sh/v3:Release";
const configurationApply = "talos:machine/configurationApply:ConfigurationApply";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every leaf of a value with its dotted path (list items as [i]). */
export function leaves(value: unknown, at = ""): [string, unknown][] {
    if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, `${at}[${i}]`));
    if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => leaves(v, at ? `${at}.${k}` : k));
    return [[at, value]];
}

// --- pinned versions ---------------------------------------------------------------------------
// An unpinned chart or image changes what `pulumi up` installs without any change in this
// repository: a preview that showed nothing can still upgrade the cluster.

const exactVersion = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** An image reference is pinned by digest or by an exact version tag (never latest, never none). */
export function isPinnedImage(image: string): boolean {
    if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
    const tag = /:([^/:]+)$/.exec(image)?.[1];
    return tag !== undefined && exactVersion.test(tag);
}

export function pinnedVersions(r: ResourceView): string[] {
    if (r.type === helmRelease) {
        const version = r.props.version;
        if (typeof version !== "string" || !exactVersion.test(version)) {
            return [
                `Helm release ${r.name} installs chart ${String(r.props.chart)} at ${version === undefined || version === "" ? "no version (whatever is newest)" : JSON.stringify(version)}: pin an exact chart version`,
            ];
        }
        return [];
    }
    if (r.type === configurationApply) {
        const patches: unknown[] = Array.isArray(r.props.configPatches) ? r.props.configPatches : [];
        const texts = [r.props.machineConfigurationInput, ...patches];
        const images = texts
            .filter((t): t is string => typeof t === "string")
            .flatMap(t => [...t.matchAll(/\bimage"?\s*:\s*"?([^\s",}]+)/g)].map(m => m[1]));
        return [...new Set(images)]
            .filter(i => !isPinnedImage(i))
            .map(i => `Talos machine config of ${r.name} runs image ${i}: pin an exact Talos/Kubernetes version (or a digest)`);
    }
    return [];
}

// --- no plaintext secrets ----------------------------------------------------------------------
// A secret passed as a plain input is written unencrypted into the state file, shown in previews
// and diffs, and kept in every state backup. Secret inputs must stay Pulumi secrets.

/** Input names that hold credentials wherever they appear (Helm values included). */
const sensitiveName = /(password|passwd|token|apikey|privatekey|clientsecret|credentials?|^secret)$/i;
/** Names that refer to a credential kept elsewhere, not the credential itself. */
const referenceName = /(secretref|existingsecret|secretname|passwordkey|tokenkey|keyref|passwordsecret|tokensecretref|tokenref)$/i;

export function noPlaintextSecrets(r: ResourceView): string[] {
    const found: string[] = [];
    const plainAt = (path: string) => ![...r.secret].some(s => path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`));
    for (const [path, value] of leaves(r.props)) {
        if (typeof value !== "string" || value === "") continue;
        const key = (path.split(".").pop() ?? "").replace(/\[\d+\]$/, "").replace(/[-_]/g, "");
        const sensitive =
            // Every value of a Kubernetes Secret is a credential.
            (r.type === "kubernetes:core/v1:Secret" && /^(data|stringData)\./.test(path)) ||
            // What a command gets on stdin is what it must not see in its arguments.
            (r.type.startsWith("command:") && path === "stdin") ||
            (sensitiveName.test(key) && !referenceName.test(key));
        if (sensitive && plainAt(path)) {
            found.push(
                `${r.name}: input ${path} holds a credential as plain text: pass it as a Pulumi secret (pulumi.secret or a secret config value)`,
            );
        }
    }
    return found;
}

// --- datasets protected from deletion ---------------------------------------------------------
// A dataset holds the homelab's data (volumes, shares, backups). Removing it from config or
// running `pulumi destroy` must never destroy it, unless its config says so explicitly.

/** The types of a resource's ancestors, outermost first, from its URN (`urn:pulumi:<stack>::<project>::<a>$<b>$<type>::<name>`). */
export function ancestorTypes(urn: string): string[] {
    const qualified = urn.split("::")[2] ?? "";
    return qualified.split("$").slice(0, -1);
}

/** The component that manages datasets; its children are one remote command per dataset. */
export const datasetsComponent = "homelab:nas:Datasets";

export function datasetsProtected(r: ResourceView, settings: PolicySettings): string[] {
    if (r.type !== "command:remote:Command") return [];
    const scripts = ["create", "update", "delete"].map(k => r.props[k]).filter((s): s is string => typeof s === "string");
    if (!ancestorTypes(r.urn).includes(datasetsComponent)) {
        // Destroying datasets is the Datasets component's business alone, and only as allowed.
        return scripts.some(s => /\bzfs["']?\s+destroy\b/.test(s))
            ? [
                  `${r.name} runs zfs destroy outside ${datasetsComponent}: datasets are destroyed only by their own component, when their config allows it`,
              ]
            : [];
    }
    if (r.props.delete === undefined) return [];
    if (settings.destroyableDatasets.some(d => r.name.endsWith(`-${d}`))) return [];
    return [
        `dataset ${r.name} would be destroyed by pulumi destroy or by removing it from config (it has a delete script): ` +
            "keep datasets without one, or set allowDestroy: true on the dataset in the stack's config",
    ];
}

// --- remote commands that run on the real NAS ------------------------------------------------
// The command provider sends `environment` as SSH env requests, which OpenSSH refuses unless its
// AcceptEnv lists the name (TrueNAS's sshd has none): the command then fails before it runs. The
// previous outputs travel the same way (a warning on every update). And without a pinned host
// key, the provider trusts whatever the network presents.

export function remoteCommandsPortable(r: ResourceView): string[] {
    if (r.type !== "command:remote:Command") return [];
    const found: string[] = [];
    const connection = r.props.connection;
    const hostKey = isObject(connection) ? connection.hostKey : connection === unknownInput ? unknownInput : undefined;
    if (hostKey !== unknownInput && (typeof hostKey !== "string" || hostKey === "")) {
        found.push(`${r.name}: connection.hostKey is not set: the command would trust any host key the network presents; pin the NAS's key`);
    }
    const environment = r.props.environment;
    if (isObject(environment) && Object.keys(environment).length > 0) {
        found.push(
            `${r.name}: sets environment (${Object.keys(environment).join(", ")}): sent as SSH env requests, which TrueNAS's sshd ` +
                "refuses (no AcceptEnv), failing the command; carry the values in the script text",
        );
    }
    if (r.props.addPreviousOutputInEnv !== false && r.props.addPreviousOutputInEnv !== unknownInput) {
        found.push(
            `${r.name}: addPreviousOutputInEnv is not false: the previous output is sent as SSH env requests, refused by TrueNAS's sshd on every update`,
        );
    }
    return found;
}

// --- the stack owns the platform, ArgoCD the workloads ------------------------------------------
// Two controllers reconciling one object fight forever; the boundary is the namespace. The stack
// manages only what lives in the platform's namespaces (and cluster-wide objects); ArgoCD, held
// there by its projects, deploys everything else.

// Kinds that have no namespace. The provider cannot know a custom kind's scope before its CRD is
// registered (a ClusterIssuer created in the same run as cert-manager), and then fills in
// `default` as it would for any namespaced kind; the kind says what the object really is.
const clusterScopedKinds = new Set([
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "CustomResourceDefinition",
    "APIService",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "CertificateSigningRequest",
]);
function isClusterScoped(type: string): boolean {
    const kind = type.split(":")[2] ?? "";
    // ClusterRole, ClusterRoleBinding, cert-manager's ClusterIssuer, Traefik's and others' Cluster* kinds.
    return clusterScopedKinds.has(kind) || kind.startsWith("Cluster");
}

export function platformNamespacesOnly(r: ResourceView, settings: PolicySettings): string[] {
    if (!r.type.startsWith("kubernetes:") || isClusterScoped(r.type)) return [];
    const namespace = r.type === helmRelease ? r.props.namespace : (r.props.metadata as Record<string, unknown> | undefined)?.namespace;
    if (typeof namespace !== "string") return []; // cluster-scoped, or not known yet
    if (settings.platformNamespaces.includes(namespace)) return [];
    return [
        `${r.name} is in namespace ${namespace}, which is not the platform's (${settings.platformNamespaces.join(", ")}): ` +
            "ArgoCD owns what runs there; manage it through the GitOps repository",
    ];
}

// --- nothing with data deleted by the stack ---------------------------------------------------
// A namespace takes its volumes' claims with it, an uninstalled chart its volumes, StorageClasses
// and CRDs (and every object of those kinds). The program keeps them on delete (stacks/retain.ts)
// and marks each such object; a policy cannot see retainOnDelete, so it checks the mark.

const retainedKinds = new Set([
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolume",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:storage.k8s.io/v1:StorageClass",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
]);

export function dataRetained(r: ResourceView): string[] {
    if (!retainedKinds.has(r.type)) return [];
    const metadata = r.props.metadata as Record<string, unknown> | undefined;
    if (metadata === (unknownInput as unknown)) return [];
    const annotations = metadata?.annotations as Record<string, unknown> | undefined;
    if (annotations?.["homelab.dev/retained-on-delete"] === "true") return [];
    return [
        `${r.name} (${r.type.split(":").pop()}) would be deleted with its data by pulumi destroy: create it through the program's retained components (stacks/retain.ts)`,
    ];
}

// --- LoadBalancer Services only at the ingress -------------------------------------------------
// MetalLB hands out a handful of LAN addresses; every LoadBalancer outside the ingress takes one
// and exposes a service to the whole network, bypassing Traefik's TLS and routing.

/** Helm values that would render a LoadBalancer Service: a `service` (or `*Service`) with type LoadBalancer. */
function loadBalancerValues(values: unknown): string[] {
    return leaves(values)
        .filter(([path, v]) => v === "LoadBalancer" && /(^|\.)[a-zA-Z]*[sS]ervice\.type$/.test(path))
        .map(([p]) => p);
}

export function loadBalancersAtIngress(r: ResourceView, settings: PolicySettings): string[] {
    if (r.type === "kubernetes:core/v1:Service") {
        const spec = r.props.spec as Record<string, unknown> | undefined;
        const namespace = (r.props.metadata as Record<string, unknown> | undefined)?.namespace ?? "default";
        if (spec?.type === "LoadBalancer" && namespace !== unknownInput && namespace !== settings.ingressNamespace) {
            return [
                `Service ${r.name} in namespace ${typeof namespace === "string" ? namespace : JSON.stringify(namespace)} is a LoadBalancer: only the ingress (${settings.ingressNamespace}) takes a pool address; route through it instead`,
            ];
        }
    }
    if (r.type === helmRelease && r.props.namespace !== unknownInput && r.props.namespace !== settings.ingressNamespace) {
        return loadBalancerValues(r.props.values).map(
            p =>
                `Helm release ${r.name} in namespace ${String(r.props.namespace)} sets values.${p} = LoadBalancer: only the ingress (${settings.ingressNamespace}) takes a pool address`,
        );
    }
    return [];
}

// --- host paths only for the storage driver ---------------------------------------------------
// A hostPath mount reaches the node's filesystem (on Talos: its system partitions). Only the CSI
// driver needs that, to attach and mount volumes; anything else keeps its data on volumes.

const workloadTypes = new Set(
    ["Pod", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob"].map(
        kind => `kubernetes:${kind === "Job" || kind === "CronJob" ? "batch" : kind === "Pod" ? "core" : "apps"}/v1:${kind}`,
    ),
);

export function hostPathsForStorageOnly(r: ResourceView, settings: PolicySettings): string[] {
    const namespace =
        r.type === helmRelease ? r.props.namespace : ((r.props.metadata as Record<string, unknown> | undefined)?.namespace ?? "default");
    if (namespace === unknownInput || settings.storageNamespaces.includes(String(namespace))) return [];
    const scanned = r.type === helmRelease ? r.props.values : workloadTypes.has(r.type) ? r.props.spec : undefined;
    const mounts = leaves(scanned)
        .map(([p]) => p)
        .filter(p => /(^|\.)hostPath(\.|$)/.test(p));
    const volumes = [...new Set(mounts.map(p => p.slice(0, p.indexOf("hostPath") + "hostPath".length)))];
    return volumes.map(
        p =>
            `${r.name} in namespace ${String(namespace)} mounts a host path (${r.type === helmRelease ? "values" : "spec"}.${p}): ` +
            `only the storage driver (${settings.storageNamespaces.join(", ")}) may reach the node's filesystem`,
    );
}
