// InterPodAffinity: required pod affinity (a node's domain must hold a matching pod, unless no pod matches
// anywhere and the pod matches its own terms), required anti-affinity (no matching pod in the domain) and
// the existing pods' required anti-affinity against this pod; preferred terms, this pod's and the existing
// pods', score domains. Only pods in the terms' namespaces, and only existing pods with terms, are visited.
import type { PodAffinityTerm } from '../../../api/types.js';
import type { NodeInfo } from '../cache.js';
import { type Cycle, MAX_NODE_SCORE, type Plugin } from '../framework.js';
import { type PodInfo, termMatches } from '../podinfo.js';

export const ERR_AFFINITY = "node(s) didn't match pod affinity rules";
export const ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";
/** Weight of an existing pod's required affinity term when scoring (upstream's hardPodAffinityWeight). */
const HARD_POD_AFFINITY_WEIGHT = 1;

type Domains = Map<string, number>;
const pairKey = (key: string, value: string) => `${key}\u0000${value}`;

function bump(m: Domains, n: NodeInfo | undefined, key: string, by: number): void {
  if (!n || !(key in n.labels)) return;
  const k = pairKey(key, n.labels[key]);
  m.set(k, (m.get(k) ?? 0) + by);
}

/** The pods a term of `owner` might select: the namespaces it names (all for a namespaceSelector). */
function candidates(cy: Cycle, owner: PodInfo, term: PodAffinityTerm): Iterable<PodInfo> {
  if (term.namespaceSelector)
    return (function* () {
      for (const ns of [...cy.cache.namespaces()]) yield* cy.cache.podsIn(ns);
    })();
  const nss = term.namespaces?.length ? term.namespaces : [owner.namespace];
  return (function* () {
    for (const ns of nss) yield* cy.cache.podsIn(ns);
  })();
}

/** Per term: topology pair → matching existing pods. */
function countTerms(cy: Cycle, terms: PodAffinityTerm[]): Domains[] {
  return terms.map((t) => {
    const m: Domains = new Map();
    for (const p of candidates(cy, cy.pod, t)) {
      if (p.key !== cy.pod.key && termMatches(t, cy.pod, p, cy.namespaceLabels)) bump(m, cy.cache.getNode(p.node!), t.topologyKey, 1);
    }
    return m;
  });
}

const has = (m: Domains, n: NodeInfo, key: string) => key in n.labels && (m.get(pairKey(key, n.labels[key])) ?? 0) > 0;

export const interPodAffinity: Plugin = {
  name: 'InterPodAffinity',
  weight: 2,
  forPod(cy) {
    const pod = cy.pod;
    // Existing pods whose required anti-affinity selects this pod: the domains they forbid.
    const forbidden: Domains = new Map();
    // Existing pods' terms toward this pod, for scoring.
    const existingScore: Domains = new Map();
    for (const e of cy.cache.withAffinity.values()) {
      if (e.key === pod.key) continue;
      const en = cy.cache.getNode(e.node!);
      for (const t of e.requiredAntiAffinity) if (termMatches(t, e, pod, cy.namespaceLabels)) bump(forbidden, en, t.topologyKey, 1);
      for (const t of e.requiredAffinity) if (termMatches(t, e, pod, cy.namespaceLabels)) bump(existingScore, en, t.topologyKey, HARD_POD_AFFINITY_WEIGHT);
      for (const w of e.preferredAffinity)
        if (termMatches(w.podAffinityTerm, e, pod, cy.namespaceLabels)) bump(existingScore, en, w.podAffinityTerm.topologyKey, w.weight);
      for (const w of e.preferredAntiAffinity)
        if (termMatches(w.podAffinityTerm, e, pod, cy.namespaceLabels)) bump(existingScore, en, w.podAffinityTerm.topologyKey, -w.weight);
    }
    const affinity = countTerms(cy, pod.requiredAffinity);
    const anti = countTerms(cy, pod.requiredAntiAffinity);
    // No pod matches any affinity term anywhere: the first pod of a group may go if it matches itself.
    const noneAnywhere = affinity.every((m) => m.size === 0);
    const selfMatch = pod.requiredAffinity.every((t) => termMatches(t, pod, pod, cy.namespaceLabels));
    const prefA = countTerms(
      cy,
      pod.preferredAffinity.map((w) => w.podAffinityTerm),
    );
    const prefN = countTerms(
      cy,
      pod.preferredAntiAffinity.map((w) => w.podAffinityTerm),
    );
    const needFilter = forbidden.size > 0 || pod.requiredAffinity.length > 0 || pod.requiredAntiAffinity.length > 0;
    const needScore = existingScore.size > 0 || pod.preferredAffinity.length > 0 || pod.preferredAntiAffinity.length > 0;
    if (!needFilter && !needScore) return undefined;
    const domainScore = (n: NodeInfo, m: Domains, key: string) => (key in n.labels ? (m.get(pairKey(key, n.labels[key])) ?? 0) : 0);
    return {
      filter: needFilter
        ? (n) => {
            // Upstream's order: the pod's affinity, its anti-affinity, then the existing pods' anti-affinity.
            if (pod.requiredAffinity.length) {
              const ok = pod.requiredAffinity.every((t, i) => has(affinity[i], n, t.topologyKey));
              if (!ok && !(noneAnywhere && selfMatch && pod.requiredAffinity.every((t) => t.topologyKey in n.labels))) return [ERR_AFFINITY];
            }
            for (let i = 0; i < pod.requiredAntiAffinity.length; i++) if (has(anti[i], n, pod.requiredAntiAffinity[i].topologyKey)) return [ERR_ANTI_AFFINITY];
            for (const [k] of forbidden) {
              const [key, value] = k.split('\u0000');
              if (n.labels[key] === value && key in n.labels) return [ERR_EXISTING_ANTI_AFFINITY];
            }
            return undefined;
          }
        : undefined,
      score: needScore
        ? (n) => {
            let s = 0;
            for (const [k, v] of existingScore) {
              const [key, value] = k.split('\u0000');
              if (key in n.labels && n.labels[key] === value) s += v;
            }
            pod.preferredAffinity.forEach((w, i) => {
              if (domainScore(n, prefA[i], w.podAffinityTerm.topologyKey) > 0) s += w.weight * domainScore(n, prefA[i], w.podAffinityTerm.topologyKey);
            });
            pod.preferredAntiAffinity.forEach((w, i) => {
              if (domainScore(n, prefN[i], w.podAffinityTerm.topologyKey) > 0) s -= w.weight * domainScore(n, prefN[i], w.podAffinityTerm.topologyKey);
            });
            return s;
          }
        : undefined,
      normalize(scores: number[]) {
        const max = Math.max(...scores);
        const min = Math.min(...scores);
        for (let i = 0; i < scores.length; i++) scores[i] = max === min ? 0 : Math.trunc((MAX_NODE_SCORE * (scores[i] - min)) / (max - min));
      },
    };
  },
};
