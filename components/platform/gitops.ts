// GitOps: ArgoCD with a generated admin password, the GitOps repository's credentials, and the
// root Application (app of apps) in a project that may only create Applications; workloads live
// in a project that may not touch the platform's namespaces, and ArgoCD's `default` project is
// locked so no child can escape to it.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { PlatformConfig } from "../../stacks/config";
import { helmRelease, platformNamespace, ReleaseSettings, secretData } from "./helm";
import * as v from "./values";

export interface GitOpsArgs {
    readonly argocd: ReleaseSettings;
    /** Repository, path and revision of the GitOps repository. */
    readonly settings: PlatformConfig["argocd"];
    /** A token ArgoCD reads the repository with (secret). */
    readonly gitToken: pulumi.Input<string>;
    readonly random: pulumi.ProviderResource;
    /** Runs local commands (the moment the admin password was set). */
    readonly command: pulumi.ProviderResource;
    readonly provider: k8s.Provider;
}

export class GitOps extends pulumi.ComponentResource {
    public readonly argocd: k8s.helm.v3.Release;
    /** The root Application's name. */
    public readonly rootApplication: pulumi.Output<string>;
    /** ArgoCD's generated admin password (secret). */
    public readonly adminPassword: pulumi.Output<string>;

    constructor(name: string, args: GitOpsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("homelab:platform:GitOps", name, {}, opts);
        const o = { parent: this, provider: args.provider };
        const { settings } = args;
        const namespace = platformNamespace(name, v.platformNamespaces.argocd, o);
        const password = new random.RandomPassword(`${name}-argocd-admin`, { length: 32, special: false }, { parent: this, provider: args.random });
        // When the password was set: a new one logs sessions out, an upgrade does not.
        const passwordSet = new command.local.Command(
            `${name}-argocd-admin-mtime`,
            {
                create: "date -u +%Y-%m-%dT%H:%M:%SZ",
                triggers: [password.bcryptHash],
                addPreviousOutputInEnv: false,
            },
            { parent: this, provider: args.command },
        );
        this.argocd = helmRelease(
            name,
            "argo-cd",
            args.argocd,
            namespace,
            pulumi.all([password.bcryptHash, passwordSet.stdout]).apply(([hash, mtime]) => v.argocdValues(hash, mtime)),
            o,
        );
        new k8s.core.v1.Secret(
            `${name}-argocd-repo`,
            {
                metadata: {
                    name: "gitops-repository",
                    namespace: namespace.metadata.name,
                    labels: { "argocd.argoproj.io/secret-type": "repository" },
                },
                data: secretData({
                    type: "git",
                    url: settings.repoURL,
                    ...(settings.username ? { username: settings.username } : {}),
                    password: args.gitToken,
                }),
            },
            o,
        );
        const project = (resource: string, projectName: string, spec: Record<string, unknown>) =>
            new k8s.apiextensions.CustomResource(
                `${name}-${resource}`,
                {
                    apiVersion: "argoproj.io/v1alpha1",
                    kind: "AppProject",
                    metadata: { name: projectName, namespace: namespace.metadata.name },
                    spec,
                },
                { ...o, dependsOn: [this.argocd] },
            );
        // The workloads' namespaces: theirs to fill, the stack's to make and keep.
        for (const workloadNamespace of settings.namespaces) platformNamespace(name, workloadNamespace, o);
        project("argocd-workloads", "workloads", v.workloadsProjectSpec(settings.repoURL));
        // ArgoCD makes `default` when it is missing and never resets it; written here (an upsert
        // when it exists) it is locked before the root app makes its first child.
        const lockedDefault = project("argocd-default", "default", v.lockedDefaultProjectSpec());
        const rootProject = project("argocd-apps-of-apps", "apps-of-apps", v.appsOfAppsProjectSpec(settings.repoURL));
        const root = new k8s.apiextensions.CustomResource(
            `${name}-argocd-root`,
            {
                apiVersion: "argoproj.io/v1alpha1",
                kind: "Application",
                metadata: { name: "root", namespace: namespace.metadata.name },
                spec: rootProject.metadata.name.apply(p => v.rootApplicationSpec(settings, p)),
            },
            { ...o, dependsOn: [this.argocd, lockedDefault] },
        );
        this.rootApplication = root.metadata.name;
        this.adminPassword = pulumi.secret(password.result);
        this.registerOutputs({ argocd: this.argocd, rootApplication: this.rootApplication, adminPassword: this.adminPassword });
    }
}
