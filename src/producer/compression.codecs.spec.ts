import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import lz4 from 'lz4-napi';
import snappy from 'snappy';
import { Rng } from '../model/random.js';
import {
  lz4Codec,
  registerCompressionCodecs,
  snappyCodec,
  snappyDecompress,
  snappyXerialCompress,
  zstdCodec,
} from './compression.codecs.js';
import { compressionType } from './kafka.sender.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

function randomBytes(n: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng.next() * 256);
  return out;
}

const json = (n: number) =>
  Buffer.from(
    Array.from(
      { length: n },
      (_, i) =>
        `{"deviceId":"plant-a.b1.f2.r3.d${i}","seq":${i},"readings":{"temperature":2${i % 10}.5}}`,
    ).join(''),
  );

/** Inputs every codec must round-trip: empty, tiny, many blocks, incompressible, mixed. */
const SAMPLES: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([0x2a])],
  ['JSON, several 32 KiB blocks', json(2000)],
  ['incompressible 100 KiB', randomBytes(100 * 1024, 1)],
  ['mixed 300 KiB', Buffer.concat([json(1500), randomBytes(70_000, 2), json(1500)])],
];

const CODECS = [
  ['snappy', snappyCodec],
  ['lz4', lz4Codec],
  ['zstd', zstdCodec],
] as const;

for (const [name, codec] of CODECS) {
  void test(`${name} round-trips every sample through kafkajs's codec interface`, async () => {
    for (const [what, data] of SAMPLES) {
      const compressed = await codec.compress({ buffer: data });
      assert.ok(Buffer.isBuffer(compressed), `${what}: compress gives a Buffer`);
      const back = await codec.decompress(compressed);
      assert.ok(back.equals(data), `${name} ${what}: ${back.length} bytes back of ${data.length}`);
      if (what.startsWith('JSON')) {
        assert.ok(compressed.length < data.length / 3, `${name} compresses JSON`);
      }
    }
  });
}

void test('snappy writes snappy-java stream framing, as the Java client does', async () => {
  const data = json(2000);
  const framed = await snappyXerialCompress(data);
  // 0x82 "SNAPPY" 0x00, version 1, compatible version 1 (int32 big-endian).
  assert.equal(framed.subarray(0, 16).toString('hex'), '82534e41505059000000000100000001');
  // Blocks of at most 32 KiB of input, each prefixed by its compressed length.
  let at = 16;
  let blocks = 0;
  let plain = 0;
  while (at < framed.length) {
    const length = framed.readUInt32BE(at);
    const block = snappy.uncompressSync(framed.subarray(at + 4, at + 4 + length)) as Buffer;
    assert.ok(block.length <= 32 * 1024);
    plain += block.length;
    at += 4 + length;
    blocks++;
  }
  assert.equal(at, framed.length);
  assert.equal(plain, data.length);
  assert.equal(blocks, Math.ceil(data.length / (32 * 1024)));
});

void test('snappy also reads raw snappy (what librdkafka and kafkajs-snappy write)', async () => {
  for (const [what, data] of SAMPLES) {
    const raw = snappy.compressSync(data);
    assert.ok((await snappyDecompress(raw)).equals(data), what);
  }
});

void test('snappy refuses truncated framing', async () => {
  const framed = await snappyXerialCompress(json(2000));
  await assert.rejects(snappyDecompress(framed.subarray(0, framed.length - 10)), /truncated/);
  await assert.rejects(snappyDecompress(framed.subarray(0, 18)), /truncated/);
});

void test('lz4 writes the LZ4 frame format with independent blocks', async () => {
  const frame = await lz4Codec.compress({ buffer: json(2000) });
  assert.equal(frame.readUInt32LE(0), 0x184d2204, 'LZ4 frame magic');
  const flg = frame[4];
  assert.equal(flg >> 6, 1, 'frame version 01');
  assert.equal((flg >> 5) & 1, 1, 'block independence, which Kafka requires');
  // And it reads frames from another encoder (with block checksums and a content checksum).
  const other = lz4.compressFrameSync(json(500), { blockChecksums: true, contentChecksum: true });
  assert.ok((await lz4Codec.decompress(other)).equals(json(500)));
});

void test('zstd writes standard zstd frames', async () => {
  const frame = await zstdCodec.compress({ buffer: json(100) });
  assert.equal(frame.readUInt32LE(0), 0xfd2fb528, 'zstd frame magic');
});

void test('every configured compression has a working codec in kafkajs', () => {
  registerCompressionCodecs(); // idempotent: the sender module already did
  for (const name of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
    assert.equal(typeof compressionType(name), 'number', name);
  }
  assert.equal(compressionType('snappy'), CompressionTypes.Snappy);
  const codecs = CompressionCodecs as Record<number, () => unknown>;
  assert.equal(codecs[CompressionTypes.Snappy](), snappyCodec);
  assert.equal(codecs[CompressionTypes.LZ4](), lz4Codec);
  assert.equal(codecs[CompressionTypes.ZSTD](), zstdCodec);
});

void test("compressionType refuses a codec that is only kafkajs's placeholder", () => {
  const codecs = CompressionCodecs as Record<number, () => unknown>;
  const registered = codecs[CompressionTypes.ZSTD];
  codecs[CompressionTypes.ZSTD] = () => {
    throw new Error('ZSTD compression not implemented');
  };
  try {
    assert.throws(() => compressionType('zstd'), /compression "zstd" has no codec registered/);
  } finally {
    codecs[CompressionTypes.ZSTD] = registered;
  }
});
