// The first frame of a snapshot, drawn by the page itself on the lines layer's canvas from the element
// definitions about to be given to cytoscape, in cytoscape's look (read from the same stylesheet): boxes,
// shapes, borders, the route and policy edges and the labels the zoom shows. Cytoscape's own first frame of
// a 300-pod picture costs ~0.5 s or more (it renders each element into its texture caches); this one is a
// few milliseconds, so the picture is on screen while cytoscape builds its caches, and cytoscape's frame
// replaces it (same look) as soon as it is drawn.

const FONT_FAMILY = 'Helvetica Neue, Helvetica, sans-serif';
const LABEL_COLOR = '#000';

/** Whether one simple selector (`node`, `edge.route.guess`) matches a group and a set of classes. */
function matchesSimple(selector, group, classes) {
  const [tag, ...want] = selector.trim().split('.');
  if (tag !== group) return false;
  return want.every((c) => classes.has(c));
}

/**
 * The style elements of one group ('nodes' or 'edges') with these classes get from a stylesheet of
 * `{ selector, style }` rules, in order, reading only rules made of class selectors (`node.pod.Running`, lists
 * of them); state selectors (`:selected`) cannot match a snapshot's fresh elements and are skipped.
 * `data(field)` values are left for resolveData.
 */
function sheetStyle(sheet, group, classNames) {
  const tag = group === 'edges' ? 'edge' : 'node';
  const classes = new Set(classNames.split(/\s+/).filter(Boolean));
  const out = {};
  for (const rule of sheet) {
    if (rule.selector.includes(':')) continue;
    if (rule.selector.split(',').some((s) => matchesSimple(s, tag, classes))) Object.assign(out, rule.style);
  }
  return out;
}

/** A style with its `data(field)` values read from the element's data (a copy when there are any). */
function resolveData(style, data) {
  let out = style;
  for (const [k, v] of Object.entries(style)) {
    const m = typeof v === 'string' && /^data\((\w+)\)$/.exec(v);
    if (m) (out = out === style ? { ...style } : out)[k] = data[m[1]];
  }
  return out;
}

function shapePath(ctx, shape, x, y, w, h) {
  ctx.beginPath();
  if (shape === 'hexagon') {
    ctx.moveTo(x - w / 2, y);
    ctx.lineTo(x - w / 4, y - h / 2);
    ctx.lineTo(x + w / 4, y - h / 2);
    ctx.lineTo(x + w / 2, y);
    ctx.lineTo(x + w / 4, y + h / 2);
    ctx.lineTo(x - w / 4, y + h / 2);
    ctx.closePath();
  } else if (shape === 'round-rectangle') {
    ctx.roundRect(x - w / 2, y - h / 2, w, h, Math.min(w / 4, h / 4, 8));
  } else {
    ctx.rect(x - w / 2, y - h / 2, w, h);
  }
}

function drawLabel(ctx, text, s, x, y, h, angle = 0) {
  const size = Number(s['font-size'] ?? 16);
  ctx.font = `${s['font-weight'] === 'bold' ? 'bold ' : ''}${size}px ${FONT_FAMILY}`;
  const lines = String(text).split('\n');
  const lh = size * 1.2;
  const top = s['text-valign'] === 'top' ? y - h / 2 - lines.length * lh : y - (lines.length * lh) / 2;
  ctx.save();
  ctx.translate(x, y);
  ctx.rotate(angle);
  if (s['text-background-opacity']) {
    const w = Math.max(...lines.map((l) => ctx.measureText(l).width));
    ctx.globalAlpha = s['text-background-opacity'];
    ctx.fillStyle = s['text-background-color'] ?? '#fff';
    ctx.fillRect(-w / 2, top - y, w, lines.length * lh);
    ctx.globalAlpha = 1;
  }
  ctx.fillStyle = LABEL_COLOR;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  lines.forEach((l, i) => ctx.fillText(l, 0, top - y + (i + 0.5) * lh));
  ctx.restore();
}

/** Whether a point is inside a node's box (with its border), for clipping an edge at its ends. */
const inside = (n, x, y) => Math.abs(x - n.x) <= n.w / 2 && Math.abs(y - n.y) <= n.h / 2;

/**
 * The preview of one snapshot at a viewport ({zoom, pan}): `positions` (node id → {x, y}, for the lines layer's line ends until cytoscape
 * has the nodes) and `draw(ctx, zoom)`, which draws the elements in model coordinates on a context already
 * transformed to the viewport, in cytoscape's order (z-index: node boxes, edges, other nodes), labels last.
 */
export function previewScene(defs, sheet, viewport) {
  const nodes = new Map();
  const edges = [];
  // Most elements share a few sets of classes: each set's style is read once.
  const styles = new Map();
  for (const d of defs) {
    const shared = `${d.group} ${d.classes}`;
    if (!styles.has(shared)) styles.set(shared, sheetStyle(sheet, d.group, d.classes ?? ''));
    const s = resolveData(styles.get(shared), d.data);
    if (d.group === 'edges') edges.push({ d, s });
    else if (d.position) nodes.set(d.data.id, { d, s, x: d.position.x, y: d.position.y, w: Number(s.width ?? 30), h: Number(s.height ?? 30) });
  }
  const byZ = [...nodes.values()].sort((a, b) => (a.s['z-index'] ?? 0) - (b.s['z-index'] ?? 0));

  function drawNode(ctx, n) {
    const { s } = n;
    ctx.globalAlpha = s.opacity ?? 1;
    shapePath(ctx, s.shape, n.x, n.y, n.w, n.h);
    const fillOpacity = s['background-opacity'] ?? 1;
    if (fillOpacity > 0) {
      ctx.globalAlpha = (s.opacity ?? 1) * fillOpacity;
      ctx.fillStyle = s['background-color'] ?? '#999';
      ctx.fill();
      ctx.globalAlpha = s.opacity ?? 1;
    }
    const bw = Number(s['border-width'] ?? 0);
    if (bw > 0) {
      ctx.lineWidth = bw;
      ctx.strokeStyle = s['border-color'] ?? '#000';
      ctx.setLineDash(s['border-style'] === 'dashed' ? [6, 3] : []);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.globalAlpha = 1;
  }

  /**
   * An edge as a quadratic curve from centre to centre, cut at both boxes; an unbundled-bezier's curve passes
   * at its control-point distance from the chord's middle (its control point is twice as far).
   */
  function edgePoints(e) {
    const a = nodes.get(e.d.data.source);
    const b = nodes.get(e.d.data.target);
    if (!a || !b) return undefined;
    const bow = e.s['curve-style'] === 'unbundled-bezier' ? Number([].concat(e.s['control-point-distances'] ?? [0])[0]) : 0;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const cx = (a.x + b.x) / 2 - (dy / len) * 2 * bow;
    const cy = (a.y + b.y) / 2 + (dx / len) * 2 * bow;
    const pts = [];
    for (let i = 0; i <= 48; i++) {
      const t = i / 48;
      const x = (1 - t) * (1 - t) * a.x + 2 * (1 - t) * t * cx + t * t * b.x;
      const y = (1 - t) * (1 - t) * a.y + 2 * (1 - t) * t * cy + t * t * b.y;
      if (!inside(a, x, y) && !inside(b, x, y)) pts.push([x, y]);
    }
    return pts.length > 1 ? pts : undefined;
  }

  function drawEdge(ctx, e, pts) {
    const { s } = e;
    ctx.globalAlpha = s.opacity ?? 1;
    ctx.strokeStyle = s['line-color'] ?? '#999';
    ctx.lineWidth = Number(s.width ?? 1);
    ctx.setLineDash(s['line-style'] === 'dashed' ? [6, 3] : []);
    ctx.beginPath();
    ctx.moveTo(...pts[0]);
    for (const p of pts.slice(1)) ctx.lineTo(...p);
    ctx.stroke();
    ctx.setLineDash([]);
    if (s['target-arrow-shape'] === 'triangle') {
      const [x2, y2] = pts[pts.length - 1];
      const [x1, y1] = pts[pts.length - 2];
      const ang = Math.atan2(y2 - y1, x2 - x1);
      const size = 3 * Math.max(1, ctx.lineWidth) + 6;
      ctx.fillStyle = s['target-arrow-color'] ?? ctx.strokeStyle;
      ctx.beginPath();
      ctx.moveTo(x2, y2);
      ctx.lineTo(x2 - size * Math.cos(ang - 0.45), y2 - size * Math.sin(ang - 0.45));
      ctx.lineTo(x2 - size * Math.cos(ang + 0.45), y2 - size * Math.sin(ang + 0.45));
      ctx.closePath();
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  return {
    /** The viewport the preview is drawn at (cytoscape's is set when it takes the snapshot). */
    viewport,
    positions: new Map([...nodes].map(([id, n]) => [id, { x: n.x, y: n.y }])),
    /** The node boxes, whose fill the lines layer draws beneath its lines. */
    boxes: [...nodes.values()].filter((n) => /\bk8snode\b/.test(n.d.classes)).map(({ x, y, w, h }) => ({ x, y, w, h })),
    draw(ctx) {
      const behind = byZ.filter((n) => (n.s['z-index'] ?? 0) < 1);
      const front = byZ.filter((n) => (n.s['z-index'] ?? 0) >= 1);
      for (const n of behind) drawNode(ctx, n);
      const drawn = [];
      for (const e of edges) {
        const pts = edgePoints(e);
        if (pts) {
          drawEdge(ctx, e, pts);
          drawn.push([e, pts]);
        }
      }
      for (const n of front) drawNode(ctx, n);
      for (const n of byZ) if (n.s.label) drawLabel(ctx, n.s.label, n.s, n.x, n.y, n.h);
      for (const [e, pts] of drawn) {
        if (!e.s.label) continue;
        const [x, y] = pts[Math.floor(pts.length / 2)];
        const [x1, y1] = pts[0];
        const [x2, y2] = pts[pts.length - 1];
        let ang = Math.atan2(y2 - y1, x2 - x1);
        if (ang > Math.PI / 2 || ang < -Math.PI / 2) ang += Math.PI;
        drawLabel(ctx, e.s.label, e.s, x, y, 0, ang);
      }
    },
  };
}
