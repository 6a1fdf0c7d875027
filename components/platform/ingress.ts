// The way in: MetalLB hands out the LAN addresses, announced over L2, and Traefik takes the
// ingress address from its pool as the one LoadBalancer of the homelab.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig, NetworkConfig } from "../../stacks/config";
import { helmRelease, platformNamespace, ReleaseSettings } from "./helm";
import * as v from "./values";

export interface IngressArgs {
    /** The validated network section: MetalLB ranges, the ingress address. */
    readonly network: NetworkConfig;
    /** The nodes (the single-node workarounds follow them). */
    readonly cluster: ClusterConfig;
    readonly metallb: ReleaseSettings;
    readonly traefik: ReleaseSettings;
    readonly provider: k8s.Provider;
}

export class Ingress extends pulumi.ComponentResource {
    public readonly metallb: k8s.helm.v3.Release;
    public readonly traefik: k8s.helm.v3.Release;
    /** The address Traefik serves on (from the MetalLB pool). */
    public readonly address: pulumi.Output<string>;

    constructor(name: string, args: IngressArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:Ingress", name, {}, opts);
        const o = { parent: this, provider: args.provider };

        // The speaker answers ARP on the host network with NET_RAW: a privileged namespace.
        const metallbNs = platformNamespace(name, v.platformNamespaces.metallb, o, v.privilegedNamespaceLabels);
        this.metallb = helmRelease(name, "metallb", args.metallb, metallbNs, v.metallbValues(args.cluster), o);
        const pool = new k8s.apiextensions.CustomResource(
            `${name}-metallb-pool`,
            {
                apiVersion: "metallb.io/v1beta1",
                kind: "IPAddressPool",
                metadata: { name: "homelab", namespace: metallbNs.metadata.name },
                spec: v.ipAddressPoolSpec(args.network),
            },
            { ...o, dependsOn: [this.metallb] },
        );
        const l2 = new k8s.apiextensions.CustomResource(
            `${name}-metallb-l2`,
            {
                apiVersion: "metallb.io/v1beta1",
                kind: "L2Advertisement",
                metadata: { name: "homelab", namespace: metallbNs.metadata.name },
                spec: { ipAddressPools: [pool.metadata.name] },
            },
            { ...o, dependsOn: [this.metallb] },
        );

        const traefikNs = platformNamespace(name, v.platformNamespaces.traefik, o);
        this.traefik = helmRelease(name, "traefik", args.traefik, traefikNs, v.traefikValues(args.network), { ...o, dependsOn: [pool, l2] });
        this.address = this.traefik.status.apply(() => args.network.ingressAddress);
        this.registerOutputs({ metallb: this.metallb, traefik: this.traefik, address: this.address });
    }
}
