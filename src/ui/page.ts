// The topology page's HTML: a drawing area, a details panel and a trace bar; everything else is the bundled
// script (src/ui/page/app.js, built by esbuild into dist/ui/app.js), served by the ui server itself, and a
// few lines that open the event stream before it.
export const pageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>k8ts — cluster topology</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/stream.js"></script>
<style>
  html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  #top { height: 36px; display: flex; align-items: center; gap: 12px; padding: 0 12px; background: #1d2330; color: #fff; }
  #top b { font-weight: 600; }
  #status { margin-left: auto; font-size: 12px; opacity: .85; }
  #main { position: absolute; top: 36px; bottom: 0; left: 0; right: 0; display: flex; }
  #stage { flex: 1; min-width: 0; position: relative; }
  #stage > * { position: absolute; top: 0; left: 0; width: 100%; height: 100%; }
  #side { width: 380px; border-left: 1px solid #d6d9df; background: #fff; overflow: auto; padding: 10px 12px; }
  #side h2 { font-size: 14px; margin: 8px 0 4px; }
  #side h3 { font-size: 12px; margin: 10px 0 2px; color: #555; text-transform: uppercase; letter-spacing: .04em; }
  #side pre { white-space: pre-wrap; word-break: break-all; font: 11px/1.35 ui-monospace, monospace; background: #f3f4f6; padding: 6px; margin: 2px 0; }
  #tracebar { display: none; gap: 6px; align-items: center; }
  #tracebar.on { display: flex; }
  #tracebar input { width: 60px; }
  #trace { list-style: none; padding: 0; margin: 4px 0; font: 11px/1.35 ui-monospace, monospace; }
  #trace li { padding: 2px 4px; border-left: 3px solid #9aa3b2; margin: 2px 0; }
  #trace li.ok { border-color: #2e9d5b; }
  #trace li.drop { border-color: #d64545; background: #fdecec; }
  #trace li.summary { font-weight: bold; }
  .hint { color: #667; font-size: 12px; }
</style>
</head>
<body>
<div id="top"><b>k8ts</b> cluster topology
  <span id="tracebar"><span id="tracewhat"></span>
    <select id="proto"><option>tcp</option><option>udp</option><option>icmp</option></select>
    <input id="port" type="number" min="1" max="65535" placeholder="port">
    <button id="trace-run">Trace</button></span>
  <span id="status">connecting…</span></div>
<div id="main"><div id="stage"><canvas id="lines"></canvas><div id="cy"></div></div>
  <div id="side"><p class="hint">Click anything for its details and kernel facts. Select two pods (or a pod, then a
  Service) with shift-click and press Trace to follow a packet hop by hop.</p>
  <div id="details"></div><h2 id="trace-title" hidden>Trace</h2><ol id="trace"></ol></div></div>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

/**
 * Run first, from the page's head: reads the event stream (server-sent events, with fetch: an EventSource
 * opened this early holds the page's load event back for as long as the stream lasts) and keeps the messages
 * until the page's script (loading and compiling cytoscape is the larger part of a first paint's wait) takes
 * them, so the snapshot's round trip and the server's work overlap with that instead of following it. A
 * stream that ends or fails is opened again after a second, as an EventSource would (the server starts each
 * with a fresh snapshot).
 */
export const streamJs = `'use strict';
(() => {
  const s = { queue: [], handler: undefined, onstatus: undefined, opened: undefined };
  const deliver = (data) => {
    const at = performance.now();
    if (s.handler) s.handler(data, at);
    else s.queue.push({ data, at });
  };
  s.listen = (handler) => {
    s.handler = handler;
    for (const m of s.queue.splice(0)) handler(m.data, m.at);
  };
  const open = async () => {
    try {
      const r = await fetch('/events', { cache: 'no-store' });
      if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
      if (s.opened === undefined) s.opened = performance.now();
      if (s.onstatus) s.onstatus('open');
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const from = Math.max(0, buf.length - 1);
        buf += value;
        let end = buf.indexOf('\\n\\n', from);
        while (end >= 0) {
          const lines = buf.slice(0, end).split('\\n');
          buf = buf.slice(end + 2);
          const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(l[5] === ' ' ? 6 : 5)).join('\\n');
          if (data) deliver(data);
          end = buf.indexOf('\\n\\n');
        }
      }
    } catch {
      // Closed or refused: opened again below.
    }
    if (s.onstatus) s.onstatus('reconnecting');
    setTimeout(open, 1000);
  };
  open();
  window.k8tsStream = s;
})();
`;
