// Pulumi mocks that record every resource and invoke the program makes. Resource outputs are the
// inputs plus what a provider would compute; an invoke nobody mocked throws, so a new data source
// can never pass a test by returning nothing.
import * as pulumi from "@pulumi/pulumi";

export interface RegisteredResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, any>;
    readonly provider?: string;
}

export interface RecordedInvoke {
    readonly token: string;
    readonly inputs: Record<string, any>;
}

export interface Recording {
    readonly resources: RegisteredResource[];
    readonly invokes: RecordedInvoke[];
    /** Resolves once registrations have stopped arriving. */
    settle(): Promise<void>;
    ofType(type: string): RegisteredResource[];
    named(name: string): RegisteredResource;
}

/** What each provider computes beyond its inputs, by type token. */
function computedOutputs(type: string, inputs: Record<string, any>): Record<string, any> {
    switch (type) {
        case "talos:machine/secrets:Secrets":
            return {
                machineSecrets: { cluster: { id: "mock-cluster", secret: "mock" }, certs: {} },
                clientConfiguration: { caCertificate: "mock-ca", clientCertificate: "mock-crt", clientKey: "mock-key" },
            };
        case "talos:cluster/kubeconfig:Kubeconfig":
            return { kubeconfigRaw: `apiVersion: v1\nkind: Config\n# node ${inputs.node}\n` };
        case "command:remote:Command":
            return { stdout: "created", stderr: "" };
        case "command:local:Command":
            return { stdout: "2026-11-30T03:00:00Z", stderr: "" };
        case "random:index/randomPassword:RandomPassword":
            return { result: "mock-password", bcryptHash: "$2a$10$mockmockmockmockmockmu" };
        default:
            if (type.startsWith("pulumi-nodejs:dynamic")) {
                return { generation: 0, observed: inputs.desired };
            }
            return {};
    }
}

/** Installs the mocks for a stack and returns the live recording. */
export async function recordProgram(stack = "lab", preview = false): Promise<Recording> {
    const resources: RegisteredResource[] = [];
    const invokes: RecordedInvoke[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
                return { id: `${args.name}-id`, state: { ...args.inputs, ...computedOutputs(args.type, args.inputs) } };
            },
            call(args: pulumi.runtime.MockCallArgs) {
                invokes.push({ token: args.token, inputs: args.inputs });
                switch (args.token) {
                    case "talos:machine/getConfiguration:getConfiguration":
                        return { ...args.inputs, machineConfiguration: `version: v1alpha1\nmachine:\n  type: ${args.inputs.machineType}\n` };
                    case "talos:client/getConfiguration:getConfiguration":
                        return { ...args.inputs, talosConfig: `context: ${args.inputs.clusterName}\n` };
                    default:
                        throw new Error(`unmocked invoke ${args.token}`);
                }
            },
        },
        "homelab",
        stack,
        preview,
    );

    const settle = async () => {
        let seen = -1;
        while (seen !== resources.length + invokes.length) {
            seen = resources.length + invokes.length;
            await new Promise(resolve => setTimeout(resolve, 30));
        }
    };
    return {
        resources,
        invokes,
        settle,
        ofType: type => resources.filter(r => r.type === type),
        named: name => {
            const found = resources.find(r => r.name === name);
            if (!found) {
                throw new Error(`no resource named ${name}; have: ${resources.map(r => r.name).join(", ")}`);
            }
            return found;
        },
    };
}

/** The plain value of an Output, for assertions. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise(resolve =>
        output.apply(v => {
            resolve(v);
            return v;
        }),
    );
}

/** Whether an Output is marked secret. */
export function isSecret<T>(output: pulumi.Output<T>): Promise<boolean> {
    return pulumi.isSecret(output);
}

/** The signature key the engine's wire format uses to mark a secret value. */
const secretSignature = "4dabf18193072939515e22adb298388d";
const secretMarker = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a recorded input value is a secret (as the engine would store it: encrypted). */
export function isSecretInput(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[secretSignature] === secretMarker;
}

/** A recorded input with every secret wrapper removed. */
export function plain(v: unknown): any {
    if (isSecretInput(v)) {
        return plain(v.value);
    }
    if (Array.isArray(v)) {
        return v.map(plain);
    }
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    }
    return v;
}

/** Paths of plain (non-secret) strings in a recorded input that contain `needle`. */
export function plaintextOccurrences(v: unknown, needle: string, at = ""): string[] {
    if (isSecretInput(v)) {
        return [];
    }
    if (typeof v === "string") {
        return v.includes(needle) ? [at || "."] : [];
    }
    if (typeof v === "object" && v !== null) {
        return Object.entries(v).flatMap(([k, x]) => plaintextOccurrences(x, needle, `${at}.${k}`));
    }
    return [];
}
