// web.test.js - the web page at / in a real browser: Debian's chromium
// driven by playwright-core (no browser download), against the real
// `imgpipe serve` on 127.0.0.1 with a temp data dir.  Run by run.sh
// (meson test --suite browser).  Every wait is a condition polled with a
// bounded deadline; nothing sleeps.
//
// Environment: IMGPIPE_BIN (the binary), IMGPIPE_CORPUS (../shared/corpus),
// IMGPIPE_TEST_SCREENSHOTS (where the screenshots go; printed),
// IMGPIPE_TEST_CHROMIUM (default /usr/bin/chromium).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.IMGPIPE_BIN;
const CORPUS = process.env.IMGPIPE_CORPUS;
const SHOTS = process.env.IMGPIPE_TEST_SCREENSHOTS ||
  fs.mkdtempSync(path.join(os.tmpdir(), 'imgpipe-browser-shots-'));
const CHROMIUM = process.env.IMGPIPE_TEST_CHROMIUM || '/usr/bin/chromium';
// A handful of the corpus's photos (JPEG with EXIF orientation, WebP), the
// quicker ones to process.
const PHOTOS = ['dragonfly.jpg', 'wine.jpg', 'sunset-exif6.jpg', 'life.webp'];
const DEADLINE_MS = 60000;

assert.ok(BIN && fs.existsSync(BIN), 'IMGPIPE_BIN must name the built imgpipe');
assert.ok(CORPUS && fs.existsSync(path.join(CORPUS, PHOTOS[0])), 'IMGPIPE_CORPUS must name the corpus');
fs.mkdirSync(SHOTS, { recursive: true });
console.log(`# screenshots: ${SHOTS}`);

// One `imgpipe serve` on 127.0.0.1:0 in its own temp data dir.
async function startServer(args = [], setup = () => {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgpipe-browser-'));
  const baseArgs = ['--data-dir', dir, ...args];
  setup(dir, baseArgs);
  const log = fs.openSync(path.join(dir, 'server.log'), 'a');
  const proc = spawn(BIN, ['serve', '--port', '0', '--log-level', 'info', ...baseArgs],
    { stdio: ['ignore', 'pipe', log] });
  const line = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30000);
    proc.stdout.on('data', (b) => {
      text += b;
      if (text.includes('\n')) { clearTimeout(timer); resolve(text.split('\n')[0]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ` +
      fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-2000))); });
  });
  const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
  assert.ok(m, `unexpected first line: ${line}`);
  const url = `http://127.0.0.1:${m[1]}`;
  return {
    url, dir,
    async stop() {
      const exited = new Promise((resolve) => proc.on('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function photo(name) { return path.join(CORPUS, name); }

// The records the API lists (every page), as a user's curl would see them.
async function listAll(server, headers = {}) {
  const out = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: '100' });
    if (cursor) q.set('cursor', cursor);
    const r = await fetch(`${server.url}/v1/images?${q}`, { headers });
    assert.equal(r.status, 200);
    const page = await r.json();
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

async function putPhoto(server, name, headers = {}) {
  const r = await fetch(`${server.url}/v1/images/${encodeURIComponent(name)}?wait=60`,
    { method: 'PUT', body: fs.readFileSync(photo(name)), headers });
  assert.equal(r.status, 201, `upload of ${name}: ${r.status}`);
  return r.json();
}

// Errors the page must never cause: script errors and CSP violations.
function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    // A refused request (401, 415...) is logged by the browser itself.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      errors.push('console: ' + m.text());
    }
  });
  return errors;
}

const doneStates = () => [...document.querySelectorAll('.upload')]
  .map((li) => li.dataset.state);

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM });
});
after(async () => { await browser?.close(); });

describe('keys off', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  test('the page and its files: types, ETag + 304, CSP, nosniff, HEAD', async () => {
    const r = await fetch(`${server.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
    assert.doesNotMatch(r.headers.get('content-security-policy'), /unsafe-inline/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const html = await r.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    const etag = r.headers.get('etag');
    const again = await fetch(`${server.url}/`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    const head = await fetch(`${server.url}/ui/app.js`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.match(head.headers.get('content-type'), /^text\/javascript/);
    assert.match(head.headers.get('cache-control'), /max-age=\d+/);
    assert.equal(await head.text(), '');
  });

  test('upload photos: progress reaches done, every thumbnail appears', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    // Upload at 4 MB/s so that the bytes take visible time.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4e6 });
    await page.goto(server.url + '/');
    await page.getByText('No images yet').waitFor({ timeout: DEADLINE_MS });
    // What a first load transfers: the page and its files, headers included.
    const loaded = await page.evaluate(() => [...performance.getEntriesByType('navigation'),
      ...performance.getEntriesByType('resource')]
      .map((e) => ({ path: new URL(e.name).pathname, bytes: e.transferSize }))
      .filter((e) => e.path === '/' || e.path.startsWith('/ui/')));
    const total = loaded.reduce((n, e) => n + e.bytes, 0);
    console.log(`# first load: ${total} bytes transferred: ` +
      loaded.map((e) => `${e.path} ${e.bytes}`).join(', '));
    assert.deepEqual([...new Set(loaded.map((e) => e.path))].sort(),
      ['/', '/ui/app.css', '/ui/app.js', '/ui/blurhash.js', '/ui/icon.svg']);
    assert.ok(total < 50000, `a first load stays small: ${total} bytes`);
    // Record every value each progress bar shows.
    await page.evaluate(() => {
      window.seen = {};
      setInterval(() => {
        for (const li of document.querySelectorAll('.upload')) {
          const name = li.querySelector('.name').textContent;
          (window.seen[name] ||= []).push(li.querySelector('progress').value);
        }
      }, 5);
    });
    await page.setInputFiles('#files', PHOTOS.map(photo));
    await page.waitForFunction((n) => {
      const s = [...document.querySelectorAll('.upload')].map((li) => li.dataset.state);
      return s.length === n && s.every((x) => x === 'done' || x === 'failed');
    }, PHOTOS.length, { timeout: DEADLINE_MS });
    const states = await page.evaluate(doneStates);
    assert.deepEqual(states, PHOTOS.map(() => 'done'));
    const seen = await page.evaluate(() => window.seen);
    for (const name of PHOTOS) {
      assert.equal(seen[name].at(-1), 100, `${name} ends at 100`);
    }
    const moved = PHOTOS.filter((n) => seen[n].some((v) => v > 0 && v < 100));
    assert.ok(moved.length > 0, `some bar shows a value between 0 and 100: ${JSON.stringify(seen)}`);
    // Every record the API lists has a tile whose thumbnail loaded.
    const records = await listAll(server);
    assert.equal(records.length, PHOTOS.length);
    await page.waitForFunction((n) => document.querySelectorAll(
      '#gallery li[data-loaded="1"] img').length === n, records.length, { timeout: DEADLINE_MS });
    const tiles = await page.$$eval('#gallery li', (lis) => lis.map((li) => ({
      id: li.dataset.id, alt: li.querySelector('img').alt,
      w: li.querySelector('img').naturalWidth,
    })));
    assert.deepEqual(tiles.map((t) => t.id), records.map((r) => r.id), 'newest first, as listed');
    for (const t of tiles) {
      const rec = records.find((r) => r.id === t.id);
      assert.equal(t.alt, rec.name);
      assert.equal(t.w, rec.variants.find((v) => v.name === 'thumb').width);
    }
    // Each tile's BlurHash was painted, and looks like its thumbnail (the
    // mean colours of the two are close).
    const looks = await page.evaluate(() => {
      const mean = (src) => {
        const c = document.createElement('canvas');
        c.width = c.height = 16;
        const g = c.getContext('2d');
        g.drawImage(src, 0, 0, 16, 16);
        const d = g.getImageData(0, 0, 16, 16).data;
        const m = [0, 0, 0];
        for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) m[k] += d[i + k] / 256;
        return m;
      };
      return [...document.querySelectorAll('#gallery li')].map((li) => ({
        painted: li.querySelector('.ph').dataset.painted,
        ph: mean(li.querySelector('.ph')), img: mean(li.querySelector('img')),
      }));
    });
    const fars = looks.map((l) => Math.max(...l.ph.map((v, k) => Math.abs(v - l.img[k]))));
    console.log(`# placeholder vs thumbnail, largest mean channel difference: ${fars.map(Math.round)}`);
    for (const [i, l] of looks.entries()) {
      assert.equal(l.painted, '1');
      assert.ok(fars[i] < 48, `placeholder ${l.ph} vs thumbnail ${l.img}`);
    }
    const announced = await page.textContent('[aria-live="polite"]');
    assert.match(announced, / done$/);
    await page.screenshot({ path: path.join(SHOTS, 'gallery-desktop.png') });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a dropped non-image shows the server\'s error message', async () => {
    const text = 'these are notes, not an image\n';
    const direct = await fetch(`${server.url}/v1/images/notes.txt`, { method: 'PUT', body: text });
    const { error } = await direct.json();
    assert.equal(direct.status, 415);
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url + '/');
    const dt = await page.evaluateHandle((t) => {
      const d = new DataTransfer();
      d.items.add(new File([t], 'notes.txt', { type: 'text/plain' }));
      return d;
    }, text);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    const item = page.locator('.upload', { hasText: 'notes.txt' });
    await item.and(page.locator('[data-state="failed"]')).waitFor({ timeout: DEADLINE_MS });
    assert.equal(await item.locator('.state').textContent(), 'failed: ' + error.message);
    assert.match(await page.textContent('[aria-live="polite"]'), /notes\.txt failed/);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('detail view by keyboard; delete removes the tile', async () => {
    const records = await listAll(server);
    const victim = records[0];
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page);
    await page.goto(server.url + '/');
    const tile = page.locator(`#gallery li[data-id="${victim.id}"] button`);
    await tile.waitFor({ timeout: DEADLINE_MS });
    await tile.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('#detail');
    await dialog.waitFor({ state: 'visible', timeout: DEADLINE_MS });
    assert.equal(await page.textContent('#detail-title'), victim.name);
    // Every variant with its dimensions, format and size, and a download link.
    for (const v of victim.variants) {
      // (a `has` locator is relative to the row: from the page, not the dialog)
      const link = page.getByRole('link', { name: `Download ${v.name}`, exact: true });
      const row = dialog.locator('tbody tr', { has: link });
      const cells = await row.locator('td').allTextContents();
      assert.equal(cells[0], `${v.width} × ${v.height}`);
      assert.equal(cells[1], v.format);
      assert.equal(await row.locator('a').getAttribute('href'), victim.links.variants[v.name]);
    }
    const fields = await dialog.locator('.fields dd').allTextContents();
    for (const want of [victim.sha256, victim.id, String(victim.attempts)]) {
      assert.ok(fields.includes(want), `the record shows ${want}`);
    }
    await dialog.locator('img.preview').evaluate((img) => img.decode());
    await page.screenshot({ path: path.join(SHOTS, 'detail.png') });
    // Escape closes it and gives the focus back to the tile.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden', timeout: DEADLINE_MS });
    assert.equal(await page.evaluate(() => document.activeElement.closest('li')?.dataset.id), victim.id);
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'visible', timeout: DEADLINE_MS });
    await page.click('#delete');
    await page.click('#delete-yes');
    await page.locator(`#gallery li[data-id="${victim.id}"]`).waitFor({ state: 'detached', timeout: DEADLINE_MS });
    const gone = await fetch(`${server.url}/v1/images/${victim.id}`);
    assert.equal(gone.status, 404);
    assert.equal(await page.locator('#gallery li').count(), records.length - 1);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('paging: the next page loads through the cursor as it scrolls into view', async () => {
    const records = await listAll(server);
    assert.ok(records.length >= 3, 'enough images for two pages of 2');
    const page = await browser.newPage({ viewport: { width: 360, height: 640 } });
    const errors = watchErrors(page);
    const lists = [];
    page.on('request', (rq) => {
      const u = new URL(rq.url());
      if (u.pathname === '/v1/images' && rq.method() === 'GET') lists.push(u.searchParams);
    });
    await page.goto(server.url + '/?limit=2');
    await page.locator('#gallery li').nth(records.length - 1).waitFor({ timeout: DEADLINE_MS });
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction(() => document.getElementById('more-button').hidden,
      null, { timeout: DEADLINE_MS });
    const ids = await page.$$eval('#gallery li', (lis) => lis.map((li) => li.dataset.id));
    assert.deepEqual(ids, records.map((r) => r.id));
    assert.ok(lists.length >= Math.ceil(records.length / 2), `one list per page: ${lists.length}`);
    assert.ok(lists.every((q) => q.get('limit') === '2'));
    assert.equal(lists[0].get('cursor'), null);
    assert.ok(lists.slice(1).every((q) => q.get('cursor')), 'later pages use the cursor');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForFunction(() => [...document.querySelectorAll('#gallery img')]
      .every((i) => i.complete && i.naturalWidth > 0), null, { timeout: DEADLINE_MS });
    await page.screenshot({ path: path.join(SHOTS, 'phone.png') });
    // Nothing is wider than the phone, the detail view included.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360));
    await page.locator('#gallery li button').first().click();
    const dialog = page.locator('#detail');
    await dialog.waitFor({ state: 'visible', timeout: DEADLINE_MS });
    await dialog.locator('img.preview').evaluate((img) => img.decode());
    const fits = await dialog.evaluate((d) => ({
      scroll: d.scrollWidth, client: d.clientWidth, right: d.getBoundingClientRect().right,
    }));
    assert.ok(fits.scroll <= fits.client && fits.right <= 360, JSON.stringify(fits));
    await page.screenshot({ path: path.join(SHOTS, 'detail-phone.png') });
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('keys on', () => {
  let server;
  let token;
  let seeded;
  before(async () => {
    server = await startServer(['--set', 'server.auth=on', '--set', 'auth.key_cache=0'],
      (dir, args) => {
        token = execFileSync(BIN, ['keys', 'create', '--scope', 'admin', '--name', 'browser', ...args],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
      });
    seeded = await putPhoto(server, 'wine.jpg', { Authorization: 'Bearer ' + token });
  });
  after(async () => { await server?.stop(); });

  test('the page asks for the key, then lists, shows and uploads with it', async () => {
    const noKey = await fetch(`${server.url}/v1/images`);
    assert.equal(noKey.status, 401);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = watchErrors(page);
    await page.goto(server.url + '/');
    const prompt = page.locator('#key-dialog');
    await prompt.waitFor({ state: 'visible', timeout: DEADLINE_MS });
    assert.equal(await page.textContent('#key-reason'), (await noKey.json()).error.message);
    await page.screenshot({ path: path.join(SHOTS, 'key-prompt.png') });
    // Put off, the prompt comes back with the upload that needs the key,
    // and the upload goes again once the key is in.
    await page.click('#key-cancel');
    await prompt.waitFor({ state: 'hidden', timeout: DEADLINE_MS });
    await page.setInputFiles('#files', [photo('life.webp')]);
    await prompt.waitFor({ state: 'visible', timeout: DEADLINE_MS });
    await page.locator('.upload[data-state="failed"]', { hasText: 'life.webp' })
      .waitFor({ timeout: DEADLINE_MS });
    await page.fill('#key-input', token);
    await page.press('#key-input', 'Enter');
    await prompt.waitFor({ state: 'hidden', timeout: DEADLINE_MS });
    // The variants need the key: the thumbnail is fetched with it into a blob: URL.
    const tile = page.locator(`#gallery li[data-id="${seeded.id}"][data-loaded="1"] img`);
    await tile.waitFor({ timeout: DEADLINE_MS });
    assert.match(await tile.getAttribute('src'), /^blob:/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('imgpipe.key')), token);
    await page.locator('.upload[data-state="done"]', { hasText: 'life.webp' })
      .waitFor({ timeout: DEADLINE_MS });
    // A download sends the key too: the bytes saved are the variant's.
    await page.locator(`#gallery li[data-id="${seeded.id}"] button`).click();
    const thumb = seeded.variants.find((v) => v.name === 'thumb');
    const [saved] = await Promise.all([
      page.waitForEvent('download', { timeout: DEADLINE_MS }),
      page.getByRole('link', { name: 'Download thumb', exact: true }).click(),
    ]);
    const bytes = fs.readFileSync(await saved.path());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), thumb.sha256);
    assert.equal(saved.suggestedFilename(), 'wine-thumb.jpg');
    await page.keyboard.press('Escape');
    await page.locator('#gallery li[data-loaded="1"]').nth(1).waitFor({ timeout: DEADLINE_MS });
    const records = await listAll(server, { Authorization: 'Bearer ' + token });
    assert.deepEqual(records.map((r) => r.name), ['life.webp', 'wine.jpg']);
    // A reload keeps the key for this tab: no prompt.
    await page.reload();
    await page.locator('#gallery li[data-loaded="1"]').nth(1).waitFor({ timeout: DEADLINE_MS });
    assert.equal(await prompt.isVisible(), false);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
