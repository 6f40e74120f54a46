// etcd v3's messages on the wire, only the fields the store sends and reads. Field numbers are etcd's
// (etcdserverpb in api/etcdserverpb/rpc.proto, mvccpb in api/mvccpb/kv.proto); the encoding is the
// project's protobuf reader and writer. Every request is built with room for gRPC's 5-byte message prefix
// in front, so it goes to the wire as one buffer.
import { ProtoReader, ProtoWriter, ProtobufError, WireType } from '../util/protowire.js';

/** A key-value pair as etcd returns it; key and value are views into the response (no copy). */
export interface EtcdKv {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
}

export interface RangeRequest {
  key: Uint8Array;
  /** [key, rangeEnd); absent: the key alone. */
  rangeEnd?: Uint8Array;
  limit?: number;
  /** ≤ 0 or absent: the newest revision. */
  revision?: number;
  countOnly?: boolean;
}

export interface RangeResponse {
  revision: number;
  kvs: EtcdKv[];
  more: boolean;
  count: number;
}

/** Compare.CompareResult and Compare.CompareTarget, as etcd numbers them. */
export const CompareResult = { Equal: 0, Greater: 1, Less: 2, NotEqual: 3 } as const;
export const CompareTarget = { Version: 0, Create: 1, Mod: 2 } as const;

export interface Compare {
  key: Uint8Array;
  result: (typeof CompareResult)[keyof typeof CompareResult];
  target: (typeof CompareTarget)[keyof typeof CompareTarget];
  /** The number compared with: the key's version, create revision or mod revision, as target says. */
  than: number;
}

/** A value is JSON (UTF-8) or an encrypted envelope kept as raw bytes (latin1 in a string). */
export interface PutValue {
  text: string;
  encoding: 'utf8' | 'latin1';
}

export type RequestOp =
  | { range: { key: Uint8Array } }
  | { put: { key: Uint8Array; value: PutValue; prevKv?: boolean } }
  | { deleteRange: { key: Uint8Array; prevKv?: boolean } };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface ResponseOp {
  range?: RangeResponse;
  put?: { prevKv?: EtcdKv };
  deleteRange?: { deleted: number; prevKvs: EtcdKv[] };
}

export interface TxnResponse {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface WatchCreate {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  /** Inclusive; 0: from now. */
  startRevision: number;
  prevKv: boolean;
}

export interface WatchEventPb {
  type: 'put' | 'delete';
  kv: EtcdKv;
  prevKv?: EtcdKv;
}

export interface WatchResponse {
  revision: number;
  watchId: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  events: WatchEventPb[];
}

/** gRPC's message prefix: one flag byte (0: not compressed) and the length, big-endian. */
export const GRPC_PREFIX = 5;

function writer(): ProtoWriter {
  return new ProtoWriter(512).raw(new Uint8Array(GRPC_PREFIX));
}

/** The finished request with its gRPC prefix filled in. */
function framed(w: ProtoWriter): Buffer {
  const b = w.finish();
  b[0] = 0;
  b.writeUInt32BE(b.length - GRPC_PREFIX, 1);
  return b;
}

// ---- requests ----

function writeRange(w: ProtoWriter, r: RangeRequest): void {
  w.bytes(1, r.key);
  if (r.rangeEnd) w.bytes(2, r.rangeEnd);
  if (r.limit) w.int64(3, r.limit);
  if (r.revision && r.revision > 0) w.int64(4, r.revision);
  if (r.countOnly) w.bool(9, true);
}

export function encodeRange(r: RangeRequest): Buffer {
  const w = writer();
  writeRange(w, r);
  return framed(w);
}

function writeOp(w: ProtoWriter, op: RequestOp): void {
  if ('range' in op) {
    w.message(1, (m) => writeRange(m, op.range));
  } else if ('put' in op) {
    const p = op.put;
    w.message(2, (m) => {
      m.bytes(1, p.key);
      if (p.value.encoding === 'utf8') m.string(2, p.value.text);
      else m.bytes(2, Buffer.from(p.value.text, 'latin1'));
      if (p.prevKv) m.bool(4, true);
    });
  } else {
    const d = op.deleteRange;
    w.message(3, (m) => {
      m.bytes(1, d.key);
      if (d.prevKv) m.bool(3, true);
    });
  }
}

export function encodeTxn(t: TxnRequest): Buffer {
  const w = writer();
  for (const c of t.compare) {
    w.message(1, (m) => {
      m.int32(1, c.result);
      m.int32(2, c.target);
      m.bytes(3, c.key);
      // target_union is a oneof: its member is written even when 0, so etcd sees which one is set.
      m.int64(c.target === CompareTarget.Version ? 4 : c.target === CompareTarget.Create ? 5 : 6, c.than);
    });
  }
  for (const op of t.success) w.message(2, (m) => writeOp(m, op));
  for (const op of t.failure) w.message(3, (m) => writeOp(m, op));
  return framed(w);
}

export function encodeCompaction(revision: number, physical: boolean): Buffer {
  const w = writer().int64(1, revision);
  if (physical) w.bool(2, true);
  return framed(w);
}

export function encodeWatchCreate(c: WatchCreate): Buffer {
  const w = writer();
  w.message(1, (m) => {
    m.bytes(1, c.key);
    m.bytes(2, c.rangeEnd);
    if (c.startRevision > 0) m.int64(3, c.startRevision);
    if (c.prevKv) m.bool(6, true);
  });
  return framed(w);
}

// ---- responses ----

/** Reads every field of a message: `known` takes those it reads (and says so), the rest are skipped, as a
 *  newer etcd may send fields this one does not know. */
function eachField(r: ProtoReader, known: (tag: number, r: ProtoReader) => boolean): void {
  while (!r.done()) {
    const t = r.rawTag();
    if (!known(t, r)) r.skip(t & 7);
  }
}

const VARINT = WireType.Varint;
const BYTES = WireType.LengthDelimited;
/** The tag of field n with wire type w, as rawTag() returns it. */
const tag = (n: number, w: WireType) => (n << 3) | w;

/** ResponseHeader: only the revision (field 3) is used. */
function readHeaderRevision(r: ProtoReader): number {
  let revision = 0;
  eachField(r, (t) => {
    if (t !== tag(3, VARINT)) return false;
    revision = r.int64();
    return true;
  });
  return revision;
}

function readKv(r: ProtoReader, b: Buffer): EtcdKv {
  const kv: EtcdKv = { key: EMPTY, value: EMPTY, createRevision: 0, modRevision: 0, version: 0 };
  eachField(r, (t) => {
    if (t === tag(1, BYTES)) kv.key = view(b, r);
    else if (t === tag(2, VARINT)) kv.createRevision = r.int64();
    else if (t === tag(3, VARINT)) kv.modRevision = r.int64();
    else if (t === tag(4, VARINT)) kv.version = r.int64();
    else if (t === tag(5, BYTES)) kv.value = view(b, r);
    else return false;
    return true;
  });
  return kv;
}

const EMPTY = Buffer.alloc(0);

/** A length-delimited field's bytes as a Buffer view of the response. */
function view(b: Buffer, r: ProtoReader): Buffer {
  const n = r.length();
  const v = b.subarray(r.pos, r.pos + n);
  r.pos += n;
  return v;
}

function readRange(r: ProtoReader, b: Buffer): RangeResponse {
  const out: RangeResponse = { revision: 0, kvs: [], more: false, count: 0 };
  eachField(r, (t) => {
    if (t === tag(1, BYTES)) out.revision = readHeaderRevision(r.sub());
    else if (t === tag(2, BYTES)) out.kvs.push(readKv(r.sub(), b));
    else if (t === tag(3, VARINT)) out.more = r.bool();
    else if (t === tag(4, VARINT)) out.count = r.int64();
    else return false;
    return true;
  });
  return out;
}

export function decodeRange(b: Buffer): RangeResponse {
  return readRange(new ProtoReader(b), b);
}

function readResponseOp(r: ProtoReader, b: Buffer): ResponseOp {
  const out: ResponseOp = {};
  eachField(r, (t) => {
    if (t === tag(1, BYTES)) {
      out.range = readRange(r.sub(), b);
    } else if (t === tag(2, BYTES)) {
      const put: { prevKv?: EtcdKv } = {};
      const m = r.sub();
      eachField(m, (u) => {
        if (u !== tag(2, BYTES)) return false;
        put.prevKv = readKv(m.sub(), b);
        return true;
      });
      out.put = put;
    } else if (t === tag(3, BYTES)) {
      const del = { deleted: 0, prevKvs: [] as EtcdKv[] };
      const m = r.sub();
      eachField(m, (u) => {
        if (u === tag(2, VARINT)) del.deleted = m.int64();
        else if (u === tag(3, BYTES)) del.prevKvs.push(readKv(m.sub(), b));
        else return false;
        return true;
      });
      out.deleteRange = del;
    } else return false;
    return true;
  });
  return out;
}

export function decodeTxn(b: Buffer): TxnResponse {
  const r = new ProtoReader(b);
  const out: TxnResponse = { revision: 0, succeeded: false, responses: [] };
  eachField(r, (t) => {
    if (t === tag(1, BYTES)) out.revision = readHeaderRevision(r.sub());
    else if (t === tag(2, VARINT)) out.succeeded = r.bool();
    else if (t === tag(3, BYTES)) out.responses.push(readResponseOp(r.sub(), b));
    else return false;
    return true;
  });
  return out;
}

function readEvent(r: ProtoReader, b: Buffer): WatchEventPb {
  let type: 'put' | 'delete' = 'put';
  let kv: EtcdKv | undefined;
  let prevKv: EtcdKv | undefined;
  eachField(r, (t) => {
    if (t === tag(1, VARINT)) {
      const at = r.pos;
      const v = r.int32();
      if (v !== 0 && v !== 1) throw new ProtobufError('InvalidValue', `unknown event type ${v}`, at);
      type = v === 1 ? 'delete' : 'put';
    } else if (t === tag(2, BYTES)) kv = readKv(r.sub(), b);
    else if (t === tag(3, BYTES)) prevKv = readKv(r.sub(), b);
    else return false;
    return true;
  });
  if (!kv) throw new ProtobufError('InvalidValue', 'watch event without a key-value', r.pos);
  return prevKv ? { type, kv, prevKv } : { type, kv };
}

export function decodeWatch(b: Buffer): WatchResponse {
  const r = new ProtoReader(b);
  const out: WatchResponse = { revision: 0, watchId: 0, created: false, canceled: false, compactRevision: 0, cancelReason: '', events: [] };
  eachField(r, (t) => {
    if (t === tag(1, BYTES)) out.revision = readHeaderRevision(r.sub());
    else if (t === tag(2, VARINT)) out.watchId = r.int64();
    else if (t === tag(3, VARINT)) out.created = r.bool();
    else if (t === tag(4, VARINT)) out.canceled = r.bool();
    else if (t === tag(5, VARINT)) out.compactRevision = r.int64();
    else if (t === tag(6, BYTES)) out.cancelReason = r.string();
    else if (t === tag(11, BYTES)) out.events.push(readEvent(r.sub(), b));
    else return false;
    return true;
  });
  return out;
}
