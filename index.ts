// The program: read and validate the stack's configuration, then compose the homelab from it.
// Everything else lives in stacks/ and components/, where tests import it without running this.
import { loadStackConfig } from "./stacks/config";
import { defineHomelab } from "./stacks/homelab";

const homelab = defineHomelab(loadStackConfig());

export const kubeconfig = homelab.kubeconfig;
export const talosconfig = homelab.talosconfig;
export const grafanaAdminPassword = homelab.platform.grafanaAdminPassword;
export const argocdAdminPassword = homelab.platform.argocdAdminPassword;
