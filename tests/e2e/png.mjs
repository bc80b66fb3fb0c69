// A small PNG decoder for the tests: 8-bit RGB/RGBA/gray, non-interlaced, filter types 0–4.
// Enough to read back what Chromium's canvas.toBlob('image/png') writes.
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 }; // colour type → samples per pixel

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Decodes a PNG file's bytes to { width, height, rgba } (alpha 255 where the file has none). */
export function decodePng(bytes) {
  const buf = Buffer.from(bytes);
  assert.ok(buf.subarray(0, 8).equals(SIGNATURE), 'not a PNG file');
  let header = null;
  const idat = [];
  for (let at = 8; at < buf.length;) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      header = {
        width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8], colorType: data[9], interlace: data[12],
      };
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  assert.ok(header, 'PNG has no IHDR');
  const { width, height, depth, colorType, interlace } = header;
  assert.equal(depth, 8, 'only 8-bit PNGs are supported');
  assert.equal(interlace, 0, 'interlaced PNGs are not supported');
  const channels = CHANNELS[colorType];
  assert.ok(channels, `unsupported PNG colour type ${colorType}`);

  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1), 'PNG image data has the wrong length');
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y += 1) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i += 1) {
      const left = i >= channels ? pixels[out + i - channels] : 0;
      const up = y > 0 ? pixels[out - stride + i] : 0;
      const upLeft = y > 0 && i >= channels ? pixels[out - stride + i - channels] : 0;
      let value = line[i];
      if (filter === 1) value += left;
      else if (filter === 2) value += up;
      else if (filter === 3) value += (left + up) >> 1;
      else if (filter === 4) value += paeth(left, up, upLeft);
      else assert.equal(filter, 0, `unknown PNG filter type ${filter}`);
      pixels[out + i] = value & 0xff;
    }
  }

  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p += 1) {
    const s = p * channels;
    const gray = channels <= 2;
    rgba[p * 4] = pixels[s];
    rgba[p * 4 + 1] = gray ? pixels[s] : pixels[s + 1];
    rgba[p * 4 + 2] = gray ? pixels[s] : pixels[s + 2];
    rgba[p * 4 + 3] = channels === 4 ? pixels[s + 3] : channels === 2 ? pixels[s + 1] : 255;
  }
  return { width, height, rgba };
}
