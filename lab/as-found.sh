#!/usr/bin/env bash
# `npm run lab -- --as-found`: the lab as the owner's homelab is today, before this stack ever ran
# on it, made the way the owner made it by hand (their notes: ../shared/seed/AGENTS.md):
#   - a Talos node installed and bootstrapped from a machine config the stack did not make: its
#     own secrets bundle (`talosctl gen secrets`), the cluster name, an install disk, static
#     network settings and a patch of the owner's (etcd's raised quota-backend-bytes), kept in a
#     repository laid out like the owner's (talos/machine-configs/controlplane.sops.yaml,
#     encrypted with the real sops to the owner's Age key);
#   - the owner's talosconfig and kubeconfig from that PKI;
#   - the NAS with the seed's datasets in use: volumes with files under default/k8s-pv/iscsi,
#     files in default/smb-share, and the old default/k8s-pv/talos-iscsi-share. zfs-fuse has no
#     zvols: the volumes and the old share are filesystems here, holding a file each.
# What was made is recorded in .lab/owner/as-found.json (file checksums, the cluster's CA) for the
# takeover tests. Needs a fresh lab: a node that was never configured and an empty pool.
# usage: bash lab/as-found.sh [stack]   (after lab/start.sh)
set -euo pipefail
source "$(dirname "$0")/../toolchain/env.sh"
cd "$HOMELAB_ROOT"
stack="${1:-lab}"
lab_dir="${HOMELAB_LAB_DIR:-$HOMELAB_ROOT/.lab}"
owner="$lab_dir/owner"
say() { echo "[as-found] $*" >&2; }

# The node and the cluster name come from the stack file: the owner's homelab is what the stack
# describes, less what the stack adds.
read -r node cluster_name endpoint k8s_version talos_version < <(node -e '
  const doc = require("js-yaml").load(require("fs").readFileSync(process.argv[1], "utf8")).config["homelab:cluster"];
  console.log(doc.nodes[0].address, doc.name, doc.endpoint, doc.kubernetesVersion, doc.talosVersion);' "Pulumi.$stack.yaml")
hostname="$(node -e 'console.log(require("js-yaml").load(require("fs").readFileSync(process.argv[1], "utf8")).config["homelab:cluster"].nodes[0].name)' "Pulumi.$stack.yaml")"

[[ ! -s "$lab_dir/talos/config.yaml" ]] || { say "the node is configured already: start from a fresh lab (lab/down.sh; rm -rf $lab_dir)"; exit 2; }
[[ "$(zfs list -H -o name -r default | wc -l)" == 1 ]] || { say "the pool holds datasets already: start from a fresh lab"; exit 2; }
rm -rf "$owner"
mkdir -p "$owner/talos/machine-configs" "$owner/age"
chmod 700 "$owner"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- the owner's Age key and SOPS rules, as in their repository ---
age-keygen -o "$owner/age/keys.txt" 2>/dev/null
recipient="$(age-keygen -y "$owner/age/keys.txt")"
printf 'creation_rules:\n  - path_regex: talos/machine-configs/.*\\.sops\\.yaml$\n    age: %s\n' "$recipient" >"$owner/.sops.yaml"

# --- the node: secrets, config with the owner's patches, applied and bootstrapped by hand ---
say "generating the owner's cluster $cluster_name (its own PKI) and config for $hostname at $node"
talos-ops gen-secrets --talos-version "$talos_version" >"$work/secrets.yaml"
cat >"$work/network.yaml" <<YAML
machine:
  network:
    hostname: $hostname
    nameservers: [192.0.2.53]
    interfaces:
      - interface: eth0
        addresses: [$node/32]
        routes:
          - network: 0.0.0.0/0
            gateway: 192.0.2.1
YAML
cat >"$work/etcd.yaml" <<YAML
cluster:
  allowSchedulingOnControlPlanes: true
  etcd:
    extraArgs:
      quota-backend-bytes: "4294967296"
YAML
# The owner's installer: the Image Factory schematic with iscsi-tools only.
installer="factory.talos.dev/installer/c9078f9419961640c712a8bf2bb9174933dfcf1da383fd8ea2b7dc21493f8bac:$talos_version"
talos-ops gen-config --cluster-name "$cluster_name" --endpoint "$endpoint" --kubernetes-version "$k8s_version" \
  --talos-version "$talos_version" --install-disk /dev/vda --install-image "$installer" \
  --patch "$work/network.yaml" --patch "$work/etcd.yaml" <"$work/secrets.yaml" >"$work/controlplane.yaml"
talos-ops talosconfig --endpoint "$node" --node "$node" --context "$cluster_name" <"$work/secrets.yaml" >"$owner/talosconfig"
chmod 600 "$owner/talosconfig"
talos-ops apply --insecure --node "$node" --endpoint "$node" --file "$work/controlplane.yaml" >&2
talos-ops bootstrap --node "$node" --endpoint "$node" <"$owner/talosconfig" >&2
talos-ops kubeconfig --node "$node" --endpoint "$node" <"$owner/talosconfig" >"$owner/kubeconfig"
chmod 600 "$owner/kubeconfig"
# The owner's kubeconfig works once the API server is up (a minute at most in the lab).
ts-node --transpile-only -e '
  import { kubeFrom, kubeRequest } from "./tools/stack-access";
  const kube = kubeFrom(require("fs").readFileSync(process.argv[1], "utf8"));
  (async () => {
    for (let i = 0; i < 120; i++) {
      if ((await kubeRequest(kube, "GET", "/readyz").catch(() => ({ status: 0 }))).status === 200) return;
      await new Promise(r => setTimeout(r, 1000));
    }
    throw new Error(`${kube.server.origin} did not become ready`);
  })().catch(e => { console.error(e.message); process.exit(1); });' "$owner/kubeconfig"

# The config goes into the owner's repository only encrypted, as their SOPS rules say.
(cd "$owner" && SOPS_AGE_RECIPIENTS="$recipient" sops --encrypt --input-type yaml --output-type yaml \
  --filename-override talos/machine-configs/controlplane.sops.yaml "$work/controlplane.yaml" \
  >talos/machine-configs/controlplane.sops.yaml)

# --- the NAS, as the owner and democratic-csi left it ---
say "filling the NAS with the owner's datasets and data"
mp() { zfs get -H -o value mountpoint "$1"; }
zfs create default/k8s-pv
zfs create default/k8s-pv/iscsi
zfs create default/k8s-pv/iscsi-snapshots
for volume in pvc-0b6f2c1e-grafana pvc-7d2a9e44-postgres; do
  zfs create -o org.democratic-csi:managed_resource=true "default/k8s-pv/iscsi/$volume"
  head -c 65536 /dev/urandom >"$(mp "default/k8s-pv/iscsi/$volume")/block-device.img"
done
zfs create default/k8s-pv/talos-iscsi-share
echo "the old share, kept by the owner" >"$(mp default/k8s-pv/talos-iscsi-share)/README"
zfs create default/smb-share
mkdir -p "$(mp default/smb-share)/photos" "$(mp default/smb-share)/documents"
echo "precious" >"$(mp default/smb-share)/photos/family.jpg"
head -c 4096 /dev/urandom >"$(mp default/smb-share)/documents/taxes-2025.pdf"

# --- what the takeover must keep ---
node -e '
  const fs = require("fs"), path = require("path"), crypto = require("crypto");
  const [owner, secrets, ...mountpoints] = process.argv.slice(1);
  const ca = require("js-yaml").load(fs.readFileSync(secrets, "utf8")).certs.os.crt;
  const files = {};
  for (const mp of mountpoints) {
    const walk = dir => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p); else files[p] = crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
    } };
    walk(mp);
  }
  fs.writeFileSync(path.join(owner, "as-found.json"), JSON.stringify({ osCA: ca, files }, null, 2) + "\n");' \
  "$owner" "$work/secrets.yaml" "$(mp default)"
say "the lab is as found: the owner's repository, talosconfig and kubeconfig are in $owner"
