// One certificate of the node's kept current, as client-go's certificate manager keeps the kubelet's: the one
// in hand renewed at a point drawn once in 70–90 % of its life through a new CSR, a refused or failed request
// asked again with back-off, every new certificate swapped in whole and handed on. The agent's client
// certificate (kube-apiserver-client-kubelet, agent.ts) and its serving certificate (kubelet-serving,
// servingcert.ts) are two of these; identity.ts makes the requests and stores what is issued.
import { type NodeCredentials, renewalDeadline } from './identity.js';

/** Back-off after a failed request, for both of the agent's certificates: 10 s, doubled up to 5 minutes. */
export const RETRY_FIRST_MS = 10_000;
export const RETRY_MAX_MS = 300_000;
/** Node timers overflow past 24.8 days: a far deadline is looked at again at least daily. */
const MAX_TIMER_MS = 86_400_000;

export interface CertificateManagerOptions {
  /** What the certificate is, for log lines ("node client", "serving"). */
  what: string;
  nodeName: string;
  log: (line: string) => void;
  /** Submits a CSR, waits for the signed certificate and stores it (identity.ts: requestNodeCredentials,
   *  requestServingCredentials); resolves only with a pair whose key matches its certificate. */
  request: () => Promise<NodeCredentials>;
  /** Called with every certificate obtained after start, after it became the one in use. */
  onChange: (c: NodeCredentials) => void;
  /** Back-off after a failed request: first wait, doubled each time up to max (defaults above). */
  retryFirstMs?: number;
  retryMaxMs?: number;
  /** Where in 70–90 % of the life the renewal falls (0…1); random by default, so a fleet does not renew at once. */
  jitter?: () => number;
  /** The longest one timer waits before the deadline is looked at again (default a day). */
  maxWaitMs?: number;
}

export class CertificateManager {
  private current?: NodeCredentials;
  /** When the certificate in hand is renewed: drawn once per certificate, kept across daily re-checks. */
  private deadline = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private inFlight = false;
  private readonly retryFirstMs: number;
  private readonly retryMaxMs: number;
  private retryMs: number;
  private issued: Promise<void>;
  private resolveIssued!: () => void;

  constructor(private o: CertificateManagerOptions) {
    this.retryFirstMs = o.retryFirstMs ?? RETRY_FIRST_MS;
    this.retryMaxMs = o.retryMaxMs ?? RETRY_MAX_MS;
    this.retryMs = this.retryFirstMs;
    this.issued = new Promise((r) => (this.resolveIssued = r));
  }

  /** With a usable certificate in hand: renew it when due. Without: ask for one now (in the background). */
  start(inHand?: NodeCredentials): void {
    if (inHand) {
      this.swap(inHand);
      this.schedule();
    } else {
      void this.obtain();
    }
  }

  /** The certificate in use, if any. */
  get credentials(): NodeCredentials | undefined {
    return this.current;
  }

  /** When the certificate in hand is due for renewal (ms since the epoch; 0 without one). */
  get renewAt(): number {
    return this.deadline;
  }

  /** Resolves true when a certificate is in use, or false after timeoutMs. */
  async ready(timeoutMs: number): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const done = await Promise.race([this.issued.then(() => true), new Promise<boolean>((r) => (t = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(t);
    return done;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The new pair replaces the old in one assignment: a reader sees the old pair or the new, never half. */
  private swap(c: NodeCredentials): void {
    this.current = c;
    this.deadline = renewalDeadline(c, (this.o.jitter ?? Math.random)());
    this.resolveIssued();
  }

  private schedule(): void {
    if (!this.current || this.stopped) return;
    clearTimeout(this.timer);
    const wait = Math.min(Math.max(0, this.deadline - Date.now()), this.o.maxWaitMs ?? MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      if (Date.now() < this.deadline) this.schedule();
      else void this.obtain();
    }, wait);
    this.timer.unref();
  }

  private async obtain(): Promise<void> {
    // One request at a time: a timer that fires while one waits for approval adds nothing.
    if (this.stopped || this.inFlight) return;
    this.inFlight = true;
    let next: NodeCredentials;
    try {
      next = await this.o.request();
    } catch (e) {
      if (this.stopped) return;
      this.o.log(`k8ts agent ${this.o.nodeName}: ${this.o.what} certificate: ${e instanceof Error ? e.message : e}; asking again in ${this.retryMs / 1000} s`);
      this.timer = setTimeout(() => void this.obtain(), this.retryMs);
      this.timer.unref();
      this.retryMs = Math.min(this.retryMs * 2, this.retryMaxMs);
      return;
    } finally {
      this.inFlight = false;
    }
    if (this.stopped) return;
    this.swap(next);
    this.retryMs = this.retryFirstMs;
    this.schedule();
    try {
      this.o.onChange(next);
    } catch (e) {
      // The certificate is in use here either way; a consumer that failed to take it is named, not retried.
      this.o.log(`k8ts agent ${this.o.nodeName}: ${this.o.what} certificate: handing on the new certificate: ${e instanceof Error ? e.message : e}`);
    }
  }
}
