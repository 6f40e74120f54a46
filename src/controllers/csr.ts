// The certificate loops of kube-controller-manager: the signer issues certificates from the cluster CA
// for approved requests to the kubernetes.io client signers and kubelet-serving; the approver approves
// node client requests whose requester SubjectAccessReview allows (a bootstrapper, or the node itself
// renewing) and node serving requests made by that node for its own addresses.
import { isIP } from 'node:net';
import { CSRS, NODES } from '../api/kinds.js';
import type { CertificateSigningRequest, Node } from '../api/types.js';
import type { Attributes, UserInfo } from '../api/authorization.js';
import {
  type CaSigner,
  type ParsedCsr,
  SIGNER_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  parseCsrPem,
  signerRules,
  verifyCsrSignature,
} from '../api/certificates/csr.js';
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

  constructor(
    protected ctx: ControllerContext,
    what: string,
  ) {
    this.csrs = ctx.informers.informerFor(CSRS);
    this.queue = new WorkQueue(
      (name) => this.reconcile(name),
      2,
      (key, err) => console.error(`${what}: ${key}:`, err instanceof Error ? err.message : err),
    );
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

/** Issues certificates for approved requests to the two client signers and kubelet-serving; a request it
 *  cannot honour gets a Failed condition. */
export class CsrSigner extends CsrLoop {
  constructor(
    ctx: ControllerContext,
    private ca: CaSigner,
  ) {
    super(ctx, 'csr signer');
  }

  protected async reconcile(name: string): Promise<void> {
    const csr = this.csrs.lister.get(undefined, name);
    if (!csr || csr.status?.certificate || !has(csr, 'Approved') || has(csr, 'Denied') || has(csr, 'Failed')) return;
    const signer = csr.spec.signerName;
    if (signer !== SIGNER_APISERVER_CLIENT && signer !== SIGNER_KUBELET_CLIENT && signer !== SIGNER_KUBELET_SERVING) return;
    const usages = csr.spec.usages ?? [];
    let failure: string | undefined;
    let cert: string | undefined;
    try {
      const p = parseCsrPem(pem(csr));
      const rules = signerRules(signer, p, usages);
      if (rules.length) failure = rules.map((e) => e.message).join('; ');
      else if (!(await verifyCsrSignature(p))) failure = "the request's signature does not verify with its public key";
      else
        cert = await this.ca.sign(p, usages, Math.min(csr.spec.expirationSeconds ?? DEFAULT_DURATION_S, DEFAULT_DURATION_S), signer === SIGNER_KUBELET_SERVING);
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    const status = { ...(csr.status ?? {}) };
    if (cert) status.certificate = Buffer.from(cert).toString('base64');
    else
      status.conditions = [
        ...(status.conditions ?? []),
        { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: failure ?? '', lastUpdateTime: now(), lastTransitionTime: now() },
      ];
    try {
      await this.ctx.client.update(CSRS, undefined, { ...csr, status }, 'status');
    } catch (e) {
      if (errorCode(e) === 409 || errorCode(e) === 404) return; // a newer copy comes through the informer
      throw e;
    }
  }
}

/** Approves node client requests (CN system:node:<name>, O system:nodes) when the requester may create
 *  certificatesigningrequests/selfnodeclient (its own name) or /nodeclient, as upstream's csrapproving;
 *  and node serving requests (kubelet-serving) by servingVerdict. */
export class CsrApprover extends CsrLoop {
  constructor(
    ctx: ControllerContext,
    private allowed: (a: Attributes) => boolean,
  ) {
    super(ctx, 'csr approver');
  }

  protected async reconcile(name: string): Promise<void> {
    const csr = this.csrs.lister.get(undefined, name);
    if (!csr || has(csr, 'Approved') || has(csr, 'Denied') || csr.status?.certificate) return;
    if (csr.spec.signerName === SIGNER_KUBELET_SERVING) return this.reconcileServing(csr);
    if (csr.spec.signerName !== SIGNER_KUBELET_CLIENT) return;
    let p;
    try {
      p = parseCsrPem(pem(csr));
    } catch {
      return; // validated at create; nothing to approve
    }
    if (signerRules(SIGNER_KUBELET_CLIENT, p, csr.spec.usages ?? []).length || !(await verifyCsrSignature(p))) return;
    const requester: UserInfo = { name: csr.spec.username ?? '', uid: csr.spec.uid, groups: csr.spec.groups ?? [], extra: csr.spec.extra };
    const sub = requester.name === p.commonName ? 'selfnodeclient' : 'nodeclient';
    const attrs: Attributes = {
      user: requester,
      verb: 'create',
      resourceRequest: true,
      path: '',
      apiGroup: 'certificates.k8s.io',
      apiVersion: 'v1',
      namespace: '',
      resource: 'certificatesigningrequests',
      subresource: sub,
      name: '',
    };
    if (!this.allowed(attrs)) return;
    await this.decide(csr, 'Approved', 'AutoApproved', 'Auto approving kubelet client certificate after SubjectAccessReview.');
  }

  /** Upstream approves no kubelet-serving request on its own (an operator or a third-party approver
   *  must). k8ts's lab comes up unattended, so it approves the ones it can prove: made by the node the
   *  certificate names, for addresses that Node reports. A request for anyone else's name or address is
   *  Denied with the reason, so it never waits for a human who will not come. */
  private async reconcileServing(csr: CertificateSigningRequest): Promise<void> {
    let p;
    try {
      p = parseCsrPem(pem(csr));
    } catch {
      return;
    }
    if (signerRules(SIGNER_KUBELET_SERVING, p, csr.spec.usages ?? []).length || !(await verifyCsrSignature(p))) return;
    const nodeName = p.commonName.slice('system:node:'.length);
    // Read fresh, not from an informer: the agent registers its Node just before it asks, and a verdict on
    // an old copy would deny a node its own new address.
    const node = await this.ctx.client.get(NODES, undefined, nodeName);
    const why = servingVerdict(csr, p, node);
    if (why === 'wait') throw new Error(`node ${JSON.stringify(nodeName)} is not registered yet; retrying`); // the queue backs off
    if (why) await this.decide(csr, 'Denied', 'NodeServingCertificateRefused', why);
    else await this.decide(csr, 'Approved', 'AutoApproved', `Auto approving node serving certificate: requested by ${p.commonName} for its own addresses.`);
  }

  private async decide(csr: CertificateSigningRequest, type: 'Approved' | 'Denied', reason: string, message: string): Promise<void> {
    const conditions = [...(csr.status?.conditions ?? []), { type, status: 'True', reason, message, lastUpdateTime: now(), lastTransitionTime: now() }];
    try {
      await this.ctx.client.update(CSRS, undefined, { ...csr, status: { ...(csr.status ?? {}), conditions } }, 'approval');
    } catch (e) {
      if (errorCode(e) === 409 || errorCode(e) === 404) return;
      throw e;
    }
  }
}

/** Why a kubelet-serving request is refused (a message), '' when it is the node's own, or 'wait' when the
 *  Node does not exist yet (the agent registers first; the work queue retries with back-off). */
export function servingVerdict(csr: CertificateSigningRequest, p: ParsedCsr, node: Node | undefined): string {
  const requester = csr.spec.username ?? '';
  if (requester !== p.commonName) return `the request names ${p.commonName} but was made by ${JSON.stringify(requester)}: a node asks only for itself`;
  if (!(csr.spec.groups ?? []).includes('system:nodes')) return `the requester ${requester} is not in system:nodes`;
  if (!node) return 'wait';
  const addrs = node.status?.addresses ?? [];
  const ips = new Set(addrs.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address));
  const dns = new Set(addrs.filter((a) => a.type === 'Hostname' || a.type === 'InternalDNS' || a.type === 'ExternalDNS').map((a) => a.address.toLowerCase()));
  const badIps = p.ipAddresses.filter((ip) => !isIP(ip) || !ips.has(ip));
  const badDns = p.dnsNames.filter((d) => !dns.has(d.toLowerCase()));
  if (badIps.length || badDns.length) {
    return `subjectAltNames ${JSON.stringify([...badIps, ...badDns])} are not addresses of node ${JSON.stringify(node.metadata.name)} (its status.addresses: ${JSON.stringify(addrs.map((a) => a.address))})`;
  }
  return '';
}
