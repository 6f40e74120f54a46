// The shared informer factory (client-go's): one informer (one watch, one cache) per resource and filter
// per process, whoever asks. Controllers take their informers from one factory, so four controllers
// that read pods share one pod cache. A filtered informer (the agent's pods by spec.nodeName) is its own
// entry, keyed by its filter.
import type { ResourceDef } from '../api/resources.js';
import { groupVersion } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { type InformerOptions, SharedInformer } from './informer.js';
import type { ReflectorStats } from './reflector.js';
import type { Client } from './types.js';

export class SharedInformerFactory {
  /** Held as KObject informers; informerFor gives each back with the type its resource carries. */
  private informers = new Map<string, SharedInformer<KObject>>();
  private started = false;

  constructor(
    readonly client: Client,
    private log: (line: string) => void = () => {},
  ) {}

  /** The informer of r with these options: made on first ask, started at once if the factory runs. */
  informerFor<T extends KObject>(r: ResourceDef<T>, o: InformerOptions = {}): SharedInformer<T> {
    const key = `${groupVersion(r)}/${r.plural}?ns=${o.namespace ?? ''}&l=${o.labelSelector ?? ''}&f=${o.fieldSelector ?? ''}`;
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new SharedInformer<KObject>(this.client, r, o, this.log);
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    // Made from r, under r's key: its objects are T.
    return inf as unknown as SharedInformer<T>;
  }

  /** Stop an informer and forget it: the next informerFor with its resource and filter makes a new one.
   *  For informers of one object that is no longer needed (the agent's per-object ConfigMaps and Secrets). */
  release(informer: SharedInformer<KObject>): void {
    for (const [k, i] of this.informers) {
      if (i !== informer) continue;
      this.informers.delete(k);
      i.stop();
    }
  }

  /** Start every informer, and any made later. */
  start(): void {
    this.started = true;
    for (const i of this.informers.values()) i.start();
  }

  /** Resolves when every informer asked for so far (or the ones given) has its first list. */
  async waitForCacheSync(...informers: SharedInformer<KObject>[]): Promise<void> {
    await Promise.all((informers.length ? informers : [...this.informers.values()]).map((i) => i.waitForSync()));
  }

  stop(): void {
    this.started = false;
    for (const i of this.informers.values()) i.stop();
  }

  /** Reflector counters per informer key (lists, relists, resumes, bookmarks…). */
  stats(): Map<string, Readonly<ReflectorStats>> {
    return new Map([...this.informers].map(([k, i]) => [k, i.stats]));
  }
}
