// The pure rules of taking over a running node (components/talos/takeover.ts, secrets.ts).
import * as assert from "assert";
import { clientConfigurationOf, machineSecretsOf, parseSecretsBundle } from "../components/talos/secrets";
import { carriedPatch, configLeaves, identityProblems } from "../components/talos/takeover";

describe("taking over a running node: what the stack carries", () => {
    const rendered = {
        machine: {
            network: { hostname: "lab-cp1" },
            install: { disk: "/dev/sda", image: "factory.talos.dev/installer/613e:v1.11.5" },
            kubelet: { extraArgs: { "rotate-server-certificates": "true" } },
        },
        cluster: { clusterName: "lab", etcd: { extraArgs: { "listen-metrics-urls": "http://0.0.0.0:2381" } } },
    };
    const live = {
        machine: {
            network: { hostname: "lab-cp1", interfaces: [{ interface: "eth0", addresses: ["127.0.10.2/32"] }] },
            install: { disk: "/dev/vda", image: "factory.talos.dev/installer/c907:v1.11.5" },
        },
        cluster: { clusterName: "lab", etcd: { extraArgs: { "quota-backend-bytes": "4294967296" } } },
    };

    it("carries every live value the stack would render differently, and nothing the stack owns", () => {
        const carried = carriedPatch(live, rendered);
        assert.deepStrictEqual(carried.patch, {
            machine: { network: { interfaces: [{ interface: "eth0", addresses: ["127.0.10.2/32"] }] }, install: { disk: "/dev/vda" } },
            cluster: { etcd: { extraArgs: { "quota-backend-bytes": "4294967296" } } },
        });
        assert.deepStrictEqual(carried.kept, ["machine.install.disk"]);
        assert.deepStrictEqual([...carried.added].sort(), ["cluster.etcd.extraArgs.listen-metrics-urls", "machine.kubelet"]);
        assert.deepStrictEqual(carriedPatch(rendered, rendered).patch, {}, "a node already as the stack renders it carries nothing");
    });

    it("writes a patch as one config path per leaf, in Pulumi's --path syntax with types kept", () => {
        assert.deepStrictEqual(
            configLeaves("homelab:cluster.nodes[0].patches[0]", {
                cluster: { etcd: { extraArgs: { "quota-backend-bytes": "4294967296" } } },
                machine: { a: [true, 3] },
            }),
            [
                { path: 'homelab:cluster.nodes[0].patches[0].cluster.etcd.extraArgs["quota-backend-bytes"]', value: "4294967296", type: "string" },
                { path: "homelab:cluster.nodes[0].patches[0].machine.a[0]", value: "true", type: "bool" },
                { path: "homelab:cluster.nodes[0].patches[0].machine.a[1]", value: "3", type: "int" },
            ],
        );
        assert.throws(() => configLeaves("x", { a: null }), /x\.a: a null cannot be written to config/);
    });

    it("refuses another cluster name, endpoint or hostname, naming the key to set", () => {
        const stack = { clusterName: "lab", endpoint: "https://127.0.10.2:6443", nodeName: "lab-cp1", nodeKey: "homelab:cluster.nodes[0]" };
        const node = { ...live, cluster: { ...live.cluster, controlPlane: { endpoint: "https://127.0.10.2:6443" } } };
        assert.deepStrictEqual(identityProblems(node, stack), []);
        const problems = identityProblems(node, { ...stack, clusterName: "homelab", nodeName: "sever-it01" });
        assert.strictEqual(problems.length, 2);
        assert.match(
            problems[0],
            /^homelab:cluster\.name is "homelab", but the node's cluster is "lab": .* new PKI; set homelab:cluster\.name: lab$/,
        );
        assert.match(
            problems[1],
            /^homelab:cluster\.nodes\[0\]\.name is "sever-it01", but the node is "lab-cp1": .*set homelab:cluster\.nodes\[0\]\.name: lab-cp1$/,
        );
    });

    it("maps a secrets bundle to the provider's shapes field for field", () => {
        const bundle = parseSecretsBundle(`
cluster: {id: cid, secret: csecret}
secrets: {bootstraptoken: tok, secretboxencryptionsecret: box}
trustdinfo: {token: trust}
certs:
  etcd: {crt: e-crt, key: e-key}
  k8s: {crt: k-crt, key: k-key}
  k8saggregator: {crt: a-crt, key: a-key}
  k8sserviceaccount: {key: sa-key}
  os: {crt: o-crt, key: o-key}
`);
        assert.deepStrictEqual(machineSecretsOf(bundle), {
            cluster: { id: "cid", secret: "csecret" },
            secrets: { bootstrapToken: "tok", secretboxEncryptionSecret: "box" },
            trustdinfo: { token: "trust" },
            certs: {
                etcd: { cert: "e-crt", key: "e-key" },
                k8s: { cert: "k-crt", key: "k-key" },
                k8sAggregator: { cert: "a-crt", key: "a-key" },
                k8sServiceaccount: { key: "sa-key" },
                os: { cert: "o-crt", key: "o-key" },
            },
        });
        assert.throws(() => parseSecretsBundle("cluster: {id: x}\n"), /not a Talos secrets bundle: no cluster\.secret/);
        assert.deepStrictEqual(clientConfigurationOf("context: lab\ncontexts:\n  lab: {ca: C, crt: T, key: K}\n"), {
            caCertificate: "C",
            clientCertificate: "T",
            clientKey: "K",
        });
    });
});
