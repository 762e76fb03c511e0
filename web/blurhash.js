/* blurhash.js - decode a BlurHash (the record's "placeholder") into a
 * canvas: the sum of its cosine components, in linear light. */
'use strict';
const BlurHash = (() => {
  const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';
  const d83 = (s) => [...s].reduce((v, c) => {
    const i = DIGITS.indexOf(c);
    if (i < 0) throw new Error('not a BlurHash');
    return v * 83 + i;
  }, 0);
  const toLinear = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const toSrgb = (v) => {
    v = Math.max(0, Math.min(1, v));
    return Math.round(v <= 0.0031308 ? v * 12.92 * 255 : (1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255);
  };
  const signPow = (v, e) => Math.sign(v) * Math.pow(Math.abs(v), e);

  /* Paint hash into canvas (its width x height); false if it is not one. */
  function paint(hash, canvas) {
    try {
      const size = d83(hash[0]);
      const nx = (size % 9) + 1, ny = Math.floor(size / 9) + 1;
      if (hash.length !== 4 + 2 * nx * ny) return false;
      const max = (d83(hash[1]) + 1) / 166;
      const dc = d83(hash.slice(2, 6));
      const colours = [[toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]];
      for (let i = 1; i < nx * ny; i++) {
        const v = d83(hash.slice(4 + i * 2, 6 + i * 2));
        colours.push([Math.floor(v / 361), Math.floor(v / 19) % 19, v % 19]
          .map((q) => signPow((q - 9) / 9, 2) * max));
      }
      const w = canvas.width, h = canvas.height;
      const ctx = canvas.getContext('2d');
      const img = ctx.createImageData(w, h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const rgb = [0, 0, 0];
          for (let j = 0; j < ny; j++) {
            for (let i = 0; i < nx; i++) {
              const basis = Math.cos(Math.PI * x * i / w) * Math.cos(Math.PI * y * j / h);
              const c = colours[i + j * nx];
              for (let k = 0; k < 3; k++) rgb[k] += c[k] * basis;
            }
          }
          const o = 4 * (x + y * w);
          for (let k = 0; k < 3; k++) img.data[o + k] = toSrgb(rgb[k]);
          img.data[o + 3] = 255;
        }
      }
      ctx.putImageData(img, 0, 0);
      return true;
    } catch (e) {
      return false;
    }
  }
  return { paint };
})();
