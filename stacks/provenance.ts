// Where upstream every external artifact the stacks pin was verified: charts, images, the Talos
// release and its extensions. A pin without an entry fails tests/provenance.test.ts; an entry says
// which repository, ref (tag and commit) and path show that the artifact exists at that version.
// An artifact that could not be verified says so in `finding`, and is not pinned as if it were.

export interface UpstreamSource {
    readonly repository: string;
    /** The tag (and its commit) the artifact was read at. */
    readonly ref: string;
    /** The file that shows it. */
    readonly path: string;
}

export interface Provenance {
    /** `chart <name> <version> from <repo>`, `image <reference>`, `talos <version>`,
     * `kubernetes <version>`, `extension <name> for talos <version>`. */
    readonly artifact: string;
    readonly verified: readonly UpstreamSource[];
    /** What the sources show that matters for the homelab (defaults, images, findings). */
    readonly note: string;
}

export const provenance: readonly Provenance[] = [
    {
        artifact: "talos v1.11.5",
        verified: [
            {
                repository: "github.com/siderolabs/talos",
                ref: "v1.11.5 (bc34de6e1741969e873dd568054231acf4cb54fd)",
                path: "pkg/machinery/constants/constants.go",
            },
        ],
        note: "DefaultKubernetesVersion 1.34.1; its default machine config enforces Pod Security baseline (pkg/machinery/config/generate/init.go:117-143).",
    },
    {
        artifact: "kubernetes v1.34.1",
        verified: [
            {
                repository: "github.com/siderolabs/talos",
                ref: "v1.11.5 (bc34de6e1741969e873dd568054231acf4cb54fd)",
                path: "pkg/machinery/constants/constants.go:397",
            },
        ],
        note: "The Kubernetes version Talos v1.11.5 ships by default; the lab builds k8s.io/kubernetes v1.34.1 from the module proxy.",
    },
    {
        artifact: "extension siderolabs/iscsi-tools for talos v1.11.5",
        verified: [
            {
                repository: "github.com/siderolabs/extensions",
                ref: "v1.11.5 (2705010c02d1f3c13eca554ccd1e0a527f9ba763)",
                path: "storage/iscsi-tools/pkg.yaml",
            },
        ],
        note: "iscsi-tools v0.2.0 (open-iscsi 2.1.11); a Makefile build target of the release.",
    },
    {
        artifact: "extension siderolabs/util-linux-tools for talos v1.11.5",
        verified: [
            {
                repository: "github.com/siderolabs/extensions",
                ref: "v1.11.5 (2705010c02d1f3c13eca554ccd1e0a527f9ba763)",
                path: "tools/util-linux/pkg.yaml",
            },
        ],
        note: "util-linux-tools 2.41.1; a Makefile build target of the release.",
    },
    {
        artifact: "image factory.talos.dev/installer/613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245:v1.11.5",
        verified: [
            {
                repository: "github.com/siderolabs/image-factory",
                ref: "v0.9.0 (fa266e0b)",
                path: "pkg/schematic/schematic.go (ID: sha256 of the marshalled schematic)",
            },
            {
                repository: "github.com/siderolabs/extensions",
                ref: "v1.11.5 (2705010c02d1f3c13eca554ccd1e0a527f9ba763)",
                path: "storage/iscsi-tools, tools/util-linux",
            },
        ],
        note: "Schematic with iscsi-tools and util-linux-tools; id computed by components/talos/schematic.ts and by the factory's own code (the same id). The factory builds installers on demand for any schematic and release.",
    },
    {
        artifact: "chart metallb 0.15.2 from https://metallb.github.io/metallb",
        verified: [
            {
                repository: "github.com/metallb/metallb",
                ref: "v0.15.2 (942c2fe54a75ac6353d3099eeebff33b6b8fe3f0)",
                path: "charts/metallb/Chart.yaml",
            },
            { repository: "github.com/metallb/metallb", ref: "gh-pages (c60ed789)", path: "index.yaml (metallb 0.15.2)" },
        ],
        note: "Images quay.io/metallb/{controller,speaker}:v0.15.2, quay.io/frrouting/frr:9.1.0. The speaker runs hostNetwork with NET_RAW (+ NET_ADMIN, SYS_ADMIN in frr): privileged namespace.",
    },
    {
        artifact: "chart traefik 37.3.0 from https://traefik.github.io/charts",
        verified: [
            {
                repository: "github.com/traefik/traefik-helm-chart",
                ref: "v37.3.0 (972666cef80eee4e5245ee12a64759f0bba78a64)",
                path: "traefik/Chart.yaml",
            },
        ],
        note: "appVersion v3.6.0, image docker.io/traefik:v3.6.0; baseline Pod Security.",
    },
    {
        artifact: "chart cert-manager v1.19.1 from https://charts.jetstack.io",
        verified: [
            {
                repository: "github.com/cert-manager/cert-manager",
                ref: "v1.19.1 (a22e21ea38f6a8e031af99471b0a50287fed8e7f)",
                path: "deploy/charts/cert-manager (Chart.yaml versioned v1.19.1 by make/manifests.mk)",
            },
        ],
        note: "Images quay.io/jetstack/cert-manager-*:v1.19.1; restricted Pod Security; ServiceMonitor off by default (prometheus.servicemonitor). The published index at charts.jetstack.io could not be read here.",
    },
    {
        artifact: "chart democratic-csi 0.15.0 from https://democratic-csi.github.io/charts/",
        verified: [
            {
                repository: "github.com/democratic-csi/charts",
                ref: "democratic-csi-0.15.0 (91e1c02acbea399700a277bbdd1f9fb5e7833b17)",
                path: "stable/democratic-csi/Chart.yaml",
            },
            { repository: "github.com/democratic-csi/charts", ref: "gh-pages", path: "index.yaml (democratic-csi 0.15.0)" },
        ],
        note: "Default driver image docker.io/democraticcsi/democratic-csi:latest (overridden by the stack); node DaemonSet privileged with hostNetwork, hostIPC and host paths: privileged namespace.",
    },
    {
        artifact: "chart kube-prometheus-stack 79.5.0 from https://prometheus-community.github.io/helm-charts",
        verified: [
            {
                repository: "github.com/prometheus-community/helm-charts",
                ref: "kube-prometheus-stack-79.5.0 (a064fc60bca54b09eb35aa3be0e71239c1dadce3)",
                path: "charts/kube-prometheus-stack/Chart.yaml",
            },
        ],
        note: "Prometheus v3.7.3, Alertmanager v0.29.0, operator v0.86.2, grafana 10.1.4 (12.2.1), node-exporter 4.49.1 (hostNetwork, hostPID, host paths: privileged namespace). Prometheus selects monitors labelled release=<release name>; grafana's ServiceMonitor has no such label.",
    },
    {
        artifact: "chart argo-cd 9.1.3 from https://argoproj.github.io/argo-helm",
        verified: [
            {
                repository: "github.com/argoproj/argo-helm",
                ref: "argo-cd-9.1.3 (914a60bd044b2efa45cf24c79354cacfaf8aa335)",
                path: "charts/argo-cd/Chart.yaml",
            },
        ],
        note: "appVersion v3.2.0, image quay.io/argoproj/argocd:v3.2.0; restricted Pod Security.",
    },
    {
        artifact: "chart kubelet-csr-approver 1.2.14 from https://postfinance.github.io/kubelet-csr-approver",
        verified: [
            {
                repository: "github.com/postfinance/kubelet-csr-approver",
                ref: "v1.2.14 (14dd0aca)",
                path: "charts/kubelet-csr-approver (versioned by .github/workflows/publish.yaml)",
            },
            {
                repository: "github.com/postfinance/kubelet-csr-approver",
                ref: "gh-pages (af7b8295)",
                path: "index.yaml (kubelet-csr-approver 1.2.14)",
            },
        ],
        note: "Image ghcr.io/postfinance/kubelet-csr-approver:v1.2.14; restricted Pod Security. Replaces kubelet-serving-cert-approver, whose repository publishes no chart in any branch or tag (only deploy/*.yaml manifests).",
    },
    {
        artifact: "image docker.io/democraticcsi/democratic-csi:v1.9.3",
        verified: [
            {
                repository: "github.com/democratic-csi/democratic-csi",
                ref: "v1.9.3 (6af367fbb6f90b4a4cbd4ab026d8d77e764039f8)",
                path: ".github/workflows/main.yml (a tag vX is pushed as image :vX)",
            },
        ],
        note:
            'FINDING: no release contains the fix for TrueNAS SCALE 25.04 detection: de80f4b ("detect SCALE 25 properly", src/driver/freenas/http/api.js) ' +
            "and 5d8cd22 (the same in src/driver/freenas/ssh.js) are only on branch next (image :next, a moving tag); the newest tag, v1.9.4, " +
            "was never pushed as an image (democratic-csi#425). With v1.9.3, NFS share creation on 25.04 can fail with 422 (democratic-csi#522, #532). " +
            "The homelab stack marks this CHECK: pin next's digest, read on the LAN, to run the fix. The image registry could not be read here.",
    },
    {
        artifact: "image ghcr.io/siderolabs/talosctl:v1.11.5",
        verified: [
            {
                repository: "github.com/siderolabs/talos",
                ref: "v1.11.5 (bc34de6e1741969e873dd568054231acf4cb54fd)",
                path: "Makefile:702-708 (make push pushes talosctl-image, tagged by git describe)",
            },
            {
                repository: "github.com/siderolabs/talos",
                ref: "v1.11.5 (bc34de6e1741969e873dd568054231acf4cb54fd)",
                path: "Dockerfile (target talosctl: FROM scratch, ENTRYPOINT /talosctl)",
            },
        ],
        note: "talosctl only, no shell: the backup job passes its arguments directly.",
    },
    {
        artifact: "image node:20.18.1-bookworm",
        verified: [
            {
                repository: "github.com/docker-library/official-images",
                ref: "eff1a322",
                path: "library/node (Tags: 20.18.1-bookworm; GitCommit 4b3806368e98354d59c4787b46ec72603be13162, Directory 20/bookworm)",
            },
            {
                repository: "github.com/nodejs/docker-node",
                ref: "4b3806368e98354d59c4787b46ec72603be13162",
                path: "20/bookworm/Dockerfile (FROM buildpack-deps:bookworm)",
            },
            {
                repository: "github.com/docker-library/buildpack-deps",
                ref: "master",
                path: "debian/bookworm/scm/Dockerfile (installs openssh-client)",
            },
        ],
        note: "Node.js 20.18.1 with an OpenSSH client: the backup job's store step needs nothing installed at run time (the Alpine variant has no ssh).",
    },
];

/** The entry for an artifact, or undefined. */
export function provenanceOf(artifact: string): Provenance | undefined {
    return provenance.find(p => p.artifact === artifact);
}
