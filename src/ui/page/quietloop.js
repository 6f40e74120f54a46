// Cytoscape draws from a requestAnimationFrame loop that asks for its next frame at the end of every
// frame, drawn or not, for as long as the page is open: an idle page runs a callback, and Chromium the
// frame pipeline behind it, 60 times a second. This lets that loop run while the renderer has frames to draw
// and for QUIET_AFTER_MS after the last one (its texture caches are filled in frames that draw nothing),
// then holds the loop's callback back until the renderer asks for a frame again. Every change cytoscape
// shows asks for one through its renderer's `redraw` (an element's data, class or position, the
// viewport, the stylesheet, a batch's end), which sets `requestedFrame`: that is where the loop is woken.

const QUIET_AFTER_MS = 2000;

/**
 * Call right before `cytoscape(...)`: the first callback the renderer asks a frame for while it starts is
 * its loop. Then `attach(cy)` once it is made.
 */
export function quietLoop() {
  const nativeRaf = window.requestAnimationFrame.bind(window);
  let loopFn;
  let catching = true;
  let held;
  let busyAt = performance.now();
  let requested = false;
  const stats = { held: 0, woken: 0 };
  window.requestAnimationFrame = (fn) => {
    if (catching) {
      loopFn ??= fn;
      return nativeRaf(fn);
    }
    if (fn === loopFn && !requested && performance.now() - busyAt > QUIET_AFTER_MS) {
      held = fn;
      stats.held++;
      return 0;
    }
    return nativeRaf(fn);
  };
  return {
    stats,
    /** Whether the loop is held now. */
    get quiet() {
      return held !== undefined;
    },
    attach(cy) {
      catching = false;
      const r = cy.renderer();
      requested = !!r.requestedFrame;
      Object.defineProperty(r, 'requestedFrame', {
        configurable: true,
        enumerable: true,
        get: () => requested,
        set: (v) => {
          requested = !!v;
          if (!requested) return;
          busyAt = performance.now();
          if (held) {
            const fn = held;
            held = undefined;
            stats.woken++;
            nativeRaf(fn);
          }
        },
      });
    },
  };
}
