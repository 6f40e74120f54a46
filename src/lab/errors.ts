// Errors of the lab (`k8ts up`/`down`): one class, a stable machine-readable code, a message that says what to do.

export type LabErrorCode =
  | 'InvalidName' // a cluster name that cannot name files, namespaces and links
  | 'InvalidOption' // a plan option out of range (node count, CIDR, port)
  | 'ClusterExists' // `up` of a name whose state directory already exists
  | 'ClusterNotFound' // `down` of a name with no state directory
  | 'LabFull' // no free cluster index left on this machine
  | 'IndexTaken' // another `up` claimed the same index between plan and save: plan again
  | 'RangeCollision' // two clusters' ranges overlap
  | 'PreflightFailed' // the host cannot run the lab as planned; `problems` lists why
  | 'StepFailed' // a step of `up` failed; what it made was undone
  | 'ProcessRunning' // a role already has a live process
  | 'ProcessExited' // a started process died before it was running
  | 'StopFailed' // a process outlived SIGKILL
  | 'CgroupFailed' // a node's cgroup could not be made
  | 'DownIncomplete'; // `down` could not remove everything; the state directory is kept for a retry

export class LabError extends Error {
  constructor(
    readonly code: LabErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LabError';
  }
}
