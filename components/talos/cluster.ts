// A Talos cluster from bare nodes to a kubeconfig: machine secrets, one rendered and applied
// machine config per node, a single bootstrap on the first control plane, the admin kubeconfig
// and a talosconfig. Single-node and multi-node clusters differ only in their config.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as talos from "@pulumiverse/talos";
import type { ClusterConfig, NodeConfig } from "../../stacks/config";
import { layeredPatches, renderPatches, rolloutOrder } from "./patches";

export interface TalosClusterArgs {
    /** The validated cluster section of the stack config. */
    readonly cluster: ClusterConfig;
    /** The Talos provider every child uses. */
    readonly provider: pulumi.ProviderResource;
    /** Runs the per-node upgrade tool on this machine (command:local:Command). */
    readonly commandProvider: pulumi.ProviderResource;
}

export class TalosCluster extends pulumi.ComponentResource {
    /** The admin kubeconfig (secret). */
    public readonly kubeconfig: pulumi.Output<string>;
    /** A talosconfig for talosctl, with every node as endpoint (secret). */
    public readonly talosconfig: pulumi.Output<string>;
    /** Resolves once the first control plane is bootstrapped; Kubernetes resources wait on it. */
    public readonly bootstrap: talos.machine.Bootstrap;
    /** Applied machine configurations, by node name. */
    public readonly applied: Readonly<Record<string, talos.machine.ConfigurationApply>>;
    /** Per node, the step that upgrades Talos when its version changes. */
    public readonly upgrades: Readonly<Record<string, command.local.Command>>;

    constructor(name: string, args: TalosClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:talos:Cluster", name, {}, opts);
        const { cluster, provider } = args;
        const childOpts = { parent: this, provider };
        const timeouts = { create: cluster.operationTimeout, update: cluster.operationTimeout };

        // The cluster's identity: its CAs and tokens. Never replaced by a version bump (the
        // Talos version only selects defaults when the secrets are first generated).
        const secrets = new talos.machine.Secrets(
            `${name}-secrets`,
            { talosVersion: cluster.talosVersion },
            {
                ...childOpts,
                ignoreChanges: ["talosVersion"],
            },
        );

        const controlPlanes = cluster.nodes.filter(n => n.role === "controlplane").map(n => n.address);
        const clientConfig = talos.client.getConfigurationOutput(
            {
                clusterName: cluster.name,
                clientConfiguration: secrets.clientConfiguration,
                endpoints: cluster.vip !== undefined ? [cluster.vip] : controlPlanes,
                nodes: cluster.nodes.map(n => n.address),
            },
            { parent: this, provider },
        );
        this.talosconfig = pulumi.secret(clientConfig.talosConfig);

        // Nodes roll one at a time, control planes first: a node's new config (Kubernetes version,
        // patches) is applied only after the previous node has taken its own and been upgraded.
        const applied: Record<string, talos.machine.ConfigurationApply> = {};
        const upgrades: Record<string, command.local.Command> = {};
        let previous: pulumi.Resource | undefined;
        for (const node of rolloutOrder(cluster.nodes)) {
            const machineConfig = renderMachineConfig(cluster, node, secrets, { parent: this, provider });
            applied[node.name] = new talos.machine.ConfigurationApply(
                `${name}-${node.name}-config`,
                {
                    clientConfiguration: secrets.clientConfiguration,
                    machineConfigurationInput: machineConfig,
                    node: node.address,
                    endpoint: node.address,
                    applyMode: cluster.applyMode,
                    timeouts,
                },
                { ...childOpts, dependsOn: previous ? [previous] : [] },
            );
            // The Talos provider cannot upgrade the OS; a changed installer image (Talos version)
            // runs `talos-ops upgrade` against this node, which waits until it is back on the new
            // version. A new node installs the configured image, so creating this does nothing.
            upgrades[node.name] = new command.local.Command(
                `${name}-${node.name}-upgrade`,
                {
                    update: `talos-ops upgrade --node ${node.address} --endpoint ${node.address} --image ${cluster.installerImage} --timeout ${cluster.operationTimeout}`,
                    // The talosconfig holds a client key: stdin, never an argument or a file.
                    stdin: this.talosconfig,
                    logging: command.types.enums.local.Logging.Stdout,
                },
                { parent: this, provider: args.commandProvider, dependsOn: [applied[node.name]] },
            );
            previous = upgrades[node.name];
        }
        this.applied = applied;
        this.upgrades = upgrades;

        // etcd starts exactly once, on the first control plane; the others join it.
        const first = rolloutOrder(cluster.nodes)[0];
        this.bootstrap = new talos.machine.Bootstrap(
            `${name}-bootstrap`,
            {
                clientConfiguration: secrets.clientConfiguration,
                node: first.address,
                endpoint: first.address,
                timeouts: { create: cluster.operationTimeout },
            },
            { ...childOpts, dependsOn: [applied[first.name]] },
        );

        const kubeconfig = new talos.cluster.Kubeconfig(
            `${name}-kubeconfig`,
            {
                clientConfiguration: secrets.clientConfiguration,
                node: first.address,
                endpoint: first.address,
                timeouts: { create: cluster.operationTimeout, update: cluster.operationTimeout },
            },
            { ...childOpts, dependsOn: [this.bootstrap] },
        );
        this.kubeconfig = pulumi.secret(kubeconfig.kubeconfigRaw);

        this.registerOutputs({ kubeconfig: this.kubeconfig, talosconfig: this.talosconfig });
    }
}

/** Renders one node's machine config locally: the role's defaults plus the layered patches. */
function renderMachineConfig(
    cluster: ClusterConfig,
    node: NodeConfig,
    secrets: talos.machine.Secrets,
    opts: pulumi.InvokeOutputOptions,
): pulumi.Output<string> {
    return talos.machine.getConfigurationOutput(
        {
            clusterName: cluster.name,
            clusterEndpoint: cluster.endpoint,
            machineType: node.role,
            machineSecrets: secrets.machineSecrets,
            talosVersion: cluster.talosVersion,
            kubernetesVersion: cluster.kubernetesVersion,
            configPatches: renderPatches(layeredPatches(cluster, node)),
            docs: false,
            examples: false,
        },
        opts,
    ).machineConfiguration;
}
