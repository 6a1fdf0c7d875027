// Nothing with data is deleted by the stack: a `pulumi destroy`, or a line removed from config,
// leaves the objects that hold or describe data where they are (retainOnDelete). A namespace
// takes everything in it when it goes (volumes' claims included); a Helm release's uninstall
// takes its chart's volumes, StorageClasses and CRDs (with every object of their kinds, such as
// ArgoCD's Applications and what they deployed). Applied to every resource of the program by one
// stack transformation; each such object is annotated so the policy pack can hold it.
import * as pulumi from "@pulumi/pulumi";

/** Resource types that hold data, or whose removal removes data. */
export const retainedTypes: ReadonlySet<string> = new Set([
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:PersistentVolume",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:storage.k8s.io/v1:StorageClass",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    "kubernetes:helm.sh/v3:Release",
]);

/** What the retained objects carry, in the cluster and for the policy pack. */
export const retainedAnnotation = "homelab.dev/retained-on-delete";

export function retainData(args: pulumi.ResourceTransformationArgs): pulumi.ResourceTransformationResult | undefined {
    if (!retainedTypes.has(args.type)) return undefined;
    const props = args.props as { metadata?: pulumi.Input<Record<string, unknown>> };
    const withAnnotation =
        args.type === "kubernetes:helm.sh/v3:Release"
            ? args.props
            : {
                  ...args.props,
                  metadata: pulumi.output(props.metadata ?? {}).apply(m => ({
                      ...m,
                      annotations: { ...((m.annotations as Record<string, string> | undefined) ?? {}), [retainedAnnotation]: "true" },
                  })),
              };
    return { props: withAnnotation, opts: pulumi.mergeOptions(args.opts, { retainOnDelete: true }) };
}
