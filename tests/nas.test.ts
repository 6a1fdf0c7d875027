// The NAS scripts, run for real by a POSIX shell against a small stand-in for the zfs CLI that
// keeps its datasets in a folder (the lab's integration test runs them against real ZFS).
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vm from "vm";
import * as pulumi from "@pulumi/pulumi";
import { sentinelProvider } from "../components/nas/drift";
import { driftedProperties, ensureDatasetScript, managedByProperty, parseProperties, readPropertiesScript, shellQuote } from "../components/nas/zfs";
import type { DatasetConfig } from "../stacks/config";

/**
 * A zfs stand-in: `get [-H] [-p] [-s local] -o value|property,value[,source] <props> <ds>`,
 * `create [-o k=v]... <ds>`, `set k=v <ds>`. User properties (module:name) are inherited from the
 * nearest ancestor that sets them, as ZFS does; the source column says local or "inherited from".
 */
const fakeZfs = `#!/bin/sh
set -eu
db="$FAKE_ZFS_DB"
cmd=$1; shift
case $cmd in
  get)
    bytes=""; only=""; fmt=""
    while [ "\${1#-}" != "$1" ]; do
      case $1 in
        -H) ;;
        -Hp|-p) bytes=1 ;;
        -s) only=$2; shift ;;
        -o) fmt=$2; shift ;;
      esac
      shift
    done
    props=$1; ds=$2
    [ -d "$db/$ds" ] || { echo "cannot open '$ds': dataset does not exist" >&2; exit 1; }
    for p in $(echo "$props" | tr , ' '); do
      if [ -f "$db/$ds/$p" ]; then v=$(cat "$db/$ds/$p"); src=local; [ "$p" = type ] && src=-
      else
        v=-; src=-
        case $p in *:*)
          a=$ds
          while [ "\${a%/*}" != "$a" ]; do
            a=\${a%/*}
            if [ -f "$db/$a/$p" ]; then v=$(cat "$db/$a/$p"); src="inherited from $a"; break; fi
          done ;;
        esac
      fi
      [ -n "$only" ] && [ "$src" != "$only" ] && continue
      # -p: sizes in bytes, as real zfs prints them
      if [ -n "$bytes" ]; then v=$(numfmt --from=iec "$v" 2>/dev/null || echo "$v"); fi
      case $fmt in
        value) echo "$v" ;;
        property,value) printf '%s\\t%s\\n' "$p" "$v" ;;
        property,value,source) printf '%s\\t%s\\t%s\\n' "$p" "$v" "$src" ;;
        *) echo "unsupported -o $fmt" >&2; exit 2 ;;
      esac
    done ;;
  create)
    opts=""
    while [ "$1" = -o ]; do opts="$opts $2"; shift 2; done
    ds=$1; mkdir -p "$db/$ds"; echo filesystem > "$db/$ds/type"
    for kv in $opts; do echo "\${kv#*=}" > "$db/$ds/\${kv%%=*}"; done ;;
  set)
    kv=$1; ds=$2; echo "\${kv#*=}" > "$db/$ds/\${kv%%=*}" ;;
  *) echo "unsupported: $cmd" >&2; exit 2 ;;
esac
`;

describe("NAS scripts", () => {
    let dir: string;
    let nas: { sudo: boolean; zfsPath: string; pool: string };
    const run = (script: string) =>
        execFileSync("sh", ["-c", script], { env: { ...process.env, FAKE_ZFS_DB: path.join(dir, "db") }, encoding: "utf8" });
    const dataset = (name: string, properties: Record<string, string> = {}): DatasetConfig => ({ name, properties, allowDestroy: false });
    const mkfs = (name: string, type = "filesystem") => {
        fs.mkdirSync(path.join(dir, "db", name), { recursive: true });
        fs.writeFileSync(path.join(dir, "db", name, "type"), `${type}\n`);
    };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-zfs-"));
        fs.writeFileSync(path.join(dir, "zfs"), fakeZfs, { mode: 0o755 });
        nas = { sudo: false, zfsPath: path.join(dir, "zfs"), pool: "default" };
        mkfs("default");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("creates a missing dataset with its properties and the managed-by mark, then changes nothing", () => {
        const ds = dataset("default/k8s-pv", { quota: "50G", atime: "off" });
        const first = run(ensureDatasetScript(nas, ds, "homelab/lab"));
        assert.strictEqual(first, "created default/k8s-pv\n");
        const props = parseProperties(run(readPropertiesScript(nas, ds.name, ["quota", "atime", "org.homelab-iac:managed-by"])));
        assert.deepStrictEqual(props, { type: "filesystem", quota: "50G", atime: "off", "org.homelab-iac:managed-by": "homelab/lab" });
        assert.strictEqual(run(ensureDatasetScript(nas, ds, "homelab/lab")), "adopted default/k8s-pv\n", "a second run sets nothing");
        const asMebibytes = dataset("default/k8s-pv", { quota: "51200M", atime: "off" });
        assert.strictEqual(run(ensureDatasetScript(nas, asMebibytes, "homelab/lab")), "adopted default/k8s-pv\n", "sizes compare in bytes");
    });

    it("adopts an existing dataset and reconciles only what differs", () => {
        mkfs("default/smb-share");
        fs.writeFileSync(path.join(dir, "db/default/smb-share/atime"), "on\n");
        fs.writeFileSync(path.join(dir, "db/default/smb-share/data.txt"), "keep me\n");
        const out = run(ensureDatasetScript(nas, dataset("default/smb-share", { atime: "off" }), "homelab/lab"));
        assert.strictEqual(
            out,
            "adopted default/smb-share\nset atime=off on default/smb-share\nset org.homelab-iac:managed-by=homelab/lab on default/smb-share\n",
        );
        assert.strictEqual(fs.readFileSync(path.join(dir, "db/default/smb-share/data.txt"), "utf8"), "keep me\n");
    });

    it("an inherited managed-by marker is not the dataset's own: it is set locally, and read back as unset until then", () => {
        const parent = dataset("default/k8s-pv");
        run(ensureDatasetScript(nas, parent, "homelab/lab"));
        // A child made outside the stack (democratic-csi's volume, one made by hand) inherits the marker.
        mkfs("default/k8s-pv/pvc-1");
        const marker = "org.homelab-iac:managed-by";
        assert.strictEqual(
            run(`${nas.zfsPath} get -H -o value ${marker} default/k8s-pv/pvc-1`),
            "homelab/lab\n",
            "the stand-in inherits, as ZFS does",
        );
        assert.deepStrictEqual(
            parseProperties(run(readPropertiesScript(nas, "default/k8s-pv/pvc-1", [marker]))),
            { type: "filesystem" },
            "an inherited marker is not read as managed",
        );
        assert.deepStrictEqual(parseProperties(run(readPropertiesScript(nas, "default/k8s-pv", [marker]))), {
            type: "filesystem",
            [marker]: "homelab/lab",
        });
        assert.deepStrictEqual(
            driftedProperties({ [marker]: "homelab/lab" }, parseProperties(run(readPropertiesScript(nas, "default/k8s-pv/pvc-1", [marker])))),
            [marker],
        );
        // Listing the child adopts it: the marker is set on it, and only then is it managed.
        assert.strictEqual(
            run(ensureDatasetScript(nas, dataset("default/k8s-pv/pvc-1"), "homelab/lab")),
            `adopted default/k8s-pv/pvc-1\nset ${marker}=homelab/lab on default/k8s-pv/pvc-1\n`,
        );
        assert.strictEqual(run(`${nas.zfsPath} get -H -s local -o value ${marker} default/k8s-pv/pvc-1`), "homelab/lab\n");
        assert.strictEqual(run(ensureDatasetScript(nas, dataset("default/k8s-pv/pvc-1"), "homelab/lab")), "adopted default/k8s-pv/pvc-1\n");
    });

    it("reads only a local marker from the source column, whatever the value", () => {
        const marker = "org.homelab-iac:managed-by";
        assert.deepStrictEqual(
            parseProperties(`type\tfilesystem\t-\n${marker}\thomelab/lab\tinherited from default/k8s-pv\natime\toff\tinherited from default\n`),
            {
                type: "filesystem",
                atime: "off",
            },
        );
        assert.deepStrictEqual(parseProperties(`type\tfilesystem\t-\n${marker}\thomelab/lab\tlocal\n`), {
            type: "filesystem",
            [marker]: "homelab/lab",
        });
        assert.strictEqual(parseProperties(""), undefined, "no dataset");
        assert.match(
            ensureDatasetScript(nas, dataset("default/x"), "homelab/lab"),
            /zfs get -H -s local -o value 'org\.homelab-iac:managed-by' "\$ds"/,
        );
        assert.match(
            readPropertiesScript(nas, "default/x", [marker]),
            / get -H -o property,value,source 'type,org\.homelab-iac:managed-by' 'default\/x'/,
        );
    });

    it("refuses, before creating anything, a dataset whose parent is a volume", () => {
        mkfs("default/talos-iscsi-share", "volume");
        assert.throws(
            () => run(ensureDatasetScript(nas, dataset("default/talos-iscsi-share/pv"), "homelab/lab")),
            (e: any) => /parent default\/talos-iscsi-share of default\/talos-iscsi-share\/pv is a volume, not a filesystem/.test(e.stderr),
        );
        assert.ok(!fs.existsSync(path.join(dir, "db/default/talos-iscsi-share/pv")));
    });

    it("refuses a dataset whose parent does not exist", () => {
        assert.throws(
            () => run(ensureDatasetScript(nas, dataset("default/a/b"), "homelab/lab")),
            (e: any) => /parent default\/a of default\/a\/b does not exist/.test(e.stderr),
        );
    });

    it("quotes everything it passes to the shell", () => {
        assert.strictEqual(shellQuote("it's"), `'it'\\''s'`);
        assert.strictEqual(run(`printf %s ${shellQuote("a b;$(x)'`")}`), "a b;$(x)'`");
    });

    it("sees drift: a changed, a missing property, a missing dataset; sizes compare by bytes", () => {
        assert.deepStrictEqual(driftedProperties({ quota: "50G", atime: "off" }, { quota: "10G", atime: "off" }), ["quota"]);
        assert.deepStrictEqual(driftedProperties({ quota: "1G" }, { quota: "1024M" }), []);
        assert.deepStrictEqual(driftedProperties({ atime: "off" }, {}), ["atime"]);
        assert.deepStrictEqual(driftedProperties({ atime: "off" }, undefined), ["(dataset missing)"]);
    });

    it("the drift sentinel's provider works as Pulumi serializes it into the state", async () => {
        // What the engine runs on refresh is not this module but Pulumi's serialization of the
        // provider (pulumi.dynamic.Resource → serializeFunction); built-ins such as Set lose their
        // internals there. Serialize it the same way and drive the copy.
        const { text, exportName } = await pulumi.runtime.serializeFunction(() => ({ provider: sentinelProvider, parseProperties }), {
            allowSecrets: true,
        });
        const mod = { exports: {} as Record<string, () => { provider: typeof sentinelProvider; parseProperties: typeof parseProperties }> };
        // As the dynamic-provider host loads it: a module of its own (require-from-string).
        (vm.runInThisContext(`(function (module, exports, require) {\n${text}\n})`) as (...a: unknown[]) => void)(mod, mod.exports, require);
        const copy = mod.exports[exportName]();
        const olds = { dataset: "tank/k8s", desired: { quota: "50G" }, observed: { quota: "51200M" }, generation: 0 };
        assert.strictEqual((await copy.provider.diff!("tank/k8s", olds, olds)).changes, false, "the same size, written another way");
        const drifted = { ...olds, observed: { quota: "40G" } };
        assert.strictEqual((await copy.provider.diff!("tank/k8s", drifted, olds)).changes, true);
        assert.deepStrictEqual(copy.parseProperties(`${managedByProperty}\tpulumi\tinherited from tank\ntype\tfilesystem\tdefault\n`), {
            type: "filesystem",
        });
    });
});
