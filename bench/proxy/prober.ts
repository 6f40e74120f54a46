// A connection prober inside a pod's network namespace: told an IP, it tries ip:80 until a connection
// succeeds and reports when (epoch ms), for "until the rule works" measurements.
import { spawnProcess } from '../../src/util/exec.js';

/** A process in the client pod that tries ip:80 until a connection succeeds (giving up on an attempt after 10 ms:
 * a dropped SYN would otherwise wait for its retransmission); prints when. */
export function prober(pod: { netns: string }) {
  const src = `const net=require('net');const rl=require('readline').createInterface({input:process.stdin});
rl.on('line',ip=>{const go=()=>{const s=net.connect({host:ip,port:80});s.setTimeout(10);
s.on('connect',()=>{console.log(performance.timeOrigin+performance.now());s.destroy()});
s.on('error',()=>{s.destroy();setTimeout(go,0.5)});s.on('timeout',()=>{s.destroy();go()})};go()});`;
  const p = spawnProcess(['nsenter', `--net=${pod.netns}`, '--', process.execPath, '-e', src]);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  p.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    lines.push(...d.split('\n').filter(Boolean));
    wake?.();
  });
  return {
    async until(ip: string): Promise<number> {
      p.child.stdin!.write(ip + '\n');
      while (!lines.length) await new Promise<void>((r) => ((wake = r), setTimeout(r, 5000)));
      return Number(lines.shift());
    },
    stop: () => p.child.kill('SIGKILL'),
  };
}
