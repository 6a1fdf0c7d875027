// The preview floor: every provider the program creates and nothing else (the dynamic one of the
// drift sentinels included, which starts its own Node.js process), previewed by the same CLI and
// plugins as the real program (bench/bench.ts). What the real preview costs beyond this is the
// program.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as talos from "@pulumiverse/talos";
import { DynamicProvider } from "../components/nas/drift";

new talos.Provider("talos");
new command.Provider("command");
new random.Provider("random");
new DynamicProvider("drift");
// As in the real preview, the cluster does not exist yet: its kubeconfig is unknown.
new k8s.Provider("kubernetes", { kubeconfig: pulumi.output(pulumi.unknown as unknown as string) });
