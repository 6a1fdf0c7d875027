// The preview floor: the stack's providers and nothing else, previewed by the same CLI and plugins
// as the real program (bench/bench.ts). What the real preview costs beyond this is the program.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as talos from "@pulumiverse/talos";

new talos.Provider("talos");
new command.Provider("command");
new random.Provider("random");
// As in the real preview, the cluster does not exist yet: its kubeconfig is unknown.
new k8s.Provider("kubernetes", { kubeconfig: pulumi.output(pulumi.unknown as unknown as string) });
