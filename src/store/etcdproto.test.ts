// The etcd messages checked against a second, independent reading of etcd's schema: protobufjs with the
// rpc.proto the etcd3 package ships (a dev dependency, kept for this and for the benchmark's comparison).
// Requests encoded here are decoded there, responses encoded there are decoded here, and mutated
// responses end in a ProtobufError or a result, never in anything else.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { ProtobufError } from '../util/protowire.js';
import {
  CompareResult,
  CompareTarget,
  decodeRange,
  decodeTxn,
  decodeWatch,
  encodeCompaction,
  encodeRange,
  encodeTxn,
  encodeWatchCreate,
  GRPC_PREFIX,
} from './etcdproto.js';

const require = createRequire(import.meta.url);
const root = protobuf.loadSync(require.resolve('etcd3/proto/rpc.proto'));
const type = (name: string) => root.lookupType(name);
// etcd3's copy of the schema spells the enums' names its own way (Put, Delete); numbers are compared.
const asObject = (t: protobuf.Type, b: Buffer) => t.toObject(t.decode(b), { longs: Number, enums: Number, bytes: String, defaults: false, oneofs: true });
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The message behind the gRPC prefix, with the prefix checked. */
function body(framed: Buffer): Buffer {
  assert.equal(framed[0], 0, 'not compressed');
  assert.equal(framed.readUInt32BE(1), framed.length - GRPC_PREFIX, 'length prefix');
  return framed.subarray(GRPC_PREFIX);
}

describe('etcd messages', () => {
  it('a guarded create: compare on create revision 0 (the oneof member written though 0), a put, a read on failure', () => {
    const key = Buffer.from('/k8ts/pods/default/a');
    const framed = encodeTxn({
      compare: [{ key, result: CompareResult.Equal, target: CompareTarget.Create, than: 0 }],
      success: [{ put: { key, value: { text: '{"ü":1}', encoding: 'utf8' }, prevKv: true } }],
      failure: [{ range: { key } }],
    });
    const got = asObject(type('etcdserverpb.TxnRequest'), body(framed));
    assert.deepEqual(got, {
      compare: [{ result: 0, target: 1, key: b64('/k8ts/pods/default/a'), createRevision: 0, targetUnion: 'createRevision' }],
      success: [{ requestPut: { key: b64('/k8ts/pods/default/a'), value: b64('{"ü":1}'), prevKv: true }, request: 'requestPut' }],
      failure: [{ requestRange: { key: b64('/k8ts/pods/default/a') }, request: 'requestRange' }],
    });
  });

  it('an update and a delete guard: version > 0 and mod revision equal; values in latin1 keep their bytes', () => {
    const key = Buffer.from('/k');
    const framed = encodeTxn({
      compare: [
        { key, result: CompareResult.Greater, target: CompareTarget.Version, than: 0 },
        { key, result: CompareResult.Equal, target: CompareTarget.Mod, than: 2 ** 40 },
      ],
      success: [{ deleteRange: { key, prevKv: true } }, { put: { key, value: { text: 'k8s:enc:\u00ff\u0000', encoding: 'latin1' } } }],
      failure: [],
    });
    const msg = type('etcdserverpb.TxnRequest').decode(body(framed)) as unknown as {
      compare: { result: number; target: number; version?: unknown; modRevision?: unknown; targetUnion: string }[];
      success: { requestDeleteRange?: { prevKv: boolean }; requestPut?: { value: Uint8Array } }[];
    };
    assert.equal(msg.compare[0].result, 1);
    assert.equal(msg.compare[0].targetUnion, 'version');
    assert.equal(Number(msg.compare[0].version), 0);
    assert.equal(msg.compare[1].target, 2);
    assert.equal(Number(msg.compare[1].modRevision), 2 ** 40);
    assert.equal(msg.success[0].requestDeleteRange?.prevKv, true);
    assert.deepEqual([...(msg.success[1].requestPut?.value ?? [])], [...Buffer.from('k8s:enc:\u00ff\u0000', 'latin1')]);
  });

  it('range, compaction and watch-create requests', () => {
    assert.deepEqual(
      asObject(type('etcdserverpb.RangeRequest'), body(encodeRange({ key: Buffer.from('/a/'), rangeEnd: Buffer.from('/a0'), limit: 500, revision: 7 }))),
      {
        key: b64('/a/'),
        rangeEnd: b64('/a0'),
        limit: 500,
        revision: 7,
      },
    );
    assert.deepEqual(asObject(type('etcdserverpb.RangeRequest'), body(encodeRange({ key: Buffer.from('/a/'), countOnly: true, revision: 0 }))), {
      key: b64('/a/'),
      countOnly: true,
    });
    assert.deepEqual(asObject(type('etcdserverpb.CompactionRequest'), body(encodeCompaction(99, true))), { revision: 99, physical: true });
    assert.deepEqual(
      asObject(
        type('etcdserverpb.WatchRequest'),
        body(encodeWatchCreate({ key: Buffer.from('/w/'), rangeEnd: Buffer.from('/w0'), startRevision: 12, prevKv: true })),
      ),
      { createRequest: { key: b64('/w/'), rangeEnd: b64('/w0'), startRevision: 12, prevKv: true }, requestUnion: 'createRequest' },
    );
  });

  const kv = (key: string, value: string, create: number, mod: number) => ({
    key: Buffer.from(key),
    value: Buffer.from(value),
    createRevision: create,
    modRevision: mod,
    version: 1,
    lease: 0,
  });
  const encode = (name: string, obj: Record<string, unknown>) => Buffer.from(type(name).encode(type(name).fromObject(obj)).finish());

  it('range responses: header revision, key-values, more and count', () => {
    const b = encode('etcdserverpb.RangeResponse', {
      header: { clusterId: 1, memberId: 2, revision: 2 ** 35, raftTerm: 3 },
      kvs: [kv('/p/a', '{"a":1}', 4, 5), kv('/p/b', 'ü', 6, 7)],
      more: true,
      count: 10,
    });
    const r = decodeRange(b);
    assert.equal(r.revision, 2 ** 35);
    assert.equal(r.more, true);
    assert.equal(r.count, 10);
    assert.deepEqual(
      r.kvs.map((k) => [k.key.toString(), k.value.toString(), k.createRevision, k.modRevision, k.version]),
      [
        ['/p/a', '{"a":1}', 4, 5, 1],
        ['/p/b', 'ü', 6, 7, 1],
      ],
    );
  });

  it('txn responses: succeeded, the put previous value, the deleted previous values, a failure read', () => {
    const r = decodeTxn(
      encode('etcdserverpb.TxnResponse', {
        header: { revision: 41 },
        succeeded: true,
        responses: [
          { responsePut: { header: { revision: 41 }, prevKv: kv('/x', 'old', 3, 40) } },
          { responseDeleteRange: { header: { revision: 41 }, deleted: 1, prevKvs: [kv('/y', 'gone', 8, 9)] } },
          { responseRange: { header: { revision: 41 }, kvs: [kv('/z', 'now', 1, 2)], count: 1 } },
        ],
      }),
    );
    assert.equal(r.revision, 41);
    assert.equal(r.succeeded, true);
    assert.equal(r.responses[0].put?.prevKv?.value.toString(), 'old');
    assert.equal(r.responses[0].put?.prevKv?.createRevision, 3);
    assert.equal(r.responses[1].deleteRange?.deleted, 1);
    assert.equal(r.responses[1].deleteRange?.prevKvs[0].key.toString(), '/y');
    assert.equal(r.responses[2].range?.kvs[0].modRevision, 2);
    const failed = decodeTxn(
      encode('etcdserverpb.TxnResponse', { header: { revision: 50 }, succeeded: false, responses: [{ responseRange: { header: {} } }] }),
    );
    assert.equal(failed.succeeded, false);
    assert.deepEqual(failed.responses[0].range?.kvs, []);
  });

  it('watch responses: created, events of both types with previous values, cancelled with a compact revision and reason', () => {
    const created = decodeWatch(encode('etcdserverpb.WatchResponse', { header: { revision: 5 }, watchId: 3, created: true }));
    assert.deepEqual([created.created, created.watchId, created.events.length], [true, 3, 0]);
    const ev = decodeWatch(
      encode('etcdserverpb.WatchResponse', {
        header: { revision: 9 },
        events: [
          { type: 0, kv: kv('/a', 'new', 1, 9), prevKv: kv('/a', 'old', 1, 8) },
          { type: 1, kv: { key: Buffer.from('/b'), modRevision: 9 }, prevKv: kv('/b', 'last', 2, 3) },
        ],
      }),
    );
    assert.deepEqual(
      ev.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.prevKv?.value.toString()]),
      [
        ['put', '/a', 9, 'old'],
        ['delete', '/b', 9, 'last'],
      ],
    );
    const cancelled = decodeWatch(
      encode('etcdserverpb.WatchResponse', { canceled: true, compactRevision: 77, cancelReason: 'mvcc: required revision has been compacted' }),
    );
    assert.deepEqual([cancelled.canceled, cancelled.compactRevision, cancelled.cancelReason], [true, 77, 'mvcc: required revision has been compacted']);
  });

  it('skips fields it does not know, and refuses an event type etcd does not have', () => {
    const known = encode('etcdserverpb.RangeResponse', { header: { revision: 3 }, count: 2 });
    // field 15 (varint) and field 16 (bytes) appended: a newer etcd may add fields
    const r = decodeRange(Buffer.concat([known, Buffer.from([0x78, 0x05, 0x82, 0x01, 0x02, 0x61, 0x62])]));
    assert.deepEqual([r.revision, r.count], [3, 2]);
    const bad = encode('etcdserverpb.WatchResponse', { events: [{ type: 0, kv: kv('/a', 'v', 1, 1) }] });
    // the event's type field (tag 0x08) is absent for PUT (proto3 default); put a 7 in front of its kv
    const evStart = bad.indexOf(0x5a) + 2; // field 11, then a one-byte length
    const mutated = Buffer.concat([bad.subarray(0, evStart - 1), Buffer.from([bad[evStart - 1] + 2, 0x08, 0x07]), bad.subarray(evStart)]);
    assert.throws(
      () => decodeWatch(mutated),
      (err: unknown) => err instanceof ProtobufError && /event type 7/.test(err.message),
    );
  });

  it('mutated responses decode or fail with ProtobufError, nothing else', () => {
    const samples = [
      encode('etcdserverpb.RangeResponse', {
        header: { revision: 9 },
        kvs: [kv('/p/a', '{"a":1}', 4, 5), kv('/p/b', 'x'.repeat(300), 6, 7)],
        more: true,
        count: 2,
      }),
      encode('etcdserverpb.TxnResponse', { header: { revision: 4 }, succeeded: true, responses: [{ responsePut: { prevKv: kv('/x', 'old', 3, 40) } }] }),
      encode('etcdserverpb.WatchResponse', { header: { revision: 9 }, events: [{ type: 1, kv: kv('/a', '', 1, 9), prevKv: kv('/a', 'old', 1, 8) }] }),
    ];
    const decoders = [decodeRange, decodeTxn, decodeWatch];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const which = i % samples.length;
      const b = Buffer.from(samples[which]);
      const op = rand(3);
      let m: Buffer;
      if (op === 0) {
        b[rand(b.length)] = rand(256);
        m = b;
      } else if (op === 1) {
        m = b.subarray(0, rand(b.length));
      } else {
        const at = rand(b.length);
        m = Buffer.concat([b.subarray(0, at), Buffer.from([rand(256), rand(256)]), b.subarray(at)]);
      }
      try {
        decoders[which](m);
      } catch (err) {
        assert.ok(err instanceof ProtobufError, `mutation ${i}: ${String(err)}`);
        refused++;
      }
    }
    assert.ok(refused > 100, `only ${refused} of 3000 mutations were refused: the mutations are too weak`);
  });
});
