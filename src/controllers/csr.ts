// The certificate loops of kube-controller-manager: the signer issues client certificates from the
// cluster CA for approved requests to the kubernetes.io client signers, and the approver approves node
// client requests whose requester SubjectAccessReview allows (a bootstrapper, or the node itself renewing).
import { CSRS } from '../api/kinds.js';
import type { CertificateSigningRequest } from '../api/types.js';
import type { Attributes, UserInfo } from '../api/authorization.js';
import { type CaSigner, SIGNER_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, parseCsrPem, signerRules, verifyCsrSignature } from '../api/certificates/csr.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations } from './context.js';

/** Certificates live a year unless the request asks for less (kube-controller-manager's --cluster-signing-duration). */
const DEFAULT_DURATION_S = 365 * 24 * 3600;

const has = (csr: CertificateSigningRequest, type: string) => (csr.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
const pem = (csr: CertificateSigningRequest) => Buffer.from(csr.spec.request ?? '', 'base64').toString('latin1');
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** The loop both CSR controllers share: every added or changed request, by name, through a work queue. */
abstract class CsrLoop implements Controller {
  protected csrs: SharedInformer<CertificateSigningRequest>;
  private queue: WorkQueue;
  private regs = new Registrations();

  constructor(protected ctx: ControllerContext, what: string) {
    this.csrs = ctx.informers.informerFor(CSRS);
    this.queue = new WorkQueue((name) => this.reconcile(name), 2, (key, err) => console.error(`${what}: ${key}:`, err instanceof Error ? err.message : err));
  }

  async start(): Promise<void> {
    await this.csrs.waitForSync();
    const add = (c: CertificateSigningRequest) => this.queue.add(c.metadata.name!);
    this.regs.add(this.csrs.addEventHandler({ onAdd: add, onUpdate: add }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  protected abstract reconcile(name: string): Promise<void>;
}

/** Issues certificates for approved requests to the two client signers; a request it cannot honour gets a Failed condition. */
export class CsrSigner extends CsrLoop {
  constructor(ctx: ControllerContext, private ca: CaSigner) {
    super(ctx, 'csr signer');
  }

  protected async reconcile(name: string): Promise<void> {
    const csr = this.csrs.lister.get(undefined, name);
    if (!csr || csr.status?.certificate || !has(csr, 'Approved') || has(csr, 'Denied') || has(csr, 'Failed')) return;
    const signer = csr.spec.signerName;
    if (signer !== SIGNER_APISERVER_CLIENT && signer !== SIGNER_KUBELET_CLIENT) return;
    const usages = csr.spec.usages ?? [];
    let failure: string | undefined;
    let cert: string | undefined;
    try {
      const p = parseCsrPem(pem(csr));
      const rules = signerRules(signer, p, usages);
      if (rules.length) failure = rules.map((e) => e.message).join('; ');
      else if (!(await verifyCsrSignature(p))) failure = 'the request\'s signature does not verify with its public key';
      else cert = await this.ca.sign(p, usages, Math.min(csr.spec.expirationSeconds ?? DEFAULT_DURATION_S, DEFAULT_DURATION_S));
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    const status = { ...(csr.status ?? {}) };
    if (cert) status.certificate = Buffer.from(cert).toString('base64');
    else status.conditions = [...(status.conditions ?? []), { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: failure ?? '', lastUpdateTime: now(), lastTransitionTime: now() }];
    try {
      await this.ctx.client.update(CSRS, undefined, { ...csr, status }, 'status');
    } catch (e) {
      if (errorCode(e) === 409 || errorCode(e) === 404) return; // a newer copy comes through the informer
      throw e;
    }
  }
}

/** Approves node client requests (CN system:node:<name>, O system:nodes) when the requester may create
 *  certificatesigningrequests/selfnodeclient (its own name) or /nodeclient, as upstream's csrapproving. */
export class CsrApprover extends CsrLoop {
  constructor(ctx: ControllerContext, private allowed: (a: Attributes) => boolean) {
    super(ctx, 'csr approver');
  }

  protected async reconcile(name: string): Promise<void> {
    const csr = this.csrs.lister.get(undefined, name);
    if (!csr || csr.spec.signerName !== SIGNER_KUBELET_CLIENT || has(csr, 'Approved') || has(csr, 'Denied') || csr.status?.certificate) return;
    let p;
    try {
      p = parseCsrPem(pem(csr));
    } catch {
      return; // validated at create; nothing to approve
    }
    if (signerRules(SIGNER_KUBELET_CLIENT, p, csr.spec.usages ?? []).length || !(await verifyCsrSignature(p))) return;
    const requester: UserInfo = { name: csr.spec.username ?? '', uid: csr.spec.uid, groups: csr.spec.groups ?? [], extra: csr.spec.extra };
    const sub = requester.name === p.commonName ? 'selfnodeclient' : 'nodeclient';
    const attrs: Attributes = { user: requester, verb: 'create', resourceRequest: true, path: '', apiGroup: 'certificates.k8s.io', apiVersion: 'v1',
      namespace: '', resource: 'certificatesigningrequests', subresource: sub, name: '' };
    if (!this.allowed(attrs)) return;
    const conditions = [...(csr.status?.conditions ?? []), { type: 'Approved', status: 'True', reason: 'AutoApproved',
      message: 'Auto approving kubelet client certificate after SubjectAccessReview.', lastUpdateTime: now(), lastTransitionTime: now() }];
    try {
      await this.ctx.client.update(CSRS, undefined, { ...csr, status: { ...(csr.status ?? {}), conditions } }, 'approval');
    } catch (e) {
      if (errorCode(e) === 409 || errorCode(e) === 404) return;
      throw e;
    }
  }
}
