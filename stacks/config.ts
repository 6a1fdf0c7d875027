// The stack configuration, read once and validated before any resource is registered.
//
// Pulumi.yaml types the scalars; the structured values (cluster, nas, network, platform) are
// parsed here with one schema, and every error names the key, the stack file and what is expected:
//   homelab:nas.datasets[2].name: "default/a b" contains a space (Pulumi.lab.yaml)
// Secrets are never read as plain values: they come back as secret Outputs.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { platformNamespaces } from "../components/platform/values";
import { installerImage, officialExtensionPattern } from "../components/talos/schematic";
import {
    chartVersionPattern,
    cronScheduleProblem,
    hostKeyProblem,
    kubernetesSupportProblem,
    parentDataset,
    parseIPv4,
    parseIPv4Cidr,
    parseIPv4Range,
    pinnedVersionPattern,
    portProblem,
    rangeContains,
    rangesOverlap,
    safeUserPropertyValue,
    slash24Of,
    userPropertyPattern,
    zfsDatasetNameProblem,
    zfsPropertyRules,
} from "./rules";

export const configNamespace = "homelab";

const ipv4 = z.string().refine(
    s => parseIPv4(s) !== undefined,
    s => ({ message: `"${s}" is not an IPv4 address` }),
);
const pinnedVersion = (what: string) => z.string().regex(pinnedVersionPattern, { message: `is not a pinned ${what} version such as v1.11.5` });
const duration = z.string().regex(/^\d+(s|m|h)$/, { message: "is not a duration such as 90s, 10m or 1h" });
/** A check of the `rules.ts` kind (undefined: fine) as a zod refinement that reports its message. */
function problemOf<T>(check: (value: T) => string | undefined) {
    return (value: T, ctx: z.RefinementCtx) => {
        const problem = check(value);
        if (problem) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
        }
    };
}
/** `host:port`: the port must be a TCP port (the pattern alone lets 70000 through). */
const portOf = (hostPort: string) => portProblem(/:(\d+)$/.exec(hostPort)?.[1] ?? "");
const talosPatch = z.record(z.unknown()).describe("a strategic-merge patch of the Talos machine config");

/** The apply modes of the pinned Talos provider (see clusterSchema.applyMode). */
export const talosProviderApplyModes = ["auto", "reboot", "no_reboot", "staged"] as const;

export const nodeSchema = z
    .object({
        /** Hostname of the node; also its Pulumi resource name, so it must never change. */
        name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
            message: "is not a valid hostname (lowercase letters, digits and -, at most 63 characters)",
        }),
        /** Address of the node's Talos API (and, for control planes, its Kubernetes API). */
        address: ipv4,
        role: z.enum(["controlplane", "worker"]),
        /** Where Prometheus scrapes this control plane's etcd, controller-manager and scheduler, if not
         * at `address` (the API server refuses loopback addresses in Endpoints: the lab's nodes are on
         * loopback, so the lab names a documentation address Prometheus never reaches). */
        metricsAddress: ipv4.optional(),
        /** Disk Talos installs itself onto. */
        installDisk: z.string().regex(/^\/dev\/[A-Za-z0-9/_-]+$/, { message: "is not a device path such as /dev/sda" }),
        /** Patches for this node only, applied after the cluster and role patches. */
        patches: z.array(talosPatch).default([]),
    })
    .strict();

export const clusterSchema = z
    .object({
        name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { message: "is not a DNS label" }),
        /** The Kubernetes API endpoint every node and client uses: the node itself, or a VIP. */
        endpoint: z
            .string()
            .regex(/^https:\/\/[^/\s]+:\d+$/, { message: "is not an URL such as https://192.168.2.20:6443" })
            .superRefine(problemOf(endpoint => (/:\d+$/.test(endpoint) ? portOf(endpoint) : undefined))),
        /** Shared virtual IP for several control planes (Talos-managed); none for a single node. */
        vip: ipv4.optional(),
        talosVersion: pinnedVersion("Talos"),
        kubernetesVersion: pinnedVersion("Kubernetes"),
        /** Official Talos system extensions baked into the installer image (its Image Factory
         * schematic and id are computed from these: components/talos/schematic.ts). */
        systemExtensions: z
            .array(
                z.string().regex(officialExtensionPattern, {
                    message: "is not an official extension name such as siderolabs/iscsi-tools",
                }),
            )
            .default([]),
        /** How the provider applies a changed machine config. Exactly the modes the pinned provider
         * accepts: terraform-provider-talos v0.7.1 (what @pulumiverse/talos 0.5.2 wraps, see
         * toolchain/versions.env), pkg/talos/talos_machine_configuration_apply_resource.go, the
         * apply_mode validator OneOf("auto", "reboot", "no_reboot", "staged"). Talos's own
         * staged_if_needing_reboot is refused there at preview, so it is refused here first. */
        applyMode: z.enum(talosProviderApplyModes).default("auto"),
        /** The cluster already runs (taken over with `npm run adopt`): its etcd is never bootstrapped
         * again, and its own PKI (homelab:talosSecrets) is used instead of generating one. */
        bootstrapped: z.boolean().default(false),
        /** How long Talos operations may retry (the provider's default is 10 minutes). */
        operationTimeout: duration.default("10m"),
        patches: z
            .object({
                cluster: z.array(talosPatch).default([]),
                controlplane: z.array(talosPatch).default([]),
                worker: z.array(talosPatch).default([]),
            })
            .strict()
            .default({}),
        nodes: z.array(nodeSchema).min(1, { message: "needs at least one node" }),
    })
    .strict()
    .transform(cluster => ({
        ...cluster,
        /** The Image Factory installer for talosVersion with systemExtensions (derived, never configured). */
        installerImage: installerImage(cluster.systemExtensions, cluster.talosVersion),
    }));

const zfsProperties = z.record(z.string()).superRefine((props, ctx) => {
    for (const [key, value] of Object.entries(props)) {
        const rule = zfsPropertyRules[key];
        if (rule) {
            if (!rule.test(value)) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `"${value}" is not valid: expected ${rule.describe}` });
            }
        } else if (userPropertyPattern.test(key)) {
            if (!safeUserPropertyValue.test(value)) {
                ctx.addIssue({
                    code: z.ZodIssueCode.custom,
                    path: [key],
                    message: `"${value}" has a character outside letters, digits and _ . : / , = @ + -`,
                });
            }
        } else {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: [key],
                message: `is not a property this project manages (known: ${Object.keys(zfsPropertyRules).join(", ")}, or a user property module:name)`,
            });
        }
    }
});

export const datasetSchema = z
    .object({
        name: z.string().superRefine((name, ctx) => {
            const problem = zfsDatasetNameProblem(name);
            if (problem) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${name}" ${problem}` });
            }
        }),
        properties: zfsProperties.default({}),
        /** Only a dataset that says so may ever be destroyed by this stack; all others are kept. */
        allowDestroy: z.boolean().default(false),
    })
    .strict();

export const nasSchema = z
    .object({
        host: ipv4,
        port: z.number().int().min(1).max(65535).default(22),
        user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { message: "is not a POSIX user name" }),
        /** The NAS's SSH host key as `<type> <base64>`: pinned, never trusted on first use. */
        hostKey: z.string().superRefine((line, ctx) => {
            const problem = hostKeyProblem(line);
            if (problem) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
            }
        }),
        /** Run zfs through passwordless sudo (a non-root user on TrueNAS SCALE). */
        sudo: z.boolean().default(true),
        /** TrueNAS SCALE keeps zfs in /usr/sbin, which is not on a non-interactive PATH. */
        zfsPath: z
            .string()
            .regex(/^\/[A-Za-z0-9_./-]+$/, { message: "is not an absolute path" })
            .default("/usr/sbin/zfs"),
        pool: z.string().superRefine((name, ctx) => {
            const problem = zfsDatasetNameProblem(name);
            if (problem || name.includes("/")) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${name}" is not a pool name${problem ? `: it ${problem}` : ""}` });
            }
        }),
        datasets: z.array(datasetSchema).default([]),
        /** Where etcd snapshots go (npm run etcd-backup), and how many are kept (7 daily, 4 weekly,
         * 12 monthly by default). The dataset must be listed in datasets. */
        etcdBackups: z
            .object({
                dataset: z.string(),
                /** When the in-cluster job snapshots etcd (cron, in the cluster's time zone: UTC on Talos). */
                schedule: z.string().superRefine(problemOf(cronScheduleProblem)).default("0 3 * * *"),
                /** The image the job's store step runs in: Node.js with an OpenSSH client (the official
                 * node image's Debian variant has one; Alpine's would install it from the internet nightly). */
                storeImage: z
                    .string()
                    .regex(/^[a-z0-9./-]+:[0-9][\w.-]*$/, { message: "is not an image pinned to a version tag" })
                    .default("node:20.18.1-bookworm"),
                retention: z
                    .object({
                        daily: z.number().int().min(1).default(7),
                        weekly: z.number().int().min(0).default(4),
                        monthly: z.number().int().min(0).default(12),
                    })
                    .strict()
                    .default({}),
            })
            .strict()
            .optional(),
        /** The datasets each democratic-csi driver provisions under; they must be listed in datasets. */
        csi: z
            .object({
                iscsi: z.object({ parent: z.string(), snapshots: z.string() }).strict(),
                nfs: z.object({ parent: z.string(), snapshots: z.string() }).strict(),
            })
            .strict(),
    })
    .strict();

export const networkSchema = z
    .object({
        /** MetalLB address ranges, each "first-last" or a single address. */
        metallbAddresses: z.array(z.string()).min(1, { message: "needs at least one address range" }),
        /** The nodes' subnet (`a.b.c.d/n`): MetalLB answers ARP for its addresses on the nodes' L2
         * segment, so every range, the VIP and every node must be inside it. Without it, the /24 of
         * the first node. */
        subnet: z
            .string()
            .superRefine(
                problemOf(text => {
                    try {
                        parseIPv4Cidr(text);
                        return undefined;
                    } catch (e) {
                        return (e as Error).message;
                    }
                }),
            )
            .optional(),
        /** Traefik's LoadBalancer address; must be inside a MetalLB range. */
        ingressAddress: ipv4,
        /** The DNS zone certificates are issued for. */
        domain: z.string().regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, { message: "is not a domain name" }),
    })
    .strict();

/** The owner's iSCSI target and extent settings on TrueNAS (democratic-csi's freenas-iscsi
 * `iscsi.*`). Defaults are what the stack has always rendered; the owner's driver config is the truth. */
const iscsiDriverSettings = {
    /** Zvols and targets are named <namePrefix><volume><nameSuffix>: existing volumes carry today's. */
    namePrefix: z
        .string()
        .regex(/^[a-z0-9.:-]*$/, { message: "is not an iSCSI name part (lowercase letters, digits, . : -)" })
        .default("csi-"),
    nameSuffix: z
        .string()
        .regex(/^[a-z0-9.:-]*$/, { message: "is not an iSCSI name part (lowercase letters, digits, . : -)" })
        .default("-k8s"),
    /** The portal and initiator groups pre-exist on TrueNAS; the driver takes their ids. */
    targetGroups: z
        .array(
            z
                .object({
                    portalGroup: z.number().int().min(1),
                    initiatorGroup: z.number().int().min(1),
                    authType: z.enum(["None", "CHAP", "CHAP Mutual"]).default("None"),
                })
                .strict(),
        )
        .min(1, { message: "needs at least one target group" })
        .default([{ portalGroup: 1, initiatorGroup: 1, authType: "None" }]),
    extent: z
        .object({
            insecureTpc: z.boolean().default(true),
            xenCompat: z.boolean().default(false),
            disablePhysicalBlocksize: z.boolean().default(true),
            blocksize: z
                .number()
                .refine(n => [512, 1024, 2048, 4096].includes(n), { message: "is not 512, 1024, 2048 or 4096" })
                .default(512),
            rpm: z.enum(["Unknown", "SSD", "5400", "7200", "10000", "15000"]).default("SSD"),
            availThreshold: z.number().int().min(0).max(99).default(0),
        })
        .strict()
        .default({}),
};

/** The owner's NFS share settings (democratic-csi's freenas-nfs `nfs.*`). */
const nfsDriverSettings = {
    share: z
        .object({
            alldirs: z.boolean().default(false),
            allowedHosts: z.array(z.string()).default([]),
            allowedNetworks: z.array(z.string()).default([]),
            maprootUser: z.string().default("root"),
            maprootGroup: z.string().default("root"),
        })
        .strict()
        .default({}),
};

/** A democratic-csi driver's CSI driver name and StorageClass (the ones its volumes already carry). */
function csiNamesShape(driverName: string, storageClass: string) {
    return {
        csiDriverName: z
            .string()
            .regex(/^[a-z0-9.-]+$/, { message: "is not a CSI driver name such as org.democratic-csi.iscsi" })
            .default(driverName),
        storageClass: z
            .string()
            .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, { message: "is not a StorageClass name" })
            .default(storageClass),
        reclaimPolicy: z.enum(["Delete", "Retain"]).default("Delete"),
        defaultClass: z.boolean().optional(),
    };
}

const chartSchema = z
    .object({
        repo: z.string().regex(/^(https?|oci):\/\/\S+$/, { message: "is not a chart repository URL" }),
        chart: z.string().regex(/^[a-z0-9-]+$/, { message: "is not a chart name" }),
        version: z.string().regex(chartVersionPattern, { message: "is not a pinned chart version (an exact version such as 1.2.3; no ranges)" }),
    })
    .strict();

export const platformSchema = z
    .object({
        charts: z
            .object({
                metallb: chartSchema,
                traefik: chartSchema,
                certManager: chartSchema,
                democraticCsi: chartSchema,
                kubePrometheusStack: chartSchema,
                argocd: chartSchema,
                /** Signs the kubelets' serving-certificate requests (the Talos patch turns rotation on). */
                csrApprover: chartSchema,
            })
            .strict(),
        /** How Helm releases wait. Production waits for readiness; a cluster with no kubelet cannot. */
        helm: z
            .object({
                skipAwait: z.boolean().default(false),
                timeoutSeconds: z.number().int().min(30).default(600),
                disableHooks: z.boolean().default(false),
                /** Register the Prometheus operator's admission webhooks (kube-prometheus-stack's
                 * prometheusOperator.admissionWebhooks). The only chart with such a switch: cert-manager's
                 * and MetalLB's webhooks are part of their controllers and always installed. */
                webhooks: z.boolean().default(true),
            })
            .strict()
            .default({}),
        letsEncrypt: z
            .object({
                email: z.string().email({ message: "is not an email address" }),
            })
            .strict(),
        argocd: z
            .object({
                repoURL: z.string().regex(/^(https:\/\/|ssh:\/\/|git@)\S+$/, { message: "is not a Git repository URL" }),
                path: z.string().min(1),
                targetRevision: z.string().min(1).default("HEAD"),
                /** User name for HTTPS repository credentials (the token is the secret homelab:gitToken). */
                username: z.string().optional(),
                /** The workloads' namespaces. The stack makes them (and keeps them on delete):
                 * ArgoCD's workloads project may create no cluster-scoped object, Namespaces included. */
                namespaces: z
                    .array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: "is not a namespace name (RFC 1123 label)" }))
                    .default([]),
                /** Files under `path` the root Application never applies (globs): SOPS files, and the
                 * platform's own Applications, which belong to this stack. */
                exclude: z
                    .array(
                        z
                            .string()
                            .min(1)
                            .regex(/^[^{},]+$/, { message: "is one glob: braces and commas are how the globs are joined" }),
                    )
                    .default(["*.sops.yaml"]),
            })
            .strict(),
        /** Where Alertmanager sends alerts. The receiver's credential (Discord or Slack webhook URL,
         * or SMTP password) is the secret homelab:alertingSecret. */
        alerting: z
            .object({
                receiver: z.enum(["none", "discord", "slack", "email"]).default("none"),
                /** Alertmanager's volume (silences, notification log), on grafana.storageClass. */
                storageSize: z
                    .string()
                    .regex(/^\d+(Mi|Gi|Ti)$/, { message: "is not a Kubernetes quantity such as 1Gi" })
                    .default("1Gi"),
                slackChannel: z
                    .string()
                    .regex(/^#[\w-]+$/, { message: "is not a Slack channel such as #alerts" })
                    .optional(),
                email: z
                    .object({
                        to: z.string().email({ message: "is not an email address" }),
                        from: z.string().email({ message: "is not an email address" }),
                        smarthost: z
                            .string()
                            .regex(/^[a-z0-9.-]+:\d+$/, { message: "is not host:port of an SMTP server" })
                            .superRefine(problemOf(hostPort => (/:\d+$/.test(hostPort) ? portOf(hostPort) : undefined))),
                        username: z.string().optional(),
                    })
                    .strict()
                    .optional(),
            })
            .strict()
            .default({}),
        /** democratic-csi's driver image (the chart's default is `latest`, whatever master is). */
        democraticCsi: z
            .object({
                image: z.string().regex(/^[a-z0-9./-]+(:v?\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$/, {
                    message: "is not an image pinned to a release tag (v1.9.3) or a digest (@sha256:...)",
                }),
                /** The names each driver's volumes already carry: a different CSI driver name orphans every
                 * existing volume, and a StorageClass's parameters cannot change in place. */
                iscsi: z
                    .object({ ...csiNamesShape("org.democratic-csi.iscsi", "truenas-iscsi"), ...iscsiDriverSettings })
                    .strict()
                    .default({}),
                nfs: z
                    .object({ ...csiNamesShape("org.democratic-csi.nfs", "truenas-nfs"), ...nfsDriverSettings })
                    .strict()
                    .default({}),
            })
            .strict(),
        grafana: z
            .object({
                /** One of the StorageClasses democratic-csi makes (democraticCsi.{iscsi,nfs}.storageClass). */
                storageClass: z.string().default("truenas-iscsi"),
                storageSize: z
                    .string()
                    .regex(/^\d+(Mi|Gi|Ti)$/, { message: "is not a Kubernetes quantity such as 10Gi" })
                    .default("10Gi"),
            })
            .strict()
            .default({}),
    })
    .strict();

export type NodeConfig = z.infer<typeof nodeSchema>;
export type ClusterConfig = z.output<typeof clusterSchema>;
export type DatasetConfig = z.infer<typeof datasetSchema>;
export type NasConfig = z.infer<typeof nasSchema>;
export type NetworkConfig = z.infer<typeof networkSchema>;
export type PlatformConfig = z.infer<typeof platformSchema>;

/** The validated, non-secret part of a stack's configuration. */
export interface StackSettings {
    readonly stack: string;
    readonly cluster: ClusterConfig;
    readonly nas: NasConfig;
    readonly network: NetworkConfig;
    readonly platform: PlatformConfig;
}

/** The secret part: every value is a secret Output and stays one. */
export interface StackSecrets {
    readonly nasSshPrivateKey: pulumi.Output<string>;
    readonly truenasApiKey: pulumi.Output<string>;
    readonly cloudflareApiToken: pulumi.Output<string>;
    readonly gitToken: pulumi.Output<string>;
    /** Only with platform.alerting.receiver other than none. */
    readonly alertingSecret?: pulumi.Output<string>;
    /** A cluster taken over: its machine secrets and admin client, JSON (npm run adopt writes it). */
    readonly talosSecrets?: pulumi.Output<string>;
}

export interface StackConfig extends StackSettings {
    readonly secrets: StackSecrets;
}

/** The structured keys and the schema of each. */
const structuredKeys = {
    cluster: clusterSchema,
    nas: nasSchema,
    network: networkSchema,
    platform: platformSchema,
} as const;

/** Secret keys, with what each is for (used in the error that tells how to set one). */
export const secretKeys: Readonly<Record<keyof StackSecrets, string>> = {
    nasSshPrivateKey: "the private key of the NAS SSH user (OpenSSH format)",
    truenasApiKey: "a TrueNAS API key for democratic-csi",
    cloudflareApiToken: "a Cloudflare API token with DNS edit rights, for Let's Encrypt DNS-01",
    gitToken: "a token ArgoCD uses to read the GitOps repository",
    alertingSecret: "the Discord or Slack webhook URL, or the SMTP password, Alertmanager sends alerts with (platform.alerting.receiver)",
    talosSecrets:
        "the machine secrets and admin client of the running cluster (cluster.bootstrapped), as `npm run adopt -- <stack> --apply` writes them",
};

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

function formatPath(path: readonly (string | number)[]): string {
    return path.map(p => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
}

/**
 * Validates the raw structured config of a stack (the object form of `homelab:*` keys) and the
 * rules that span keys. Pure: tests call it with plain objects.
 */
export function parseStackSettings(stack: string, raw: Readonly<Record<string, unknown>>): StackSettings {
    const file = `Pulumi.${stack}.yaml`;
    const problems: string[] = [];
    const parsed: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(structuredKeys)) {
        const value = raw[key];
        if (value === undefined) {
            problems.push(`${configNamespace}:${key}: is missing (${file})`);
            continue;
        }
        const result = (schema as z.ZodTypeAny).safeParse(value);
        if (result.success) {
            parsed[key] = result.data;
        } else {
            for (const issue of result.error.issues) {
                problems.push(`${configNamespace}:${key}${formatPath(issue.path)}: ${describeIssue(issue)} (${file})`);
            }
        }
    }
    if (problems.length === 0) {
        problems.push(...crossKeyProblems(parsed as unknown as StackSettings).map(p => `${p} (${file})`));
    }
    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
    return { stack, ...(parsed as Omit<StackSettings, "stack">) };
}

/** Keys earlier versions of this project read, and what replaced each. */
const retiredKeys: Readonly<Record<string, string>> = {
    installerImage: "the installer image is computed from cluster.systemExtensions and talosVersion; list the extensions instead",
    kubeletCertApprover: "kubelet-serving-cert-approver publishes no Helm chart; use charts.csrApprover (postfinance kubelet-csr-approver)",
};

function describeIssue(issue: z.ZodIssue): string {
    switch (issue.code) {
        case z.ZodIssueCode.invalid_type:
            return issue.received === "undefined" ? "is required" : `expected ${issue.expected}, got ${issue.received}`;
        case z.ZodIssueCode.unrecognized_keys:
            return `unknown key(s) ${issue.keys.map(k => `"${k}"${retiredKeys[k] ? ` (${retiredKeys[k]})` : ""}`).join(", ")}`;
        case z.ZodIssueCode.invalid_enum_value:
            return `"${issue.received}" is not one of ${issue.options.join(", ")}`;
        default:
            return issue.message;
    }
}

/** Rules that involve more than one value: uniqueness, address plans, dataset trees. */
export function crossKeyProblems(s: StackSettings): string[] {
    const problems: string[] = [];
    const ns = configNamespace;

    // Nodes: unique names and addresses; an odd number of control planes (etcd quorum).
    const seenNames = new Map<string, number>();
    const seenAddresses = new Map<string, number>();
    s.cluster.nodes.forEach((node, i) => {
        const byName = seenNames.get(node.name);
        if (byName !== undefined) {
            problems.push(`${ns}:cluster.nodes[${i}].name: "${node.name}" is already the name of nodes[${byName}]`);
        }
        seenNames.set(node.name, i);
        const byAddress = seenAddresses.get(node.address);
        if (byAddress !== undefined) {
            problems.push(`${ns}:cluster.nodes[${i}].address: ${node.address} is already the address of nodes[${byAddress}]`);
        }
        seenAddresses.set(node.address, i);
    });
    const controlPlanes = s.cluster.nodes.filter(n => n.role === "controlplane").length;
    if (controlPlanes === 0) {
        problems.push(`${ns}:cluster.nodes: needs at least one node with role controlplane`);
    } else if (controlPlanes % 2 === 0) {
        problems.push(`${ns}:cluster.nodes: has ${controlPlanes} control planes; etcd needs an odd number (1, 3, 5) to keep quorum`);
    }
    if (controlPlanes > 1 && s.cluster.vip === undefined) {
        problems.push(`${ns}:cluster.vip: is required with ${controlPlanes} control planes (the shared API address)`);
    }
    const endpointHost = /^https:\/\/([^:/]+)/.exec(s.cluster.endpoint)?.[1];
    if (s.cluster.vip !== undefined && endpointHost !== s.cluster.vip) {
        problems.push(`${ns}:cluster.endpoint: ${s.cluster.endpoint} should use the VIP ${s.cluster.vip}`);
    }
    if (
        s.cluster.vip === undefined &&
        endpointHost !== undefined &&
        parseIPv4(endpointHost) !== undefined &&
        !s.cluster.nodes.some(n => n.role === "controlplane" && n.address === endpointHost)
    ) {
        problems.push(`${ns}:cluster.endpoint: ${endpointHost} is neither a control plane's address nor a VIP`);
    }

    // Versions: Talos refuses to run (or upgrade to) a Kubernetes outside its support range.
    const unsupported = kubernetesSupportProblem(s.cluster.talosVersion, s.cluster.kubernetesVersion);
    if (unsupported !== undefined) {
        problems.push(`${ns}:cluster.kubernetesVersion: ${unsupported}`);
    }

    // Addresses: MetalLB ranges parse, do not hold a node, the VIP or the NAS; ingress inside one.
    const ranges: { text: string; index: number; range: ReturnType<typeof parseIPv4Range> }[] = [];
    s.network.metallbAddresses.forEach((text, i) => {
        try {
            ranges.push({ text, index: i, range: parseIPv4Range(text) });
        } catch (e) {
            problems.push(`${ns}:network.metallbAddresses[${i}]: ${(e as Error).message}`);
        }
    });
    const inPool = (address: string) => ranges.find(r => rangeContains(r.range, parseIPv4(address)!));
    // Two pools holding one address: MetalLB refuses the overlapping pool at admission.
    ranges.forEach((a, i) =>
        ranges.slice(0, i).forEach(b => {
            if (rangesOverlap(a.range, b.range)) {
                problems.push(`${ns}:network.metallbAddresses[${a.index}]: range "${a.text}" overlaps range "${b.text}"`);
            }
        }),
    );
    // MetalLB's L2 mode announces addresses on the nodes' own segment: one outside it is never reached.
    const subnetText = s.network.subnet ?? slash24Of(s.cluster.nodes[0].address);
    const subnetKey =
        s.network.subnet === undefined
            ? `first node's /24 ${subnetText} (set ${ns}:network.subnet if the nodes' subnet differs)`
            : `nodes' subnet ${subnetText}`;
    const subnet = parseIPv4Cidr(subnetText);
    ranges.forEach(r => {
        if (!(rangeContains(subnet, r.range.start) && rangeContains(subnet, r.range.end))) {
            problems.push(`${ns}:network.metallbAddresses[${r.index}]: range "${r.text}" is outside the ${subnetKey}`);
        }
    });
    s.cluster.nodes.forEach((node, i) => {
        if (!rangeContains(subnet, parseIPv4(node.address)!)) {
            problems.push(`${ns}:cluster.nodes[${i}].address: ${node.address} is outside the ${subnetKey}`);
        }
    });
    if (s.cluster.vip !== undefined && !rangeContains(subnet, parseIPv4(s.cluster.vip)!)) {
        problems.push(`${ns}:cluster.vip: ${s.cluster.vip} is outside the ${subnetKey}`);
    }
    if (s.cluster.vip !== undefined && inPool(s.cluster.vip)) {
        problems.push(`${ns}:cluster.vip: ${s.cluster.vip} is inside the MetalLB range ${inPool(s.cluster.vip)!.text}`);
    }
    s.cluster.nodes.forEach((node, i) => {
        const r = inPool(node.address);
        if (r) {
            problems.push(`${ns}:cluster.nodes[${i}].address: ${node.address} is inside the MetalLB range ${r.text}`);
        }
    });
    if (inPool(s.nas.host)) {
        problems.push(`${ns}:nas.host: ${s.nas.host} is inside the MetalLB range ${inPool(s.nas.host)!.text}`);
    }
    if (ranges.length === s.network.metallbAddresses.length && !inPool(s.network.ingressAddress)) {
        problems.push(
            `${ns}:network.ingressAddress: ${s.network.ingressAddress} is outside every MetalLB range (${s.network.metallbAddresses.join(", ")})`,
        );
    }

    // Datasets: inside the pool, unique, parents listed (or the pool) before children.
    const datasetIndex = new Map<string, number>();
    s.nas.datasets.forEach((ds, i) => {
        const key = `${ns}:nas.datasets[${i}].name`;
        if (ds.name !== s.nas.pool && !ds.name.startsWith(`${s.nas.pool}/`)) {
            problems.push(`${key}: "${ds.name}" is not inside pool "${s.nas.pool}"`);
            return;
        }
        if (datasetIndex.has(ds.name)) {
            problems.push(`${key}: "${ds.name}" is already listed as datasets[${datasetIndex.get(ds.name)}]`);
        }
        const parent = parentDataset(ds.name);
        if (parent !== undefined && parent !== s.nas.pool && !datasetIndex.has(parent)) {
            problems.push(`${key}: parent "${parent}" must be listed before "${ds.name}"`);
        }
        datasetIndex.set(ds.name, i);
    });
    const csiDatasets: [string, string][] = [
        ["csi.iscsi.parent", s.nas.csi.iscsi.parent],
        ["csi.iscsi.snapshots", s.nas.csi.iscsi.snapshots],
        ["csi.nfs.parent", s.nas.csi.nfs.parent],
        ["csi.nfs.snapshots", s.nas.csi.nfs.snapshots],
    ];
    for (const [key, name] of csiDatasets) {
        if (!datasetIndex.has(name)) {
            problems.push(`${ns}:nas.${key}: "${name}" is not one of nas.datasets`);
        }
    }
    const backups = s.nas.etcdBackups?.dataset;
    if (backups !== undefined && !datasetIndex.has(backups)) {
        problems.push(`${ns}:nas.etcdBackups.dataset: "${backups}" is not one of nas.datasets`);
    }
    if (backups !== undefined) {
        for (const [key, name] of csiDatasets) {
            if (backups === name || backups.startsWith(`${name}/`)) {
                problems.push(`${ns}:nas.etcdBackups.dataset: "${backups}" is inside ${key} "${name}", which democratic-csi manages`);
            }
        }
    }
    const csi = s.platform.democraticCsi;
    if (csi.iscsi.storageClass === csi.nfs.storageClass) {
        problems.push(`${ns}:platform.democraticCsi.nfs.storageClass: "${csi.nfs.storageClass}" is already the iSCSI driver's StorageClass`);
    }
    if (csi.iscsi.csiDriverName === csi.nfs.csiDriverName) {
        problems.push(`${ns}:platform.democraticCsi.nfs.csiDriverName: "${csi.nfs.csiDriverName}" is already the iSCSI driver's name`);
    }
    if (![csi.iscsi.storageClass, csi.nfs.storageClass].includes(s.platform.grafana.storageClass)) {
        problems.push(
            `${ns}:platform.grafana.storageClass: "${s.platform.grafana.storageClass}" is not a StorageClass democratic-csi makes ` +
                `(${csi.iscsi.storageClass}, ${csi.nfs.storageClass})`,
        );
    }
    // The stack makes these for ArgoCD's workloads: never one the platform or Kubernetes owns.
    const reserved = new Set<string>([...Object.values(platformNamespaces), "kube-system", "kube-public", "kube-node-lease", "default"]);
    for (const [i, name] of s.platform.argocd.namespaces.entries()) {
        if (reserved.has(name)) {
            problems.push(`${ns}:platform.argocd.namespaces[${i}]: "${name}" belongs to the platform or to Kubernetes, not to the workloads`);
        }
    }
    const alerting = s.platform.alerting;
    if (alerting.receiver === "email" && alerting.email === undefined) {
        problems.push(`${ns}:platform.alerting.email: is required with receiver email (to, from, smarthost)`);
    }
    if (alerting.receiver !== "email" && alerting.email !== undefined) {
        problems.push(`${ns}:platform.alerting.email: is only used with receiver email, not ${alerting.receiver}`);
    }
    // democratic-csi rejects parents nested inside each other.
    for (const [keyA, a] of csiDatasets) {
        for (const [keyB, b] of csiDatasets) {
            if (keyA !== keyB && b.startsWith(`${a}/`)) {
                problems.push(`${ns}:nas.${keyB}: "${b}" is nested inside ${keyA} "${a}"; democratic-csi needs separate trees`);
            }
        }
    }
    return problems;
}

/** Reads and validates this stack's configuration from the Pulumi runtime. */
export function loadStackConfig(): StackConfig {
    const cfg = new pulumi.Config(configNamespace);
    const stack = pulumi.getStack();
    const raw: Record<string, unknown> = {};
    for (const key of Object.keys(structuredKeys)) {
        try {
            raw[key] = cfg.getObject(key);
        } catch (e) {
            throw new ConfigError([`${configNamespace}:${key}: is not valid YAML/JSON: ${(e as Error).message} (Pulumi.${stack}.yaml)`]);
        }
    }
    const settings = parseStackSettings(stack, raw);
    return { ...settings, secrets: loadSecrets(cfg, stack, settings) };
}

function loadSecrets(cfg: pulumi.Config, stack: string, settings: StackSettings): StackSecrets {
    const needed = (Object.keys(secretKeys) as (keyof StackSecrets)[]).filter(
        k => (k !== "alertingSecret" || settings.platform.alerting.receiver !== "none") && (k !== "talosSecrets" || settings.cluster.bootstrapped),
    );
    const missing = needed.filter(k => cfg.getSecret(k) === undefined);
    if (missing.length > 0) {
        throw new ConfigError(
            missing.map(
                k =>
                    `${configNamespace}:${k}: is missing: ${secretKeys[k]}; set it with ` +
                    `\`npm run pulumi -- config set --secret --stack ${stack} ${configNamespace}:${k} <value>\`` +
                    (k === "nasSshPrivateKey" ? ` (or: ... config set --secret ${configNamespace}:${k} < ~/.ssh/truenas_csi)` : ""),
            ),
        );
    }
    const read = (k: keyof StackSecrets) => cfg.requireSecret(k);
    return {
        nasSshPrivateKey: read("nasSshPrivateKey"),
        truenasApiKey: read("truenasApiKey"),
        cloudflareApiToken: read("cloudflareApiToken"),
        gitToken: read("gitToken"),
        alertingSecret: needed.includes("alertingSecret") ? read("alertingSecret") : undefined,
        talosSecrets: needed.includes("talosSecrets") ? read("talosSecrets") : undefined,
    };
}

/**
 * Whether every command on a stack runs in a network namespace with only loopback, from its
 * parsed stack file. Fails closed: anything but an explicit `false` isolates (`true`, `True`,
 * `"true"`, a typo, a missing key or a missing file alike), so a slip never opens the network.
 */
export function networkIsolated(stackFile: unknown): boolean {
    const config = (stackFile as { config?: Record<string, unknown> } | null | undefined)?.config;
    const value = config?.[`${configNamespace}:isolateNetwork`];
    return !(value === false || value === "false");
}

/** The policy pack's settings that come from a stack's validated config (toolchain/pulumi.sh
 * passes them with --policy-pack-config): the datasets whose config allows destroying them. */
export function policyConfig(settings: StackSettings): Record<string, { destroyableDatasets: string[] }> {
    const destroyableDatasets = settings.nas.datasets.filter(d => d.allowDestroy).map(d => d.name);
    return { "datasets-protected": { destroyableDatasets } };
}

/** The `homelab:*` keys of a parsed stack file, without the namespace. */
export function structuredConfigOf(stackFile: unknown): Record<string, unknown> {
    const config = (stackFile as { config?: Record<string, unknown> } | null | undefined)?.config ?? {};
    return Object.fromEntries(
        Object.entries(config)
            .filter(([k]) => k.startsWith(`${configNamespace}:`))
            .map(([k, v]) => [k.slice(configNamespace.length + 1), v]),
    );
}
