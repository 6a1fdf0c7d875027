// The custom resources the platform creates, validated against the upstream CRD schemas that the
// kubernetes-models packages carry (MetalLB publishes none; its specs are checked in program tests).
import * as assert from "assert";
import * as v from "../components/platform/values";
import { parseStackSettings } from "../stacks/config";
import { rawStackConfig } from "./stackfiles";

// The models are ES modules only; TypeScript compiling to CommonJS would turn import() into
// require(), so the import is made at run time.
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- a real dynamic import under CommonJS
const importESM = new Function("specifier", "return import(specifier)") as (s: string) => Promise<any>;
type Model = new (data: object) => { validate(): void; spec: any };
let ClusterIssuer: Model, AppProject: Model, Application: Model;

before(async () => {
    ({ ClusterIssuer } = await importESM("@kubernetes-models/cert-manager/cert-manager.io/v1"));
    ({ AppProject, Application } = await importESM("@kubernetes-models/argo-cd/argoproj.io/v1alpha1"));
});

for (const stack of ["homelab", "lab"]) {
    describe(`custom resources of the ${stack} stack, against upstream CRD schemas`, () => {
        const s = parseStackSettings(stack, rawStackConfig(stack));

        for (const env of ["staging", "production"] as const) {
            it(`ClusterIssuer letsencrypt-${env} (DNS-01 via Cloudflare)`, () => {
                const issuer = new ClusterIssuer({
                    metadata: { name: `letsencrypt-${env}` },
                    spec: v.clusterIssuerSpec(env, s.platform.letsEncrypt.email, s.network, "cloudflare-api-token"),
                });
                issuer.validate();
                assert.strictEqual(issuer.spec.acme.server, v.letsEncryptServers[env]);
            });
        }

        it("AppProjects workloads, apps-of-apps and the locked default", () => {
            for (const [name, spec] of [
                ["default", v.lockedDefaultProjectSpec()],
                ["workloads", v.workloadsProjectSpec(s.platform.argocd.repoURL)],
                ["apps-of-apps", v.appsOfAppsProjectSpec(s.platform.argocd.repoURL)],
            ] as const) {
                new AppProject({ metadata: { name, namespace: "argocd" }, spec }).validate();
            }
        });

        it("the root Application", () => {
            const app = new Application({
                metadata: { name: "root", namespace: "argocd" },
                spec: v.rootApplicationSpec(s.platform.argocd, "apps-of-apps"),
            });
            app.validate();
            assert.strictEqual(app.spec.source.path, s.platform.argocd.path);
            assert.strictEqual(app.spec.source.directory.exclude, v.directoryExclude(s.platform.argocd.exclude));
        });

        it("a schema violation is caught (the check can fail)", () => {
            const broken = { ...v.rootApplicationSpec(s.platform.argocd, "apps-of-apps"), destination: "not-an-object" };
            assert.throws(() => new Application({ metadata: { name: "root" }, spec: broken }).validate());
        });
    });
}
