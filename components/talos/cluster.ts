// A Talos cluster from bare nodes to a kubeconfig: machine secrets, one rendered and applied
// machine config per node, a single bootstrap on the first control plane, the admin kubeconfig
// and a talosconfig. Single-node and multi-node clusters differ only in their config.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as talos from "@pulumiverse/talos";
import type { ClusterConfig, NodeConfig } from "../../stacks/config";
import { layeredPatches, renderPatches, rolloutOrder } from "./patches";
import type { AdoptedSecrets } from "./secrets";

export interface TalosClusterArgs {
    /** The validated cluster section of the stack config. */
    readonly cluster: ClusterConfig;
    /** The Talos provider every child uses. */
    readonly provider: pulumi.ProviderResource;
    /** For a cluster taken over (cluster.bootstrapped): its own machine secrets and admin client,
     * JSON (secret). */
    readonly adoptedSecrets?: pulumi.Output<string>;
    /** Runs the per-node upgrade tool on this machine (command:local:Command). */
    readonly commandProvider: pulumi.ProviderResource;
}

export class TalosCluster extends pulumi.ComponentResource {
    /** The admin kubeconfig (secret). */
    public readonly kubeconfig: pulumi.Output<string>;
    /** A talosconfig for talosctl, with every node as endpoint (secret). */
    public readonly talosconfig: pulumi.Output<string>;
    /** The step after which the first control plane serves Kubernetes (its bootstrap, or its
     * config for a cluster that already runs); Kubernetes resources wait on it. */
    public readonly ready: pulumi.Resource;
    /** Applied machine configurations, by node name. */
    public readonly applied: Readonly<Record<string, talos.machine.ConfigurationApply>>;
    /** Per node, the step that upgrades Talos when its version changes. */
    public readonly upgrades: Readonly<Record<string, command.local.Command>>;

    constructor(name: string, args: TalosClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:talos:Cluster", name, {}, opts);
        const { cluster, provider } = args;
        const childOpts = { parent: this, provider };
        const timeouts = { create: cluster.operationTimeout, update: cluster.operationTimeout };

        // The cluster's identity: its CAs and tokens. Generated for a new cluster, never replaced
        // by a version bump (the Talos version only selects defaults when they are first made);
        // a cluster taken over keeps its own (homelab:talosSecrets, made by `npm run adopt`).
        if (cluster.bootstrapped && args.adoptedSecrets === undefined) {
            throw new Error("a cluster that already runs (cluster.bootstrapped) keeps its own secrets: homelab:talosSecrets is missing");
        }
        const secrets = cluster.bootstrapped ? adoptedSecrets(args.adoptedSecrets!) : generatedSecrets(name, cluster, childOpts);

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
                    // A control plane's run ends once its API server is ready again, not just its apid.
                    update:
                        `talos-ops upgrade --node ${node.address} --endpoint ${node.address} --image ${cluster.installerImage} --timeout ${cluster.operationTimeout}` +
                        (node.role === "controlplane" ? " --wait-kubernetes" : ""),
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

        // etcd starts exactly once, on the first control plane; the others join it. A cluster
        // that already runs (taken over) is never bootstrapped again.
        const first = rolloutOrder(cluster.nodes)[0];
        this.ready = cluster.bootstrapped
            ? applied[first.name]
            : new talos.machine.Bootstrap(
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
            { ...childOpts, dependsOn: [this.ready] },
        );
        this.kubeconfig = pulumi.secret(kubeconfig.kubeconfigRaw);

        this.registerOutputs({ kubeconfig: this.kubeconfig, talosconfig: this.talosconfig });
    }
}

/** The machine secrets and admin client the cluster's configs and operations use. */
interface ClusterSecrets {
    readonly machineSecrets: pulumi.Output<talos.types.output.machine.SecretsMachineSecrets>;
    readonly clientConfiguration: pulumi.Output<talos.types.output.machine.SecretsClientConfiguration>;
}

function generatedSecrets(name: string, cluster: ClusterConfig, opts: pulumi.CustomResourceOptions): ClusterSecrets {
    return new talos.machine.Secrets(`${name}-secrets`, { talosVersion: cluster.talosVersion }, { ...opts, ignoreChanges: ["talosVersion"] });
}

/** The secrets of a cluster taken over, from homelab:talosSecrets: secret end to end. */
function adoptedSecrets(json: pulumi.Output<string>): ClusterSecrets {
    const parsed = pulumi.secret(json.apply(text => JSON.parse(text) as AdoptedSecrets));
    return {
        machineSecrets: parsed.apply(s => s.machineSecrets as unknown as talos.types.output.machine.SecretsMachineSecrets),
        clientConfiguration: parsed.apply(s => s.clientConfiguration),
    };
}

/** Renders one node's machine config locally: the role's defaults plus the layered patches. */
function renderMachineConfig(
    cluster: ClusterConfig,
    node: NodeConfig,
    secrets: ClusterSecrets,
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
