// The token cleaner of kube-controller-manager: deletes bootstrap token Secrets in kube-system once their
// expiration has passed (each is looked at when it changes and again when it is due).
import { SECRETS } from '../api/kinds.js';
import type { Secret } from '../api/types.js';
import { BOOTSTRAP_NAMESPACE, BOOTSTRAP_TOKEN_TYPE, expiresAt, isExpired } from '../api/bootstraptoken.js';
import type { SharedInformer } from '../client/informer.js';
import { isNotFound, isConflict } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations } from './context.js';

export class TokenCleaner implements Controller {
  private secrets: SharedInformer<Secret>;
  private queue = new WorkQueue(
    (name) => this.reconcile(name),
    1,
    (key, err) => console.error(`token cleaner: ${key}:`, err instanceof Error ? err.message : err),
  );
  private regs = new Registrations();

  constructor(
    private ctx: ControllerContext,
    private now: () => number = () => Date.now(),
  ) {
    this.secrets = ctx.informers.informerFor(SECRETS);
  }

  async start(): Promise<void> {
    await this.secrets.waitForSync();
    const add = (s: Secret) => {
      if (s.metadata.namespace === BOOTSTRAP_NAMESPACE && s.type === BOOTSTRAP_TOKEN_TYPE) this.queue.add(s.metadata.name!);
    };
    this.regs.add(this.secrets.addEventHandler({ onAdd: add, onUpdate: add }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(name: string): Promise<{ requeueAfterMs: number } | void> {
    const s = this.secrets.lister.get(BOOTSTRAP_NAMESPACE, name);
    if (!s || s.type !== BOOTSTRAP_TOKEN_TYPE || s.metadata.deletionTimestamp) return;
    const now = this.now();
    if (!isExpired(s, now)) {
      const at = expiresAt(s);
      // Looked at again when due, at least hourly (Node's timers overflow past 24.8 days); an edit that
      // moves the expiration comes through the informer.
      return at === undefined ? undefined : { requeueAfterMs: Math.min(Math.max(0, at - now) + 1, 3_600_000) };
    }
    try {
      // Only the copy that was seen expired: a token rewritten meanwhile is looked at again.
      await this.ctx.client.delete(SECRETS, BOOTSTRAP_NAMESPACE, name, { preconditions: { uid: s.metadata.uid, resourceVersion: s.metadata.resourceVersion } });
    } catch (e) {
      if (isNotFound(e) || isConflict(e)) return;
      throw e;
    }
  }
}
