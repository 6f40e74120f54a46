// The topology page: keeps the cluster's picture (nodes, cbr0, veths, pods, routes, Services and their
// endpoints, NetworkPolicy edges) in a cytoscape graph, the veth and endpoint lines on lines.js's canvas
// under it (with a snapshot's first frame, preview.js, until cytoscape draws it), changed in place by the ui
// server's events, and asks the server for an element's kernel facts and for a trace it then walks hop by hop.
import cytoscape from 'cytoscape';
import { linesLayer } from './lines.js';
import { previewScene } from './preview.js';
import { quietLoop } from './quietloop.js';

const CELL_W = 150;
const CELL_H = 78;
const GRID_COLS = 6;
const NODE_GAP = 140;
const NODE_PAD = 18;

/** Everything the server told us, by kind and key. */
const state = { Node: new Map(), Namespace: new Map(), Pod: new Map(), Service: new Map(), EndpointSlice: new Map(), NetworkPolicy: new Map(), facts: new Map() };
/** Per node: pod key → grid slot, so a pod keeps its place while others come and go. */
const slots = new Map();

const ui = { ready: false, firstPaintMs: undefined, interactiveMs: undefined, renders: [], traces: [], cy: undefined, state };
window.k8tsUi = ui;

/** The picture's look. Labels are not here: labelStyle adds them for the zoom at which they can be read. */
const BASE_STYLE = [
  { selector: 'node', style: { 'font-size': 10, 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center', 'background-color': '#e8ecf3', 'border-width': 1, 'border-color': '#9aa3b2', shape: 'round-rectangle', width: 130, height: 56, 'min-zoomed-font-size': 7, 'z-index-compare': 'manual', 'z-index': 2 } },
  { selector: 'node.k8snode', style: { 'min-zoomed-font-size': 4, 'text-valign': 'top', 'text-halign': 'center', 'font-size': 13, 'font-weight': 'bold', 'background-opacity': 0, 'border-color': '#4a5568', 'border-width': 2, width: 'data(w)', height: 'data(h)', 'z-index': 0 } },
  { selector: 'node.k8snode.notready', style: { 'border-color': '#d64545', 'border-style': 'dashed' } },
  { selector: 'node.bridge', style: { 'background-color': '#cfe3ff', 'border-color': '#3a73c4', width: 190, height: 40, 'font-weight': 'bold' } },
  { selector: 'node.pod', style: { 'background-color': '#fff7d6', 'border-color': '#c49a1a' } },
  { selector: 'node.pod.Running', style: { 'background-color': '#e3f6e8', 'border-color': '#2e9d5b' } },
  { selector: 'node.pod.Failed', style: { 'background-color': '#fdecec', 'border-color': '#d64545' } },
  { selector: 'node.pod.Succeeded', style: { 'background-color': '#eceff3', 'border-color': '#7a8291' } },
  { selector: 'node.pod.deleting', style: { opacity: 0.5, 'border-style': 'dashed' } },
  { selector: 'node.pod.isolated', style: { 'border-width': 3, 'border-color': '#b4233c', 'outline-width': 0 } },
  { selector: 'node.service', style: { shape: 'hexagon', 'background-color': '#efe4ff', 'border-color': '#7a4cc2', width: 190, height: 70 } },
  { selector: 'edge', style: { width: 1.5, 'line-color': '#9aa3b2', 'curve-style': 'bezier', 'font-size': 9, 'text-rotation': 'autorotate', 'text-background-color': '#fff', 'text-background-opacity': 0.8, 'min-zoomed-font-size': 7, 'z-index-compare': 'manual', 'z-index': 1 } },
  // Veth and endpoint lines are drawn by lines.js under cytoscape; these two rules are for one of them lit by
  // a trace, when it is a cytoscape edge for the while.
  { selector: 'edge.veth', style: { 'line-color': '#3a73c4', width: 1, 'font-size': 8, 'curve-style': 'haystack', 'haystack-radius': 0 } },
  { selector: 'edge.route', style: { 'line-color': '#4a5568', width: 3, 'target-arrow-shape': 'triangle', 'target-arrow-color': '#4a5568', 'curve-style': 'unbundled-bezier', 'control-point-distances': [60], 'font-size': 10, 'min-zoomed-font-size': 4 } },
  { selector: 'edge.route.guess', style: { 'line-style': 'dashed' } },
  { selector: 'edge.endpoint', style: { 'curve-style': 'haystack', 'haystack-radius': 0, 'line-color': '#b9a2e0', width: 1 } },
  { selector: 'edge.allow', style: { 'line-color': '#2e9d5b', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#2e9d5b', opacity: 0.8 } },
  { selector: ':selected', style: { 'border-width': 4, 'border-color': '#ff8c00', 'line-color': '#ff8c00' } },
  { selector: 'node.hop', style: { 'border-width': 5, 'border-color': '#ff5a1f', 'z-index': 99 } },
  { selector: 'edge.hop', style: { 'line-color': '#ff5a1f', 'target-arrow-color': '#ff5a1f', width: 5, 'z-index': 99 } },
  { selector: 'node.hop.dropped', style: { 'border-color': '#d64545', 'background-color': '#fdecec' } },
  { selector: 'edge.hop.dropped', style: { 'line-color': '#d64545', 'target-arrow-color': '#d64545' } },
];

/**
 * Labels by the zoom from which their text is readable (its font size times the zoom reaches its
 * min-zoomed-font-size). Below that a label is not only left undrawn: it is not there at all, because
 * cytoscape measures every label's text for the element's bounds whether it draws it or not, which was the
 * largest part of a 300-pod first paint (measureText per pod, each label being different).
 */
const LABELS = [
  { selector: 'node.k8snode', zoom: 4 / 13 },
  { selector: 'edge.route', zoom: 4 / 10 },
  { selector: 'node.pod, node.bridge, node.service, edge.allow', zoom: 7 / 10 },
  { selector: 'edge.veth', zoom: 7 / 8 },
];

function labelStyle(zoom) {
  return LABELS.filter((l) => zoom >= l.zoom).map((l) => ({ selector: l.selector, style: { label: 'data(label)' } }));
}

/** Which labels the current zoom shows, as a key: the stylesheet changes only when it does. */
const labelKey = (zoom) => LABELS.filter((l) => zoom >= l.zoom).length;

// An idle page draws no frames (quietloop.js): cytoscape's loop is held while nothing is to be drawn.
const loop = quietLoop();
const cy = cytoscape({
  container: document.getElementById('cy'),
  layout: { name: 'preset' },
  minZoom: 0.05,
  maxZoom: 3,
  pixelRatio: 1,
  textureOnViewport: true,
  hideEdgesOnViewport: true,
  style: [...BASE_STYLE, ...labelStyle(0)],
});
loop.attach(cy);
ui.loop = loop;
/**
 * Cytoscape draws nothing until it has the first snapshot (a batch holds its renderer back): its first frame
 * is then the one that renders every element into its layered texture caches at once; a frame drawn
 * earlier (of an empty graph, under the preview) would use up that first draw, and the caches would be
 * filled a few elements a frame instead, in the frames that show the first updates.
 */
cy.startBatch();
let held = true;
let labelsShown = 0;
/** Puts the labels readable at this zoom in the stylesheet (one restyle when the set changes, none otherwise). */
function syncLabels() {
  const k = labelKey(cy.zoom());
  if (k === labelsShown) return;
  labelsShown = k;
  // The rules after the base so that hop and selection styles keep their order among themselves.
  cy.style([...BASE_STYLE, ...labelStyle(cy.zoom())]);
}
cy.on('zoom', syncLabels);
ui.cy = cy;
/** The veth and endpoint lines (and the node boxes' fill), on the canvas under cytoscape's. */
const lines = linesLayer(cy, document.getElementById('lines'));
ui.lines = lines;

// ---------- drawing ----------

const esc = (s) => String(s ?? '');
/** The nodes left to right; sorted again only when the set of nodes changes (a pod's position asks often). */
let order = { size: -1, names: [] };
const nodeOrder = () => {
  if (order.size !== state.Node.size || order.names.some((n) => !state.Node.has(n))) order = { size: state.Node.size, names: [...state.Node.keys()].sort() };
  return order.names;
};

function gatewayOf(node) {
  const f = state.facts.get(node);
  if (f?.ok && f.bridge?.addresses?.length) return { text: f.bridge.addresses.join(', '), real: true };
  const n = state.Node.get(node);
  const m = /^(\d+\.\d+\.\d+)\.(\d+)\/(\d+)$/.exec(n?.podCIDR ?? '');
  return m ? { text: `${m[1]}.${Number(m[2]) + 1}/${m[3]} (from podCIDR)`, real: false } : { text: '?', real: false };
}

function slotOf(node, podKey) {
  let m = slots.get(node);
  if (!m) slots.set(node, (m = new Map()));
  if (m.has(podKey)) return m.get(podKey);
  const used = new Set(m.values());
  let i = 0;
  while (used.has(i)) i++;
  m.set(podKey, i);
  return i;
}

function freeSlot(podKey) {
  for (const m of slots.values()) m.delete(podKey);
}

function nodeX(node) {
  const i = nodeOrder().indexOf(node);
  return i * (GRID_COLS * CELL_W + NODE_GAP);
}

function podPosition(p) {
  if (!p.node || !state.Node.has(p.node)) {
    const i = slotOf('', p.key);
    return { x: nodeOrder().length * (GRID_COLS * CELL_W + NODE_GAP) + (i % 3) * CELL_W, y: 120 + Math.floor(i / 3) * CELL_H };
  }
  const i = slotOf(p.node, p.key);
  return { x: nodeX(p.node) + (i % GRID_COLS) * CELL_W, y: 120 + Math.floor(i / GRID_COLS) * CELL_H };
}

/**
 * While the snapshot is drawn, the elements are collected here and added in one cy.add (one style pass, one
 * bounds pass) instead of one add each; null otherwise.
 */
let adding = null;

/** Whether an element is drawn (or about to be, during the snapshot). */
const has = (id) => (adding ? adding.has(id) : false) || cy.getElementById(id).nonempty();

/** The data fields that differ from what the element holds (none: no write, no style pass, no redraw). */
function changedData(el, rest) {
  let out;
  for (const k of Object.keys(rest)) {
    const a = el.data(k);
    const b = rest[k];
    if (a !== b && JSON.stringify(a) !== JSON.stringify(b)) (out ??= {})[k] = b;
  }
  return out;
}

function put(id, data, classes, position) {
  // A node's box is the background of its pods: it stays where the grid puts it.
  const grabbable = !classes.startsWith('k8snode');
  if (adding) {
    adding.set(id, { group: data.source ? 'edges' : 'nodes', data: { id, ...data }, classes, grabbable, ...(position ? { position: { ...position } } : {}) });
    return undefined;
  }
  const el = cy.getElementById(id);
  if (el.nonempty()) {
    // Only what changed is written: every write re-styles the element and redraws the frame.
    const { source, target, ...rest } = data;
    const diff = changedData(el, rest);
    if (diff) el.data(diff);
    const want = classes.split(/\s+/).filter(Boolean);
    const have = el.classes();
    if (want.length !== have.length || want.some((c) => !el.hasClass(c))) el.classes(classes);
    if (position && el.isNode()) {
      const p = el.position();
      if (p.x !== position.x || p.y !== position.y) el.position(position);
    }
    return el;
  }
  return cy.add({ group: data.source ? 'edges' : 'nodes', data: { id, ...data }, classes, grabbable, ...(position ? { position } : {}) });
}

function drop(id) {
  if (lines.has(id)) return void lines.remove(id);
  if (adding) return void adding.delete(id);
  const el = cy.getElementById(id);
  if (el.nonempty()) cy.remove(el);
}

function drawNode(name) {
  const n = state.Node.get(name);
  if (!n) {
    drop(`node:${name}`);
    drop(`cbr0:${name}`);
    return;
  }
  // The node is a box drawn behind its bridge and its pods' grid, sized to hold them. Not a cytoscape compound
  // parent: a compound's bounds and style are recomputed from all its children on every change to any of them,
  // which made each frame of a 300-pod page cost seconds; the grid already says where everything is.
  const x = nodeX(name) + ((GRID_COLS - 1) * CELL_W) / 2;
  const used = slots.get(name);
  const rows = Math.max(1, Math.ceil((used && used.size ? Math.max(...used.values()) + 1 : 1) / GRID_COLS));
  const top = 30 - 20 - NODE_PAD;
  const bottom = 120 + (rows - 1) * CELL_H + 28 + NODE_PAD;
  put(`node:${name}`, { label: `${name}  ${esc(n.ip)}  pods ${esc(n.podCIDR)}`, ref: `Node/${name}`, w: GRID_COLS * CELL_W - 20 + 2 * NODE_PAD, h: bottom - top },
    `k8snode${n.ready ? '' : ' notready'}`, { x, y: (top + bottom) / 2 });
  const gw = gatewayOf(name);
  put(`cbr0:${name}`, { label: `cbr0  ${gw.text}`, node: name, ref: `Bridge/${name}` }, 'bridge', { x, y: 30 });
}

function drawPod(key) {
  const p = state.Pod.get(key);
  const id = `pod:${key}`;
  if (!p || p.hostNetwork) {
    drop(id);
    freeSlot(key);
    return;
  }
  const onNode = p.node && state.Node.has(p.node) ? p.node : undefined;
  // The policy's mark stays until drawPolicies says otherwise (a pod's own change does not clear it).
  const isolated = !adding && cy.getElementById(id).nonempty() && cy.getElementById(id).hasClass('isolated');
  put(id, { label: `${p.namespace}/${p.name}\n${p.ip ?? 'no IP'}\n${p.phase}${p.deleting ? ' (terminating)' : ''}`, node: onNode ?? '', ref: `Pod/${key}`, ip: p.ip ?? '' },
    `pod ${p.phase}${p.deleting ? ' deleting' : ''}${isolated ? ' isolated' : ''}`, podPosition(p));
  if (onNode) lines.set(`veth:${key}`, 'veth', id, `cbr0:${p.node}`, { label: 'veth', ref: `Veth/${key}` });
  else lines.remove(`veth:${key}`);
}

function drawRoutes() {
  const want = new Map();
  const byCIDR = new Map([...state.Node.values()].map((n) => [n.podCIDR, n.name]));
  for (const a of state.Node.values()) {
    const f = state.facts.get(a.name);
    if (f?.ok) {
      for (const r of f.routes ?? []) {
        const b = byCIDR.get(r.dst);
        if (b && b !== a.name) want.set(`route:${a.name}>${b}`, { source: `node:${a.name}`, target: `node:${b}`, label: r.text.replace(/ proto \S+/, ''), ref: `Route/${a.name}>${b}`, text: r.text, cls: 'route' });
      }
    } else {
      // No agent answered: the route every k8ts agent would make (host-gw), drawn dashed.
      for (const b of state.Node.values()) {
        if (b.name === a.name || !b.podCIDR || !b.ip) continue;
        want.set(`route:${a.name}>${b.name}`, { source: `node:${a.name}`, target: `node:${b.name}`, label: `${b.podCIDR} via ${b.ip}`, ref: `Route/${a.name}>${b.name}`, text: `${b.podCIDR} via ${b.ip} (from the Node objects: no kernel facts)`, cls: 'route guess' });
      }
    }
  }
  cy.edges('.route').forEach((e) => { if (!want.has(e.id())) cy.remove(e); });
  for (const [id, d] of want) {
    const { cls, ...data } = d;
    put(id, data, cls);
  }
}

function drawServices() {
  const keys = [...state.Service.keys()].sort();
  const width = Math.max(1, nodeOrder().length) * (GRID_COLS * CELL_W + NODE_GAP);
  const per = Math.max(1, Math.floor(width / 220));
  cy.nodes('.service').forEach((n) => { if (!state.Service.has(n.data('key'))) cy.remove(n); });
  keys.forEach((k, i) => {
    const s = state.Service.get(k);
    const ports = (s.ports ?? []).map((p) => `${p.port}/${p.protocol}${p.nodePort ? ` NodePort ${p.nodePort}` : ''}`).join(', ');
    const lb = (s.lbIPs ?? []).length ? `\nLB ${s.lbIPs.join(', ')}` : '';
    put(`svc:${k}`, { key: k, label: `svc ${k}\n${s.type} ${esc(s.clusterIP)}\n${ports}${lb}`, ref: `Service/${k}`, ip: s.clusterIP ?? '' }, 'service',
      { x: (i % per) * 220, y: -160 - Math.floor(i / per) * 95 });
  });
  drawEndpoints();
}

function drawEndpoints() {
  const want = new Set();
  for (const sl of state.EndpointSlice.values()) {
    if (!sl.service || !state.Service.has(`${sl.namespace}/${sl.service}`)) continue;
    for (const e of sl.endpoints ?? []) {
      if (!e.ready || !e.pod) continue;
      const pod = `${sl.namespace}/${e.pod}`;
      if (!has(`pod:${pod}`)) continue;
      const id = `ep:${sl.namespace}/${sl.service}>${pod}`;
      want.add(id);
      lines.set(id, 'endpoint', `svc:${sl.namespace}/${sl.service}`, `pod:${pod}`, { ref: `Endpoint/${sl.namespace}/${sl.service}>${pod}` });
    }
  }
  for (const id of lines.ids('endpoint')) if (!want.has(id)) lines.remove(id);
}

// NetworkPolicy: the pods a policy selects are isolated (thick red border: what is not drawn is denied);
// green edges are the pod-to-pod flows its rules allow.
function matches(sel, labels) {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels?.[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = labels && Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels?.[e.key];
    if (e.operator === 'In' && !(has && e.values.includes(v))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(v)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function peersOf(peer, policyNs) {
  if (peer.ipBlock) return [];
  const nsOk = (ns) => (peer.namespaceSelector ? matches(peer.namespaceSelector, state.Namespace.get(ns)?.labels ?? {}) : ns === policyNs);
  return [...state.Pod.values()].filter((p) => !p.hostNetwork && nsOk(p.namespace) && matches(peer.podSelector, p.labels));
}

function drawPolicies() {
  const want = new Map();
  const isolated = new Set();
  for (const np of state.NetworkPolicy.values()) {
    const spec = np.spec ?? {};
    const types = spec.policyTypes ?? (spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
    const selected = [...state.Pod.values()].filter((p) => p.namespace === np.namespace && !p.hostNetwork && matches(spec.podSelector ?? {}, p.labels));
    for (const p of selected) isolated.add(p.key);
    const add = (from, to, rule, dir) => {
      if (from.key === to.key || want.size > 2000) return;
      const ports = (rule.ports ?? []).map((x) => `${x.port ?? '*'}/${x.protocol ?? 'TCP'}`).join(',') || 'all ports';
      want.set(`np:${np.key}:${dir}:${from.key}>${to.key}`, { source: `pod:${from.key}`, target: `pod:${to.key}`, label: `${np.name} ${ports}`, ref: `NetworkPolicy/${np.key}` });
    };
    if (types.includes('Ingress')) for (const rule of spec.ingress ?? []) {
      const froms = rule.from?.length ? rule.from.flatMap((peer) => peersOf(peer, np.namespace)) : [...state.Pod.values()].filter((p) => !p.hostNetwork);
      for (const to of selected) for (const from of froms) add(from, to, rule, 'in');
    }
    if (types.includes('Egress')) for (const rule of spec.egress ?? []) {
      const tos = rule.to?.length ? rule.to.flatMap((peer) => peersOf(peer, np.namespace)) : [];
      for (const from of selected) for (const to of tos) add(from, to, rule, 'out');
    }
  }
  cy.edges('.allow').forEach((e) => { if (!want.has(e.id())) cy.remove(e); });
  for (const [id, d] of want) if (has(d.source) && has(d.target)) put(id, d, 'allow');
  if (adding) {
    for (const [id, el] of adding) if (id.startsWith('pod:') && isolated.has(id.slice(4))) el.classes += ' isolated';
  } else {
    cy.nodes('.pod').forEach((n) => {
      if (n.hasClass('isolated') !== isolated.has(n.id().slice(4))) n.toggleClass('isolated', isolated.has(n.id().slice(4)));
    });
  }
}

function redrawAll() {
  for (const name of nodeOrder()) drawNode(name);
  cy.nodes('.k8snode').forEach((n) => { if (!state.Node.has(n.id().slice(5))) { cy.remove(n); } });
  for (const key of state.Pod.keys()) drawPod(key);
  // Again, now that each node's grid is known: its box holds every row.
  for (const name of nodeOrder()) drawNode(name);
  drawRoutes();
  drawServices();
  if (state.NetworkPolicy.size) drawPolicies();
}

// ---------- the event stream ----------

let pending = [];
let scheduled = false;
let fitted = false;

function apply(msg) {
  if (msg.op === 'facts') {
    state.facts.set(msg.key, msg.obj);
    return 'facts';
  }
  const m = state[msg.kind];
  if (msg.op === 'delete') m.delete(msg.key);
  else m.set(msg.key, msg.obj);
  return msg.kind;
}

/** Set by any change to the graph: only then does a batch get a frame of its own. */
let touched = false;
cy.on('add remove data position class move', () => {
  touched = true;
});

function flush() {
  scheduled = false;
  // Cytoscape has not taken the snapshot yet: these wait for it (takeOver schedules them).
  if (loading) return;
  touched = false;
  const batch = pending;
  pending = [];
  const kinds = new Set();
  // Pods drawn or undrawn by this batch: only then can a Service's endpoint lines change because of a pod.
  let podsAppeared = false;
  const boxes = new Set();
  cy.batch(() => {
    for (const msg of batch) {
      const kind = apply(msg);
      kinds.add(kind);
      if (kind === 'Pod') {
        const was = cy.getElementById(`pod:${msg.key}`).nonempty();
        drawPod(msg.key);
        if (was !== cy.getElementById(`pod:${msg.key}`).nonempty()) podsAppeared = true;
        const node = state.Pod.get(msg.key)?.node;
        if (node && state.Node.has(node)) boxes.add(node);
      } else if (kind === 'Node' || kind === 'facts') {
        for (const name of nodeOrder()) drawNode(name);
        cy.nodes('.k8snode').forEach((n) => { if (!state.Node.has(n.id().slice(5))) cy.remove(n); });
        if (kind === 'Node') for (const key of state.Pod.keys()) drawPod(key);
      }
    }
    // A node's box grows (or shrinks) with its grid.
    for (const name of boxes) drawNode(name);
    if (kinds.has('Node') || kinds.has('facts')) drawRoutes();
    if (kinds.has('Service') || kinds.has('Node')) drawServices();
    else if (kinds.has('EndpointSlice') || podsAppeared) drawEndpoints();
    if (state.NetworkPolicy.size || kinds.has('NetworkPolicy')) if (kinds.has('NetworkPolicy') || kinds.has('Pod') || kinds.has('Namespace')) drawPolicies();
  });
  // Measured in the page: from the watch event reaching the server to the frame that shows it.
  const received = batch.map((m) => ({ key: m.key, op: m.op, kind: m.kind, at: m.at }));
  if (!touched && !lines.dirty) {
    // Nothing drawn changed (a label the picture does not show): no frame will come; it is shown as it is.
    const now = Date.now();
    for (const r of received) ui.renders.push({ ...r, renderedAt: now, ms: now - r.at, drawn: false });
    return;
  }
  const shown = () => {
    const now = Date.now();
    for (const r of received) ui.renders.push({ ...r, renderedAt: now, ms: now - r.at });
    if (ui.renders.length > 5000) ui.renders.splice(0, ui.renders.length - 5000);
  };
  // Only lines changed: their layer's next draw shows it (cytoscape draws no frame for it).
  if (touched) cy.one('render', shown);
  else lines.onceDrawn(shown);
  touched = false;
  if (!fitted && cy.nodes().length) {
    fitted = true;
    fitAll(cy.nodes().map((n) => ({ group: 'nodes', position: n.position(), classes: n.classes().join(' '), data: n.data() })));
  }
}

/**
 * Fits the picture in the window from the geometry the page laid out itself (node boxes, services, pods
 * without a node), instead of cy.fit(), which measures every label and edge of the graph first. Takes the
 * element definitions about to be added, so the zoom (and with it the labels' stylesheet) is set before
 * the elements exist and they are styled once.
 */
function fitAll(defs) {
  const vp = fitViewport(defs);
  if (vp) cy.viewport(vp);
  syncLabels();
}

/** The viewport that fits these element definitions in the window, or undefined when there are none. */
function fitViewport(defs, pad = 30) {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  const take = (x, y, w, h) => {
    x1 = Math.min(x1, x - w / 2); x2 = Math.max(x2, x + w / 2);
    y1 = Math.min(y1, y - h / 2 - 20); y2 = Math.max(y2, y + h / 2);
  };
  for (const d of defs) {
    if (d.group !== 'nodes' || !d.position) continue;
    const { x, y } = d.position;
    if (/\bk8snode\b/.test(d.classes)) take(x, y, d.data.w, d.data.h);
    else if (/\bservice\b/.test(d.classes)) take(x, y, 190, 70);
    else if (!d.data.node) take(x, y, 130, 56);
  }
  if (x1 === Infinity) return undefined;
  const w = cy.width();
  const h = cy.height();
  const zoom = Math.max(cy.minZoom(), Math.min(cy.maxZoom(), (w - 2 * pad) / (x2 - x1), (h - 2 * pad) / (y2 - y1)));
  return { zoom, pan: { x: (w - zoom * (x1 + x2)) / 2, y: (h - zoom * (y1 + y2)) / 2 } };
}

/**
 * Where a first paint's time goes (performance.now(), ms since navigation): the script running, the stream
 * open, the snapshot in, parsed, the elements made, added, and the frame drawn. bench/ui.ts prints them.
 */
ui.marks = { script: performance.now() };

/** A task as soon as possible after the events already queued (a MessageChannel, not a 4 ms-clamped timer). */
const soon = (() => {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => flush();
  return () => ch.port2.postMessage(0);
})();

/** A snapshot on screen as its preview that cytoscape has not taken yet, or null. */
let loading = null;

/**
 * A snapshot replaces the picture: its elements are computed at once and drawn as a preview on the lines
 * layer's canvas (preview.js, a few ms), and cytoscape is given them in a task after that frame, so the frame
 * is on screen while cytoscape builds its caches for its own first frame (the larger part of a first paint);
 * that frame then replaces the preview. Events meanwhile wait in `pending` until cytoscape has the snapshot.
 */
function showSnapshot(msg, first) {
  for (const m of Object.values(state)) m.clear();
  for (const o of msg.objects) state[o.kind].set(o.key, o);
  for (const f of msg.facts) state.facts.set(f.node, f);
  // Events of a stream before this one: the snapshot has what they said.
  pending = [];
  if (!held) {
    cy.startBatch();
    held = true;
  }
  let defs;
  cy.batch(() => {
    cy.elements().remove();
    lines.clear();
    slots.clear();
    adding = new Map();
    try {
      redrawAll();
    } finally {
      defs = [...adding.values()];
      adding = null;
    }
  });
  if (first) ui.marks.built = performance.now();
  // The preview's viewport; cytoscape's is set when it takes the snapshot.
  const viewport = fitViewport(defs) ?? { zoom: cy.zoom(), pan: { ...cy.pan() } };
  fitted = true;
  const snap = (loading = { defs, viewport });
  lines.preview(previewScene(defs, [...BASE_STYLE, ...labelStyle(viewport.zoom)], viewport));
  lines.onceDrawn(() => {
    if (first) ui.firstPaintMs = ui.marks.preview = performance.now();
    // A task after this frame: cytoscape's first frame, drawn in the next one, cannot hold this one back.
    setTimeout(() => {
      // When the frame's own work (the canvas rasterised, the document painted) is done.
      if (first) ui.marks.shown = performance.now();
      takeOver(snap, first);
    }, 0);
  });
}

/** Cytoscape takes a previewed snapshot: all of it in one cy.add (one style and bounds pass), then one frame. */
function takeOver(snap, first) {
  if (loading !== snap) return;
  loading = null;
  cy.viewport(snap.viewport);
  syncLabels();
  cy.add(snap.defs.sort((a, b) => (a.group === 'edges') - (b.group === 'edges')));
  // The one style pass for all of it, and the frame.
  cy.endBatch();
  held = false;
  if (first) ui.marks.added = performance.now();
  cy.one('render', () => {
    // Cytoscape's frame is on its canvas above: the preview goes in the same task, so no frame shows both.
    lines.preview(undefined);
    lines.draw();
    if (first) ui.interactiveMs = ui.marks.painted = performance.now();
    ui.ready = true;
    document.body.dataset.ready = '1';
  });
  if (pending.length && !scheduled) {
    scheduled = true;
    soon();
  }
}

function connect() {
  // The stream the page's head opened (stream.js), with what it has kept so far.
  const stream = window.k8tsStream;
  const status = document.getElementById('status');
  if (stream.opened !== undefined) ui.marks.open = stream.opened;
  stream.onstatus = (st) => {
    if (st === 'open') ui.marks.open ??= performance.now();
    else status.textContent = 'reconnecting…';
  };
  const onmessage = (data, receivedAt) => {
    const first = ui.marks.snapshot === undefined;
    if (first) ui.marks.snapshot = receivedAt;
    const msg = JSON.parse(data);
    if (msg.op === 'snapshot') {
      if (first) ui.marks.parsed = performance.now();
      showSnapshot(msg, first);
      showCounts();
      return;
    }
    pending.push(msg);
    // Applied in the next task, not the next animation frame: the renderer draws in its own frame callback,
    // and changes made in ours would wait for the frame after (events already queued still share a batch).
    if (!scheduled) {
      scheduled = true;
      soon();
    }
    showCounts();
  };
  // Written only when it changes: any change to the document is a frame of the whole page (style, layout,
  // paint, and compositing cytoscape's canvases), 4–5 ms of Chromium's time per message for a change the
  // picture does not show.
  const showCounts = () => {
    const text = `live: ${state.Node.size} nodes, ${state.Pod.size} pods, ${state.Service.size} services`;
    if (status.textContent !== text) status.textContent = text;
  };
  stream.listen(onmessage);
}

// ---------- details ----------

const details = document.getElementById('details');

function section(title, lines) {
  const h = document.createElement('h3');
  h.textContent = title;
  const pre = document.createElement('pre');
  pre.textContent = Array.isArray(lines) ? lines.join('\n') || '(none)' : lines;
  details.append(h, pre);
}

function header(text) {
  details.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = text;
  details.append(h);
}

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.message ?? `HTTP ${r.status}`);
  return body;
}

/** nft map and set entries that mention one of these addresses. */
function mapLines(facts, ips) {
  const out = [];
  for (const m of facts.maps ?? []) for (const e of m.elements) if (ips.some((ip) => ip && new RegExp(`(^|[^0-9.])${ip.replace(/\./g, '\\.')}([^0-9]|$)`).test(e))) out.push(`${m.table} ${m.type} ${m.name}: ${e}`);
  return out;
}

let detailsSeq = 0;
async function showDetails(el) {
  const seq = ++detailsSeq;
  const ref = el.data('ref') ?? '';
  const [kind, ...rest] = ref.split('/');
  const key = rest.join('/');
  const stale = () => seq !== detailsSeq;
  try {
    if (kind === 'Pod' || kind === 'Veth') {
      const p = state.Pod.get(key);
      if (!p) return;
      header(`${kind === 'Veth' ? 'veth pair of pod' : 'Pod'} ${key}`);
      section('object', [`node ${p.node ?? '(unscheduled)'}`, `IP ${p.ip ?? '-'}`, `phase ${p.phase}${p.ready ? ', Ready' : ''}`,
        `labels ${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}`, ...p.containers.map((c) => `container ${c.name}: ${c.image} ${c.ports.join(' ')}`)]);
      if (!p.node) return;
      const f = await getJSON(`/api/facts?node=${encodeURIComponent(p.node)}&pod=${encodeURIComponent(key)}`);
      if (stale()) return;
      const pf = f.pod ?? {};
      section('pod side (in the pod\'s network namespace)', [`eth0 ${pf.eth0?.mac ?? '?'} mtu ${pf.eth0?.mtu ?? '?'} ${(pf.eth0?.addresses ?? []).join(' ')}`, `netns ${pf.netns}`]);
      section('pod routes', pf.routes ?? []);
      section('host side', pf.hostVeth ? [`${pf.hostVeth.name} (ifindex ${pf.hostVeth.index}) ${pf.hostVeth.mac} master ${pf.hostVeth.master ?? '-'} ${pf.hostVeth.state}`] : ['host veth not found']);
      section('nft entries for this pod', mapLines(f, [p.ip]));
    } else if (kind === 'Node' || kind === 'Bridge') {
      const n = state.Node.get(key);
      header(`${kind === 'Bridge' ? 'cbr0 on node' : 'Node'} ${key}`);
      if (n) section('object', [`InternalIP ${n.ip ?? '-'}`, `podCIDR ${n.podCIDR ?? '-'}`, `Ready ${n.ready}`]);
      const f = await getJSON(`/api/facts?node=${encodeURIComponent(key)}`);
      if (stale()) return;
      section('cbr0', f.bridge ? [`${f.bridge.name} ${f.bridge.mac ?? ''} ${f.bridge.addresses.join(' ')}`] : ['no bridge']);
      section('links', f.links.map((l) => `${l.name} ${l.kind ?? ''} ${l.mac ?? ''} mtu ${l.mtu} ${l.state ?? ''}${l.master ? ` master ${l.master}` : ''}`));
      section('routes', f.routes.map((r) => `${r.text}${r.k8ts ? '   ← k8ts' : ''}`));
      if (f.vxlan) section('VXLAN neighbours and FDB', [...f.vxlan.neighbours, ...f.vxlan.fdb]);
      section('nft maps and sets', f.maps.map((m) => `${m.table} ${m.type} ${m.name} (${m.elements.length})\n  ${m.elements.slice(0, 40).join('\n  ')}`));
      if (f.errors?.length) section('errors', f.errors);
    } else if (kind === 'Route') {
      const [a, b] = key.split('>');
      header(`route from ${a} to ${b}`);
      section('route', [el.data('text')]);
      const f = await getJSON(`/api/facts?node=${encodeURIComponent(a)}`);
      if (stale()) return;
      if (f.vxlan) section('VXLAN neighbours and FDB', [...f.vxlan.neighbours, ...f.vxlan.fdb]);
      section(`k8ts routes on ${a}`, f.routes.filter((r) => r.k8ts).map((r) => r.text));
    } else if (kind === 'Service' || kind === 'Endpoint') {
      const sk = kind === 'Endpoint' ? key.split('>')[0] : key;
      const s = state.Service.get(sk);
      if (!s) return;
      header(`Service ${sk}`);
      section('object', [`type ${s.type}`, `ClusterIP ${s.clusterIP ?? '-'}`, ...(s.ports ?? []).map((p) => `port ${p.port}/${p.protocol} → ${p.targetPort ?? p.port}${p.nodePort ? ` NodePort ${p.nodePort}` : ''}`),
        ...(s.lbIPs?.length ? [`LoadBalancer ${s.lbIPs.join(', ')}`] : []), `selector ${Object.entries(s.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}`]);
      const eps = [...state.EndpointSlice.values()].filter((x) => x.namespace === s.namespace && x.service === s.name).flatMap((x) => x.endpoints.map((e) => `${e.ip} ${e.ready ? 'ready' : 'not ready'} ${e.pod ?? ''} ${e.node ?? ''}`));
      section('endpoints', eps);
      const node = nodeOrder()[0];
      if (node) {
        const f = await getJSON(`/api/facts?node=${encodeURIComponent(node)}`);
        if (stale()) return;
        section(`nft entries on ${node}`, mapLines(f, [s.clusterIP, ...(s.lbIPs ?? [])]));
      }
    } else if (kind === 'NetworkPolicy') {
      const np = state.NetworkPolicy.get(key);
      header(`NetworkPolicy ${key}`);
      section('spec', JSON.stringify(np?.spec ?? {}, null, 2));
    }
  } catch (e) {
    if (!stale()) section('error', String(e.message ?? e));
  }
}

// ---------- trace ----------

const selection = [];
const tracebar = document.getElementById('tracebar');

function updateTracebar() {
  const [a, b] = selection;
  const ok = selection.length === 2 && a.startsWith('pod:') && (b.startsWith('pod:') || b.startsWith('svc:'));
  tracebar.classList.toggle('on', ok);
  if (!ok) return;
  document.getElementById('tracewhat').textContent = `${a.slice(4)} → ${b.startsWith('svc:') ? 'svc/' : ''}${b.slice(4)}`;
  const port = document.getElementById('port');
  if (b.startsWith('svc:')) port.value = state.Service.get(b.slice(4))?.ports?.[0]?.port ?? '';
  else port.value = (state.Pod.get(b.slice(4))?.containers?.[0]?.ports?.[0] ?? '').split('/')[0];
  document.getElementById('proto').value = port.value ? 'tcp' : 'icmp';
}

cy.on('select', 'node.pod, node.service', (e) => {
  selection.push(e.target.id());
  while (selection.length > 2) {
    const old = selection.shift();
    cy.getElementById(old).unselect();
  }
  updateTracebar();
});
cy.on('unselect', 'node.pod, node.service', (e) => {
  const i = selection.indexOf(e.target.id());
  if (i >= 0) selection.splice(i, 1);
  updateTracebar();
});
/** A line of the lines layer as showDetails reads an element. */
const lineElement = (l) => ({ data: (k) => l.data[k] });
cy.on('tap', (e) => {
  // A line lies on its node's box (or on the background): the line first, as when the lines were edges on top.
  if (e.target === cy || e.target.hasClass?.('k8snode')) {
    const l = lines.hit(e.position.x, e.position.y);
    if (l) return void showDetails(lineElement(l));
  }
  if (e.target !== cy) void showDetails(e.target);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Which drawn element a hop passes, from the hop's kind and the addresses its text names. */
function hopElement(nodeName, hop, i, res, src, dst) {
  const pods = [...state.Pod.values()];
  const podIn = (text) => pods.find((p) => p.ip && new RegExp(`(^|[^0-9.])${p.ip.replace(/\./g, '\\.')}([^0-9]|$)`).test(text));
  const here = (k) => state.Pod.get(k)?.node === nodeName;
  const local = dst.startsWith('pod:') && here(dst.slice(4)) ? dst.slice(4) : here(src.slice(4)) ? src.slice(4) : undefined;
  switch (hop.kind) {
    case 'pod': {
      const p = podIn(hop.text);
      return p ? `pod:${p.key}` : local ? `pod:${local}` : `node:${nodeName}`;
    }
    case 'veth': {
      const p = podIn(hop.text);
      return `veth:${p?.key ?? local}`;
    }
    case 'bridge':
      return `cbr0:${nodeName}`;
    case 'dnat': {
      const s = [...state.Service.values()].find((x) => x.clusterIP && hop.text.includes(x.clusterIP));
      return s ? `svc:${s.key}` : `node:${nodeName}`;
    }
    case 'route':
    case 'vxlan':
    case 'node-network':
    case 'verdict': {
      // Towards the next node: that route; on the last node, delivery through its bridge (or a drop at the pod).
      const next = res.nodes[i + 1]?.node;
      if (next) return `route:${nodeName}>${next}`;
      if (hop.kind === 'verdict') return local ? `pod:${local}` : `node:${nodeName}`;
      return `cbr0:${nodeName}`;
    }
    case 'arrive':
      return `node:${nodeName}`;
    case 'policy':
      return local ? `pod:${local}` : `node:${nodeName}`;
    default:
      return `node:${nodeName}`;
  }
}

/**
 * A line of the lines layer made a cytoscape edge while a trace lights it (drawn above the nodes, in the hop's
 * colour), and left out of the layer meanwhile; an empty collection when there is no such line.
 */
function lightLine(id) {
  const l = lines.get(id);
  if (!l || cy.getElementById(l.source).empty() || cy.getElementById(l.target).empty()) return cy.collection();
  lines.lit(id, true);
  return cy.add({ group: 'edges', data: { id, source: l.source, target: l.target, ...l.data }, classes: `${l.kind} lit` });
}

async function runTrace(src, dst, protocol, port) {
  const list = document.getElementById('trace');
  document.getElementById('trace-title').hidden = false;
  list.replaceChildren();
  cy.elements('.hop').removeClass('hop dropped');
  cy.edges('.lit').forEach((e) => lines.lit(e.id(), false));
  cy.remove(cy.edges('.lit'));
  const line = (text, cls) => {
    const li = document.createElement('li');
    li.textContent = text;
    if (cls) li.className = cls;
    list.append(li);
    return li;
  };
  const dstSpec = dst.startsWith('svc:') ? `svc/${dst.slice(4)}` : dst.slice(4);
  line(`tracing ${src.slice(4)} → ${dstSpec}${port ? `:${port}` : ''} (${protocol})…`);
  const q = new URLSearchParams({ src: src.slice(4), dst: `${dstSpec}${port ? `:${port}` : ''}`, protocol });
  let res;
  try {
    res = await getJSON(`/api/trace?${q}`);
  } catch (e) {
    line(`trace failed: ${e.message}`, 'drop');
    return;
  }
  list.replaceChildren();
  line(`trace ${res.src} → ${res.dst} (${res.protocol.toUpperCase()})`);
  const walked = [];
  for (let i = 0; i < res.nodes.length; i++) {
    const n = res.nodes[i];
    for (const hop of n.hops) {
      const id = hopElement(n.node, hop, i, res, src, dst);
      const bad = /\b(drop|dropped|denied|reject|DROP)\b/i.test(hop.text) && !/\bnot dropped\b/i.test(hop.text);
      const li = line(`${n.node}  ${hop.kind.padEnd(12)} ${hop.text}`, bad ? 'drop' : 'ok');
      li.dataset.node = n.node;
      li.dataset.kind = hop.kind;
      li.dataset.element = id;
      const el = cy.getElementById(id).nonempty() ? cy.getElementById(id) : lightLine(id);
      if (el.nonempty()) {
        el.addClass('hop');
        if (bad) el.addClass('dropped');
      }
      walked.push({ node: n.node, kind: hop.kind, text: hop.text, element: id, drawn: el.nonempty() });
      li.scrollIntoView({ block: 'nearest' });
      await sleep(250);
    }
    if (n.probe) line(`${n.node}  ${'probe'.padEnd(12)} ${n.probe.result} after ${n.probe.ms} ms`);
  }
  line(res.summary, `summary ${res.arrived ? 'ok' : 'drop'}`);
  ui.traces.push({ result: res, walked });
}

document.getElementById('trace-run').addEventListener('click', () => {
  if (selection.length !== 2) return;
  const port = document.getElementById('port').value;
  void runTrace(selection[0], selection[1], document.getElementById('proto').value, port);
});

ui.trace = runTrace;
connect();
