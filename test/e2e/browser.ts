// Debian's chromium, headless, driven by playwright-core: a fresh profile per launch, nothing that phones
// home, and every request the page makes recorded so a test can prove none left the machine.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser test cannot run here, or false. In CI a missing chromium fails instead (see requireChromium). */
export const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;

export function requireChromium(): void {
  if (noChromium && process.env.K8TS_CI) throw new Error(`K8TS_CI: ${noChromium}`);
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Every URL the page asked for. */
  requests: string[];
  /** Requests to anywhere but 127.0.0.1, refused before they left. */
  outside: string[];
  close(): Promise<void>;
}

/**
 * intercept: false leaves out the request recording (every request otherwise goes through the test process
 * and back), for a benchmark timing the page rather than the harness.
 */
export async function launch(opts: { intercept?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'k8ts-chromium-'));
  let context: BrowserContext;
  try {
    // launchPersistentContext is how playwright takes a --user-data-dir: a fresh one per launch.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1600, height: 1000 },
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const requests: string[] = [];
  const outside: string[] = [];
  if (opts.intercept !== false)
    await context.route('**/*', (route) => {
      const url = route.request().url();
      requests.push(url);
      let host = '';
      try {
        host = new URL(url).hostname;
      } catch {
        // data: and blob: URLs have none and go nowhere.
      }
      if (/^(data|blob):/.test(url) || host === '127.0.0.1') return route.continue();
      outside.push(url);
      return route.abort('blockedbyclient');
    });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    requests,
    outside,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Polls f(arg) in the page until it returns something truthy. page.waitForFunction would compile its
 * poller from a string, which the page's Content-Security-Policy (no 'unsafe-eval') rightly refuses.
 */
export async function waitIn<A, R>(page: Page, f: (arg: A) => R, arg: A, what: string, timeoutMs = 10_000): Promise<R> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    // biome-ignore lint/suspicious/noExplicitAny: playwright types the function's argument as Unboxed<A>, which tsc cannot relate to a generic A.
    const v = (await page.evaluate(f as any, arg)) as R;
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
