// The page's many thin lines (each pod's veth to its node's cbr0, each Service's line to its ready endpoints)
// and the node boxes' fill behind them, drawn on one canvas under cytoscape's: one path and one stroke per kind,
// redrawn only when a line, an end or the viewport moved. Clicks on them are found from the same geometry.
// Until cytoscape has drawn a snapshot, the layer also shows that snapshot's preview (preview.js) above them.

/** How each kind of line looks (model units, as cytoscape's own edges were: width 1 at zoom 1). */
const LOOK = {
  veth: { color: '#3a73c4', width: 1 },
  endpoint: { color: '#b9a2e0', width: 1 },
};
const BOX_FILL = '#f9fafb';
const BACKGROUND = '#f6f7f9';
/** How near (in screen pixels) a click must land to a line to be on it. */
const HIT_PX = 4;

/**
 * cy: the cytoscape core whose nodes the lines join and whose viewport they follow; canvas: a canvas laid
 * exactly under cy's container. Returns the layer: set/remove lines by id, and hit() for clicks.
 */
export function linesLayer(cy, canvas) {
  /** id → { id, kind, source, target, data } (source and target: cytoscape node ids). */
  const lines = new Map();
  const ctx = canvas.getContext('2d', { alpha: false });
  let dirty = true;
  let frameAsked = false;
  let last = { zoom: NaN, x: NaN, y: NaN, w: 0, h: 0 };
  const drawnListeners = [];
  /** A snapshot's preview (preview.js) while cytoscape has not drawn it yet, or undefined. */
  let scene;

  const ask = () => {
    dirty = true;
    if (frameAsked) return;
    frameAsked = true;
    requestAnimationFrame(() => {
      frameAsked = false;
      draw();
    });
  };

  /** Matches the canvas to its box: read on a resize only (reading a layout size in every frame forces layout). */
  function size() {
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
      dirty = true;
    }
  }

  /** Draws the layer if anything it shows changed since the last time (cheap to call on every cytoscape frame). */
  function draw() {
    const { zoom, pan } = scene?.viewport ?? { zoom: cy.zoom(), pan: cy.pan() };
    if (!dirty && zoom === last.zoom && pan.x === last.x && pan.y === last.y) return;
    dirty = false;
    last = { zoom, x: pan.x, y: pan.y };
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(zoom, 0, 0, zoom, pan.x, pan.y);
    ctx.fillStyle = BOX_FILL;
    // The node boxes' fill (cytoscape keeps their border and label, above the lines, as before).
    for (const b of scene ? scene.boxes : cy.nodes('.k8snode').map((n) => ({ ...n.position(), w: n.data('w'), h: n.data('h') })))
      ctx.fillRect(b.x - b.w / 2, b.y - b.h / 2, b.w, b.h);
    // One path per kind: one stroke for 300 lines instead of one each.
    for (const [kind, look] of Object.entries(LOOK)) {
      ctx.beginPath();
      for (const l of lines.values()) {
        if (l.kind !== kind || l.lit) continue;
        const a = ends(l);
        if (!a) continue;
        ctx.moveTo(a[0], a[1]);
        ctx.lineTo(a[2], a[3]);
      }
      ctx.strokeStyle = look.color;
      ctx.lineWidth = look.width;
      ctx.stroke();
    }
    scene?.draw(ctx);
    for (const f of drawnListeners.splice(0)) f();
  }

  /** Where a node is: the preview's while there is one, else cytoscape's; undefined when neither has it. */
  function at(id) {
    const p = scene?.positions.get(id);
    if (p) return p;
    const n = cy.getElementById(id);
    return n.nonempty() ? n.position() : undefined;
  }

  /** A line's two ends (model coordinates), or undefined while either end is not drawn. */
  function ends(l) {
    const p = at(l.source);
    const q = at(l.target);
    return p && q ? [p.x, p.y, q.x, q.y] : undefined;
  }

  // Cytoscape draws its frame in its own animation-frame callback and then emits render: the lines follow in
  // the same task, so both canvases show the same frame. A moved node (dragged, or regridded) moves its lines.
  cy.on('render', draw);
  cy.on('position remove add', 'node', () => ask());
  cy.on('data', 'node.k8snode', () => ask());
  const resized = () => {
    size();
    ask();
  };
  cy.on('resize', resized);
  addEventListener('resize', resized);
  size();

  return {
    /** Adds or changes a line; true when something about it changed. */
    set(id, kind, source, target, data = {}) {
      const l = lines.get(id);
      if (l && l.kind === kind && l.source === source && l.target === target && l.data.ref === data.ref) return false;
      lines.set(id, { id, kind, source, target, data, lit: l?.lit ?? false });
      ask();
      return true;
    },
    remove(id) {
      if (lines.delete(id)) ask();
    },
    get: (id) => lines.get(id),
    has: (id) => lines.has(id),
    /** The ids of one kind's lines. */
    ids: (kind) => [...lines.values()].filter((l) => l.kind === kind).map((l) => l.id),
    clear() {
      lines.clear();
      ask();
    },
    /** Leaves a line out of this layer while cytoscape draws it lit (a trace's hop), or puts it back. */
    lit(id, on) {
      const l = lines.get(id);
      if (l && l.lit !== on) {
        l.lit = on;
        ask();
      }
    },
    /** Shows a snapshot's preview (preview.js's previewScene) until cytoscape draws it; undefined ends it. */
    preview(s) {
      scene = s;
      ask();
    },
    /** Whether a draw is pending (a change this layer will show in its next frame). */
    get dirty() {
      return dirty;
    },
    /** Calls f once after the next draw. */
    onceDrawn(f) {
      drawnListeners.push(f);
    },
    draw,
    /** The line under a model position (nearest within HIT_PX on the screen), or undefined. */
    hit(x, y) {
      const r = HIT_PX / cy.zoom();
      let best;
      let bestD = r * r;
      for (const l of lines.values()) {
        const a = ends(l);
        if (!a) continue;
        const d = dist2(x, y, a);
        if (d <= bestD) {
          bestD = d;
          best = l;
        }
      }
      return best;
    },
  };
}

/** Squared distance from (x, y) to the segment a = [x1, y1, x2, y2]. */
function dist2(x, y, [x1, y1, x2, y2]) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len = dx * dx + dy * dy;
  const t = len ? Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / len)) : 0;
  const px = x1 + t * dx - x;
  const py = y1 + t * dy - y;
  return px * px + py * py;
}
