/**
 * Snappy, LZ4 and zstd codecs for kafkajs, which ships only gzip.
 *
 * Every package here is a Node-API addon whose prebuilt binary for the platform comes from
 * the npm registry as an optional dependency: no install script, no download from elsewhere,
 * no C/C++ toolchain, the same binary for every Node version (Node-API is ABI-stable).
 *
 * - snappy (napi-rs, Rust `snap`): the most used native snappy binding, actively released.
 *   The Java client (Kafka 4.x `SnappyCompression`) writes snappy-java's `SnappyOutputStream`
 *   framing ("xerial" framing: an 8-byte magic, two int32 versions, then int32-length-prefixed
 *   raw snappy blocks of at most 32 KiB input) for every message format, record batches v2
 *   included, and reads both that and plain raw snappy (`SnappyInputStream` falls back to raw
 *   when the magic is missing). fleetsim writes the same xerial framing as the Java client and
 *   reads both forms. kafkajs-snappy was not used: it depends on a pure-JS snappy and has not
 *   been released for years.
 * - lz4-napi (napi-rs, Rust `lz4_flex`): has the LZ4 *frame* API Kafka needs (Kafka's LZ4 is
 *   the LZ4 frame format with independent blocks; lz4_flex's frame encoder uses independent
 *   blocks and no checksums by default, which the Java client's `Lz4BlockInputStream`
 *   accepts). kafkajs-lz4 was not used: it depends on `lz4`, a nan addon that must be
 *   compiled on install.
 * - @mongodb-js/zstd 1.x (napi-rs, Rust `zstd` over libzstd): the binding the MongoDB driver
 *   uses, with prebuilt binaries on npm. Its decompress streams the frame, so frames without
 *   a content size (what the Java client's streaming `ZstdOutputStream` writes) decode.
 *   Its 2.x+ line moved to prebuild-install, which downloads binaries from outside the npm
 *   registry or compiles libzstd with node-gyp; zstd-napi has the same problem;
 *   @kafkajs/zstd wraps the unmaintained cppzst addon.
 *
 * All three were checked against the Java client of the pinned Kafka version in both
 * directions (test/integration/compression.test.ts; docs/messages.md).
 */
import kafkajs from 'kafkajs';
import zstd from '@mongodb-js/zstd';
import lz4 from 'lz4-napi';
import snappy from 'snappy';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** What kafkajs expects of a codec: `compress` gets its Encoder, `decompress` a Buffer. */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** snappy-java's stream magic: 0x82 "SNAPPY" 0x00. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
/** Magic, then version 1 and minimum compatible version 1 (int32 big-endian each). */
const XERIAL_HEADER = Buffer.concat([XERIAL_MAGIC, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])]);
/** snappy-java's default block size (input bytes per block). */
const XERIAL_BLOCK = 32 * 1024;

/** Snappy with snappy-java's stream framing, as the Java client writes it. */
export async function snappyXerialCompress(data: Buffer): Promise<Buffer> {
  const blocks: Promise<Buffer>[] = [];
  for (let at = 0; at < data.length; at += XERIAL_BLOCK) {
    blocks.push(snappy.compress(data.subarray(at, at + XERIAL_BLOCK)));
  }
  const compressed = await Promise.all(blocks);
  const parts: Buffer[] = [XERIAL_HEADER];
  for (const block of compressed) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(block.length);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/** Decodes snappy-java stream framing, or plain raw snappy when the magic is absent. */
export async function snappyDecompress(data: Buffer): Promise<Buffer> {
  if (data.length < XERIAL_HEADER.length || !data.subarray(0, 8).equals(XERIAL_MAGIC)) {
    return (await snappy.uncompress(data, { asBuffer: true })) as Buffer;
  }
  const blocks: Promise<string | Buffer>[] = [];
  let at = XERIAL_HEADER.length;
  while (at < data.length) {
    if (at + 4 > data.length) throw new Error('snappy: truncated xerial block length');
    const length = data.readUInt32BE(at);
    at += 4;
    if (at + length > data.length) throw new Error('snappy: truncated xerial block');
    blocks.push(snappy.uncompress(data.subarray(at, at + length), { asBuffer: true }));
    at += length;
  }
  return Buffer.concat((await Promise.all(blocks)) as Buffer[]);
}

export const snappyCodec: KafkaCodec = {
  compress: (encoder) => snappyXerialCompress(encoder.buffer),
  decompress: snappyDecompress,
};

export const lz4Codec: KafkaCodec = {
  compress: (encoder) => lz4.compressFrame(encoder.buffer),
  decompress: (buffer) => lz4.decompressFrame(buffer),
};

/** The Java client's default zstd level (compression.zstd.level). */
const ZSTD_LEVEL = 3;

export const zstdCodec: KafkaCodec = {
  compress: (encoder) => zstd.compress(encoder.buffer, ZSTD_LEVEL),
  decompress: (buffer) => zstd.decompress(buffer),
};

let registered = false;

/** Registers snappy, lz4 and zstd in kafkajs's codec table (idempotent). */
export function registerCompressionCodecs(): void {
  if (registered) return;
  const codecs = CompressionCodecs as Record<number, () => KafkaCodec>;
  codecs[CompressionTypes.Snappy] = () => snappyCodec;
  codecs[CompressionTypes.LZ4] = () => lz4Codec;
  codecs[CompressionTypes.ZSTD] = () => zstdCodec;
  registered = true;
}
