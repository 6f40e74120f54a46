// The Kubernetes version k8ts answers as (GET /version, node info, User-Agent): one constant every
// component reads, so the API server, the agent and the CLI never disagree.
export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-k8ts' };
