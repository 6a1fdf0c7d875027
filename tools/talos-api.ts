// The three Talos machine-API calls etcd backup and restore need, over gRPC with the stack's
// talosconfig (mTLS): EtcdSnapshot, EtcdRecover and Bootstrap(recover_etcd). Their messages are
// tiny, so they are encoded here by hand instead of generating code from Talos's protos:
//   common.Data               { Metadata metadata = 1; bytes bytes = 2; }
//   machine.BootstrapRequest  { bool recover_etcd = 1; bool recover_skip_hash_check = 2; }
import * as grpc from "@grpc/grpc-js";
import * as yaml from "js-yaml";
import { Readable } from "stream";

export interface TalosClient { client: grpc.Client; node: string }

/** A client of one node, authenticated as the talosconfig's current context. */
export function talosClient(talosconfig: string, node: string): TalosClient {
    const doc = yaml.load(talosconfig) as { context: string; contexts: Record<string, { ca: string; crt: string; key: string }> };
    const ctx = doc.contexts[doc.context];
    if (!ctx) throw new Error(`talosconfig has no context ${doc.context}`);
    const b64 = (s: string) => Buffer.from(s, "base64");
    // Talos labels its Ed25519 keys "ED25519 PRIVATE KEY"; the body is plain PKCS#8, which
    // OpenSSL reads under the standard label.
    const key = Buffer.from(b64(ctx.key).toString("utf8").replace(/-----(BEGIN|END) ED25519 PRIVATE KEY-----/g, "-----$1 PRIVATE KEY-----"));
    const credentials = grpc.credentials.createSsl(b64(ctx.ca), key, b64(ctx.crt));
    return { client: new grpc.Client(`${node}:50000`, credentials), node };
}

function varint(n: number): Buffer {
    const out: number[] = [];
    while (n > 127) { out.push((n & 127) | 128); n = Math.floor(n / 128); }
    out.push(n);
    return Buffer.from(out);
}

/** Reads a varint at `at`; returns the value and the offset after it. */
function readVarint(buf: Buffer, at: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (;;) {
        const b = buf[at++];
        if (b === undefined) throw new Error("truncated protobuf message");
        value += (b & 127) * scale;
        if (b < 128) return [value, at];
        scale *= 128;
    }
}

/** The `bytes` field (2) of a common.Data message. */
export function decodeDataBytes(buf: Buffer): Buffer {
    let at = 0;
    let found: Buffer = Buffer.alloc(0);
    while (at < buf.length) {
        const [tag, next] = readVarint(buf, at);
        at = next;
        const [field, wire] = [Math.floor(tag / 8), tag & 7];
        if (wire === 2) {
            const [len, start] = readVarint(buf, at);
            if (field === 2) found = buf.subarray(start, start + len);
            at = start + len;
        } else if (wire === 0) {
            at = readVarint(buf, at)[1];
        } else {
            throw new Error(`unexpected protobuf wire type ${wire} in common.Data`);
        }
    }
    return found;
}

export const encodeData = (bytes: Buffer): Buffer => Buffer.concat([Buffer.from([0x12]), varint(bytes.length), bytes]);

const explain = (t: TalosClient, method: string) => (e: grpc.ServiceError | Error) =>
    new Error(`Talos ${method} on ${t.node}: ${"details" in e && e.details ? e.details : e.message}`);

/** EtcdSnapshot: the node's etcd database, streamed. */
export function etcdSnapshot(t: TalosClient): Readable {
    const call = t.client.makeServerStreamRequest("/machine.MachineService/EtcdSnapshot",
        () => Buffer.alloc(0), decodeDataBytes, {});
    const out = new Readable({ read() { /* pushed below */ } });
    call.on("data", (chunk: Buffer) => out.push(chunk));
    call.on("end", () => out.push(null));
    call.on("error", (e: grpc.ServiceError) => out.destroy(explain(t, "EtcdSnapshot")(e)));
    return out;
}

/** EtcdRecover: uploads a snapshot for the next Bootstrap(recover_etcd). */
export function etcdRecover(t: TalosClient, snapshot: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
        const call = t.client.makeClientStreamRequest("/machine.MachineService/EtcdRecover",
            encodeData, () => ({}), (err: grpc.ServiceError | null) => (err ? reject(explain(t, "EtcdRecover")(err)) : resolve()));
        for (let at = 0; at < snapshot.length; at += 1 << 20) call.write(snapshot.subarray(at, at + (1 << 20)));
        call.end();
    });
}

/** Bootstrap with recover_etcd: etcd starts from the uploaded snapshot. */
export function bootstrapRecover(t: TalosClient, deadlineSeconds = 300): Promise<void> {
    return new Promise((resolve, reject) => {
        t.client.makeUnaryRequest("/machine.MachineService/Bootstrap", () => Buffer.from([0x08, 0x01]), () => ({}), {},
            { deadline: Date.now() + deadlineSeconds * 1000 },
            (err: grpc.ServiceError | null) => (err ? reject(explain(t, "Bootstrap")(err)) : resolve()));
    });
}
