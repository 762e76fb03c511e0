// env.test.js - the environment the stack gives each function is made of
// settings the binary accepts: `imgpipe config` (IMGPIPE_BIN, the built
// binary) runs with exactly that environment, exits 0, and prints every
// value back under its section and key.  Printing back also catches an
// IMGPIPE_* name that is no setting at all (config.c ignores names with
// no section prefix, so exit 0 alone would not).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { build, flat } = require('./helpers');

const BIN = process.env.IMGPIPE_BIN;
// Variants and watermark as an operator would pass them (-c variants=...).
const CONFIG = {
  variants: { thumb: { width: 160, format: 'webp' }, avif: { width: 480, height: 480, format: 'avif', quality: 50 } },
  watermark: { text: '© imgpipe', opacity: 0.4, position: 'south-west' },
};

// INI text -> {section: {key: value}}
function ini(text) {
  const out = {};
  let sec = null;
  for (const line of text.split('\n')) {
    const h = /^\[(.+)\]$/.exec(line);
    if (h) { sec = out[h[1]] = {}; continue; }
    const kv = /^([a-z_]+) = (.*)$/.exec(line);
    if (kv && sec) sec[kv[1]] = kv[2];
  }
  return out;
}

const { template } = build(CONFIG);
const functions = Object.entries(template.toJSON().Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');

for (const [id, fn] of functions) {
  test(`${id}: imgpipe config accepts its environment and prints it back`, () => {
  if (!BIN) assert.fail('IMGPIPE_BIN is not set (meson sets it)');
    // The table's name is a Ref: give it the value CloudFormation will.
    const env = flat(fn.Properties.Environment.Variables);
    for (const k of Object.keys(env)) env[k] = env[k].replace('<Table>', 'imgpipe');
    assert.ok(Object.keys(env).length >= 5);
    const r = spawnSync(BIN, ['config'], { env: { ...env, PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const cfg = ini(r.stdout);
    for (const [name, value] of Object.entries(env)) {
      assert.match(name, /^IMGPIPE_[A-Z0-9_]+$/);
      const lower = name.slice('IMGPIPE_'.length).toLowerCase();
      const hit = Object.keys(cfg).find((sec) => {
        const p = sec.replace('.', '_') + '_';
        return lower.startsWith(p) && lower.slice(p.length) in cfg[sec];
      });
      assert.ok(hit, `${name} is no setting imgpipe prints`);
      const key = lower.slice(hit.length + 1);
      assert.equal(cfg[hit][key], value, `${name} -> [${hit}] ${key}`);
    }
  });
}

test('imgpipe config refuses an unknown setting (the check above can fail)', () => {
  if (!BIN) assert.fail('IMGPIPE_BIN is not set (meson sets it)');
  const r = spawnSync(BIN, ['config'], { env: { IMGPIPE_STORAGE_BOGUS: '1' }, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /IMGPIPE_STORAGE_BOGUS/);
});
