// Test and bench helpers for DNS: a small client over UDP and TCP, and Service/EndpointSlice objects.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { EndpointSlice, ObjectMeta, Service, ServiceSpec } from '../api/types.js';
import { CLASS_IN, decodeMessage, encodeMessage, type Edns, type Message } from './message.js';
import type { Endpoint } from './server.js';

export interface QueryOptions {
  tcp?: boolean;
  edns?: Partial<Edns> | false;
  id?: number;
  rd?: boolean;
  qclass?: number;
  timeoutMs?: number;
}

export function buildQuery(name: string, type: number, o: QueryOptions = {}): Buffer {
  const edns = o.edns === false || o.edns === undefined ? undefined : { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [], ...o.edns };
  return encodeMessage({
    header: { id: o.id ?? 0x1234, qr: false, opcode: 0, aa: false, tc: false, rd: o.rd ?? true, ra: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name, type, class: o.qclass ?? CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
    edns,
  });
}

/** Sends raw bytes over UDP; resolves with the reply, or undefined when none comes within the timeout. */
export function udpRaw(server: Endpoint, bytes: Uint8Array, timeoutMs = 1000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket(server.address.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(bytes, server.port, server.address);
  });
}

/** Sends framed messages over one TCP connection; resolves with the replies that came before it closed or went quiet. */
export function tcpRaw(server: Endpoint, frames: Uint8Array[], want = frames.length, timeoutMs = 2000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = connect(server.port, server.address);
    const out: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(timer);
      if (out.length) resolve(out);
      else reject(e);
    });
    s.on('close', done);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= want) done();
    });
    s.on('connect', () => {
      for (const f of frames) {
        const framed = Buffer.allocUnsafe(f.length + 2);
        framed.writeUInt16BE(f.length, 0);
        framed.set(f, 2);
        s.write(framed);
      }
    });
  });
}

/** One question, answered; throws when no reply comes. */
export async function ask(server: Endpoint, name: string, type: number, o: QueryOptions = {}): Promise<{ msg: Message; raw: Buffer }> {
  const q = buildQuery(name, type, o);
  const raw = o.tcp ? (await tcpRaw(server, [q], 1, o.timeoutMs))[0] : await udpRaw(server, q, o.timeoutMs);
  if (!raw) throw new Error(`no reply to ${name} type ${type} from ${server.address}:${server.port}`);
  return { msg: decodeMessage(raw), raw };
}

/** Like `dig +tcp` after TC: asks over UDP and again over TCP when the reply is truncated. */
export async function resolveLikeAStub(server: Endpoint, name: string, type: number, o: QueryOptions = {}): Promise<{ msg: Message; tcp: boolean }> {
  const udp = await ask(server, name, type, { ...o, tcp: false });
  if (!udp.msg.header.tc) return { msg: udp.msg, tcp: false };
  return { msg: (await ask(server, name, type, { ...o, tcp: true })).msg, tcp: true };
}

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: string;
}

export function service(ns: string, name: string, spec: ServiceSpec, extra: Partial<ObjectMeta> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, uid: `uid-${ns}-${name}`, resourceVersion: String(Math.random()), ...extra },
    spec,
  };
}

export interface EndpointSpec {
  ip: string;
  hostname?: string;
  ready?: boolean;
}

export function slice(ns: string, svc: string, name: string, endpoints: EndpointSpec[], ports: PortSpec[] = [], addressType = 'IPv4'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name, uid: `uid-${ns}-${name}`, resourceVersion: String(Math.random()), labels: { 'kubernetes.io/service-name': svc } },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
    })),
    ports,
  };
}
