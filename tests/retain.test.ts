// Nothing with data is deleted by the stack: the retaining transformation (stacks/retain.ts), and
// the program under mocks, where every namespace the platform makes carries its mark.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { retainData, retainedAnnotation } from "../stacks/retain";

describe("nothing with data is deleted by the stack", () => {
    const args = (type: string, props: Record<string, unknown> = {}) =>
        ({ type, name: "x", props, opts: {}, resource: undefined as unknown as pulumi.Resource }) as pulumi.ResourceTransformationArgs;

    it("keeps namespaces, volumes, StorageClasses, CRDs and Helm releases on delete, marking the objects", async () => {
        for (const type of [
            "kubernetes:core/v1:Namespace",
            "kubernetes:storage.k8s.io/v1:StorageClass",
            "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        ]) {
            const r = retainData(args(type, { metadata: { name: "m", annotations: { keep: "me" } } }))!;
            assert.strictEqual(r.opts.retainOnDelete, true, type);
            const metadata = await new Promise(resolve => {
                pulumi.output((r.props as { metadata: pulumi.Input<Record<string, unknown>> }).metadata).apply(resolve);
            });
            assert.deepStrictEqual(metadata, { name: "m", annotations: { keep: "me", [retainedAnnotation]: "true" } }, type);
        }
        const release = retainData(args("kubernetes:helm.sh/v3:Release", { chart: "kube-prometheus-stack" }))!;
        assert.strictEqual(release.opts.retainOnDelete, true);
        assert.deepStrictEqual(release.props, { chart: "kube-prometheus-stack" });
    });

    it("leaves everything else as it is", () => {
        assert.strictEqual(retainData(args("kubernetes:core/v1:ConfigMap")), undefined);
        assert.strictEqual(retainData(args("command:remote:Command")), undefined);
    });
});
