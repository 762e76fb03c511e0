/* app.js - the imgpipe web page: uploads with progress, the gallery
 * (newest first, paged by the list's cursor), the detail view, API keys.
 * Speaks only the /v1 API of docs/API.md; no framework, no build step. */
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = 'imgpipe.key';
  const UPLOAD_SLOTS = 3; /* uploads at once */
  const WAIT_SLOTS = 2; /* ?wait= requests at once (each holds a connection) */
  const WAIT_S = 10;
  const limitParam = Number.parseInt(new URLSearchParams(location.search).get('limit'), 10);
  const PAGE = limitParam >= 1 && limitParam <= 100 ? limitParam : 24;

  const state = {
    key: sessionStorage.getItem(KEY_STORE) || '',
    publicBytes: null, /* are variants readable without a key? null: unknown */
    cursor: undefined, /* undefined: first page not loaded; null: no more */
    loading: false,
    tiles: new Map(), /* id -> {li, rec, blobs[]} */
    uploads: [], waits: [], activeUploads: 0, activeWaits: 0,
    detailId: null,
  };

  /* ---- the API ---- */
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  const authHeaders = () => (state.key ? { Authorization: 'Bearer ' + state.key } : {});
  const errorMessage = (status, body) =>
    (body && body.error && body.error.message) || `HTTP ${status}`;

  async function api(method, path) {
    let r;
    try {
      r = await fetch(path, { method, headers: authHeaders(), cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'the server does not answer');
    }
    const body = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) {
      const err = new ApiError(r.status, errorMessage(r.status, body));
      if (r.status === 401) askKey(err.message);
      throw err;
    }
    return body;
  }

  /* A URL an <img> can show: the URL itself when no key is needed, else
   * the bytes fetched with the key, as a blob: URL (owner revokes it). */
  async function imageUrl(url, blobs) {
    if (!state.key || state.publicBytes) return url;
    if (state.publicBytes === null) {
      const probe = await fetch(url);
      if (probe.ok) { state.publicBytes = true; return url; }
      if (probe.status !== 401) throw new ApiError(probe.status, 'image not available');
      state.publicBytes = false;
    }
    const r = await fetch(url, { headers: authHeaders() });
    if (!r.ok) {
      if (r.status === 401) askKey(errorMessage(401, await r.json().catch(() => null)));
      throw new ApiError(r.status, 'image not available');
    }
    const blobUrl = URL.createObjectURL(await r.blob());
    blobs.push(blobUrl);
    return blobUrl;
  }

  /* ---- small helpers ---- */
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  function announce(text) { $('live').textContent = text; }
  function formatBytes(n) {
    if (n == null) return '–';
    const units = ['B', 'KB', 'MB', 'GB'];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }
  function thumbOf(rec) {
    const vs = rec.variants || [];
    const v = vs.find((x) => x.name === 'thumb') ||
      vs.slice().sort((a, b) => a.width - b.width)[0];
    return v ? rec.links.variants[v.name] : null;
  }
  function previewOf(rec) {
    const vs = (rec.variants || []).filter((v) => v.width <= 1000).sort((a, b) => b.width - a.width);
    return vs.length ? rec.links.variants[vs[0].name] : thumbOf(rec);
  }

  /* ---- API key ---- */
  function showKeyState() {
    $('key-button').textContent = state.key ? 'API key: set' : 'API key: none';
  }
  function askKey(reason) {
    const d = $('key-dialog');
    $('key-reason').textContent = reason || '';
    if (!d.open) d.showModal();
    $('key-input').focus();
  }
  function setKey(key) {
    state.key = key;
    state.publicBytes = null;
    if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
    showKeyState();
    $('key-dialog').close();
    resetGallery();
    for (const it of document.querySelectorAll('.upload[data-state="failed"][data-needs-key]')) {
      retryUpload(it);
    }
    for (const it of document.querySelectorAll('.upload[data-waits-for-key]')) {
      delete it.dataset.waitsForKey;
      state.waits.push(it);
    }
    pumpWaits();
  }

  /* ---- uploads ---- */
  function addFiles(files) {
    for (const file of files) {
      const progress = el('progress', { max: 100, value: 0 });
      progress.setAttribute('aria-label', 'Upload of ' + file.name);
      const li = el('li', { className: 'upload' },
        el('span', { className: 'name', textContent: file.name }), progress,
        el('span', { className: 'state', textContent: 'queued' }));
      li.dataset.state = 'queued';
      li.file = file;
      $('uploads').prepend(li);
      state.uploads.push(li);
    }
    pumpUploads();
  }
  function setUpload(li, st, text) {
    li.dataset.state = st;
    li.querySelector('.state').textContent = text || st;
  }
  function pumpUploads() {
    while (state.activeUploads < UPLOAD_SLOTS && state.uploads.length) {
      const li = state.uploads.shift();
      state.activeUploads++;
      upload(li).finally(() => { state.activeUploads--; pumpUploads(); });
    }
  }
  function retryUpload(li) {
    delete li.dataset.needsKey;
    li.querySelector('progress').value = 0;
    setUpload(li, 'queued');
    state.uploads.push(li);
    pumpUploads();
  }
  function upload(li) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const bar = li.querySelector('progress');
      xhr.open('PUT', '/v1/images/' + encodeURIComponent(li.file.name || 'image'));
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
      };
      setUpload(li, 'uploading');
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        const after = Number.parseInt(xhr.getResponseHeader('Retry-After'), 10);
        if ((xhr.status === 201 || xhr.status === 202) && body && body.id) {
          bar.value = 100;
          accepted(li, body);
        } else if (xhr.status === 429 && after >= 0 && (li.retries = (li.retries || 0) + 1) <= 5) {
          /* Back-pressure: the server says when to come back. */
          bar.value = 0;
          setUpload(li, 'queued', `server busy: again in ${after} s`);
          setTimeout(() => { state.uploads.push(li); pumpUploads(); }, after * 1000);
        } else {
          const msg = errorMessage(xhr.status, body);
          if (xhr.status === 401) { li.dataset.needsKey = '1'; askKey(msg); }
          failed(li, msg);
        }
        resolve();
      };
      xhr.onerror = () => { failed(li, 'the upload did not reach the server'); resolve(); };
      xhr.send(li.file);
    });
  }
  function failed(li, msg) {
    setUpload(li, 'failed', 'failed: ' + msg);
    announce(li.file.name + ' failed: ' + msg);
  }
  function showRecord(li, rec) {
    if (rec.status === 'failed') failed(li, rec.error || 'processing failed');
    else setUpload(li, rec.status);
    if (rec.status === 'done') announce(li.file.name + ' done');
  }
  function accepted(li, rec) {
    li.dataset.id = rec.id;
    showRecord(li, rec);
    upsertTile(rec, true);
    if (rec.status === 'pending' || rec.status === 'processing') {
      state.waits.push(li);
      pumpWaits();
    }
  }
  function pumpWaits() {
    while (state.activeWaits < WAIT_SLOTS && state.waits.length) {
      const li = state.waits.shift();
      state.activeWaits++;
      waitFor(li).finally(() => { state.activeWaits--; pumpWaits(); });
    }
  }
  async function waitFor(li) {
    try {
      const rec = await api('GET', `/v1/images/${li.dataset.id}?wait=${WAIT_S}`);
      showRecord(li, rec);
      upsertTile(rec, true);
      if (rec.status === 'pending' || rec.status === 'processing') state.waits.push(li);
    } catch (e) {
      if (e.status === 404) failed(li, 'the image was deleted');
      else if (e.status === 401) li.dataset.waitsForKey = '1'; /* setKey asks again */
      else {
        /* The server is away or busy: ask again in a while. */
        setUpload(li, li.dataset.state, `${li.dataset.state} (${e.message}; asking again)`);
        setTimeout(() => { state.waits.push(li); pumpWaits(); }, 3000);
      }
    }
  }

  /* ---- the gallery ---- */
  function paintPlaceholder(tile, rec) {
    const ph = tile.querySelector('.ph');
    if (rec.dominant_colour) ph.style.backgroundColor = rec.dominant_colour;
    if (rec.placeholder && !ph.dataset.painted) {
      ph.dataset.painted = BlurHash.paint(rec.placeholder, ph) ? '1' : '';
    }
  }
  function makeTile(rec) {
    const ph = el('canvas', { className: 'ph', width: 32, height: 32 });
    ph.setAttribute('aria-hidden', 'true');
    const button = el('button', { type: 'button', className: 'tile' }, ph,
      el('span', { className: 'badge' }));
    button.addEventListener('click', () => openDetail(rec.id, button));
    const li = el('li', {}, button);
    li.dataset.id = rec.id;
    return li;
  }
  function upsertTile(rec, atTop) {
    let t = state.tiles.get(rec.id);
    if (!t) {
      t = { li: makeTile(rec), rec, blobs: [], thumb: null };
      state.tiles.set(rec.id, t);
      if (atTop) $('gallery').prepend(t.li); else $('gallery').append(t.li);
      $('gallery-note').hidden = true;
    }
    t.rec = rec;
    const button = t.li.querySelector('button');
    t.li.dataset.status = rec.status;
    button.setAttribute('aria-label', `${rec.name}, ${rec.status}`);
    const badge = t.li.querySelector('.badge');
    badge.textContent = rec.status === 'done' ? '' : rec.status;
    badge.hidden = rec.status === 'done';
    paintPlaceholder(t.li, rec);
    const thumb = rec.status === 'done' ? thumbOf(rec) : null;
    if (thumb && t.thumb !== thumb) {
      t.thumb = thumb;
      imageUrl(thumb, t.blobs).then((src) => {
        const img = el('img', { alt: rec.name, decoding: 'async' });
        img.addEventListener('load', () => { t.li.dataset.loaded = '1'; });
        img.src = src;
        button.querySelector('img')?.remove();
        button.prepend(img);
      }).catch(() => { /* the placeholder stays */ });
    }
  }
  function removeTile(id) {
    const t = state.tiles.get(id);
    if (!t) return;
    t.blobs.forEach((u) => URL.revokeObjectURL(u));
    t.li.remove();
    state.tiles.delete(id);
  }
  function resetGallery() {
    for (const id of [...state.tiles.keys()]) removeTile(id);
    state.cursor = undefined;
    loadPage();
  }
  function showMore() {
    $('more-button').hidden = !state.cursor;
  }
  async function loadPage() {
    if (state.loading || state.cursor === null) return;
    state.loading = true;
    let ok = false;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (state.cursor) q.set('cursor', state.cursor);
      const page = await api('GET', '/v1/images?' + q);
      for (const rec of page.items) if (!state.tiles.has(rec.id)) upsertTile(rec, false);
      state.cursor = page.next_cursor;
      const note = $('gallery-note');
      note.hidden = state.tiles.size > 0;
      note.textContent = 'No images yet: upload some above.';
      ok = true;
    } catch (e) {
      const note = $('gallery-note');
      note.hidden = false;
      note.textContent = 'Could not list the images: ' + e.message;
    } finally {
      state.loading = false;
      showMore();
    }
    /* Observing again reports at once whether the end is still in view. */
    if (ok && state.cursor) { observer.unobserve($('more')); observer.observe($('more')); }
  }
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage();
  }, { rootMargin: '200px' });

  /* ---- the detail view ---- */
  function field(dl, name, value) {
    if (value == null || value === '') value = '–';
    dl.append(el('dt', { textContent: name }), el('dd', { textContent: String(value) }));
  }
  /* A link that saves url as name, fetching it with the key if need be. */
  function download(url, name, label) {
    const a = el('a', { href: url, textContent: label });
    a.setAttribute('download', name);
    a.setAttribute('aria-label', 'Download ' + label);
    a.addEventListener('click', async (e) => {
      if (!state.key || state.publicBytes) return;
      e.preventDefault();
      try {
        const blobs = [];
        const tmp = el('a', { href: await imageUrl(url, blobs), download: name });
        tmp.click();
        setTimeout(() => blobs.forEach((u) => URL.revokeObjectURL(u)), 60000);
      } catch (err) { announce('download failed: ' + err.message); }
    });
    return a;
  }
  function variantRow(label, url, file, w, h, format, bytes) {
    return el('tr', {},
      el('th', { scope: 'row' }, download(url, file, label)),
      el('td', { textContent: w ? `${w} × ${h}` : '–' }),
      el('td', { textContent: format || '–' }),
      el('td', { textContent: formatBytes(bytes) }));
  }
  function renderDetail(rec, blobs) {
    const body = $('detail-body');
    body.replaceChildren();
    $('detail-title').textContent = rec.name;
    const preview = previewOf(rec);
    if (rec.status === 'done' && preview) {
      const img = el('img', { alt: rec.name, className: 'preview' });
      imageUrl(preview, blobs).then((src) => { img.src = src; }).catch(() => img.remove());
      body.append(img);
    }
    const st = el('p', { className: 'status ' + rec.status, textContent: 'Status: ' + rec.status });
    if (rec.error) st.append(' – ' + rec.error);
    body.append(st);

    const table = el('table', { className: 'variants' },
      el('caption', { textContent: 'Variants (select one to download it)' }));
    const head = el('tr');
    for (const h of ['Name', 'Size (px)', 'Format', 'Bytes']) head.append(el('th', { scope: 'col', textContent: h }));
    table.append(el('thead', {}, head));
    const tb = el('tbody');
    const stem = rec.name.replace(/\.[^.]*$/, '');
    for (const v of rec.variants || []) {
      tb.append(variantRow(v.name, rec.links.variants[v.name],
        `${stem}-${v.name}.${v.format === 'jpeg' ? 'jpg' : v.format}`, v.width, v.height, v.format, v.bytes));
    }
    tb.append(variantRow('original', rec.links.original, rec.name, rec.width, rec.height, rec.format, rec.bytes));
    table.append(tb);
    body.append(table);

    const dl = el('dl', { className: 'fields' });
    field(dl, 'id', rec.id);
    field(dl, 'name', rec.name);
    field(dl, 'content type', rec.content_type);
    field(dl, 'stored as', rec.stored_width ? `${rec.stored_width} × ${rec.stored_height}, orientation ${rec.orientation}` : null);
    field(dl, 'colour space', rec.colourspace);
    field(dl, 'alpha', rec.has_alpha ? 'yes' : 'no');
    field(dl, 'pages', rec.pages);
    field(dl, 'SHA-256', rec.sha256);
    field(dl, 'uploaded', rec.uploaded_at);
    field(dl, 'processed', rec.processed_at);
    field(dl, 'processing time', rec.processing_ms != null ? rec.processing_ms + ' ms' : null);
    field(dl, 'attempts', rec.attempts);
    field(dl, 'warnings', (rec.warnings || []).join('; ') || 'none');
    field(dl, 'input', `${rec.input_bucket}/${rec.input_key}`);
    field(dl, 'placeholder', rec.placeholder);
    field(dl, 'dominant colour', rec.dominant_colour);
    for (const v of rec.variants || []) field(dl, `${v.name} SHA-256`, v.sha256);
    body.append(el('h3', { textContent: 'Record' }), dl);
  }
  async function openDetail(id, opener) {
    const d = $('detail');
    state.detailId = id;
    state.detailOpener = opener;
    state.detailBlobs = [];
    $('delete-confirm').hidden = true;
    $('delete').hidden = false;
    try {
      const rec = await api('GET', '/v1/images/' + id);
      upsertTile(rec, false);
      renderDetail(rec, state.detailBlobs);
      if (!d.open) d.showModal();
      $('detail-close').focus();
    } catch (e) {
      if (e.status === 404) removeTile(id);
      announce(e.message);
    }
  }
  function closeDetail() {
    $('detail').close();
  }
  async function deleteImage() {
    const id = state.detailId;
    try {
      await api('DELETE', '/v1/images/' + id);
      const name = state.tiles.get(id)?.rec.name || id;
      removeTile(id);
      closeDetail();
      announce(name + ' deleted');
      $('gallery-title').focus();
    } catch (e) {
      announce('delete failed: ' + e.message);
      $('delete-confirm').hidden = true;
      $('delete').hidden = false;
    }
  }

  /* ---- wiring ---- */
  function wire() {
    const drop = $('drop');
    $('pick').addEventListener('click', () => $('files').click());
    $('files').addEventListener('change', (e) => { addFiles(e.target.files); e.target.value = ''; });
    /* A file dropped anywhere is an upload, never a navigation away. */
    document.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) drop.classList.remove('over'); });
    document.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
    });
    $('key-button').addEventListener('click', () => askKey(''));
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      setKey($('key-input').value.trim());
      $('key-input').value = '';
    });
    $('key-forget').addEventListener('click', () => setKey(''));
    $('key-cancel').addEventListener('click', () => $('key-dialog').close());
    $('more-button').addEventListener('click', loadPage);
    $('detail-close').addEventListener('click', closeDetail);
    $('detail').addEventListener('close', () => {
      (state.detailBlobs || []).forEach((u) => URL.revokeObjectURL(u));
      state.detailBlobs = [];
      if (state.detailOpener && state.detailOpener.isConnected) state.detailOpener.focus();
    });
    $('delete').addEventListener('click', () => {
      $('delete').hidden = true;
      $('delete-confirm').hidden = false;
      $('delete-no').focus();
    });
    $('delete-no').addEventListener('click', () => {
      $('delete-confirm').hidden = true;
      $('delete').hidden = false;
      $('delete').focus();
    });
    $('delete-yes').addEventListener('click', deleteImage);
    showKeyState();
    observer.observe($('more'));
    loadPage();
  }
  wire();
})();
