// StreamLanes dashboard. Plain script, no framework, nothing loaded from elsewhere. Every value from the server is
// put into the page with textContent or setAttribute, never as HTML: partition keys and errors can be hostile.
'use strict';
(function () {
  const meta = (name) => document.querySelector('meta[name="' + name + '"]').getAttribute('content');
  const base = meta('sl-base');
  const csrfHeader = meta('sl-csrf-header');
  const csrf = meta('sl-csrf');
  const refreshMs = parseInt(meta('sl-refresh'), 10) || 2000;
  const view = { consumer: null, filter: {}, cursors: [null], page: null, detailId: null, detailTab: 'text' };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const num = (n, digits) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits || 0 });
  const time = (t) => t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–';
  const enc = encodeURIComponent;
  const plural = (n, word) => num(n) + ' ' + word + (n === 1 ? '' : 's');

  async function getJson(path) {
    const response = await fetch(base + path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }
  async function postJson(path, body) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    headers[csrfHeader] = csrf;
    const response = await fetch(base + path, { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || ('HTTP ' + response.status));
    return data;
  }

  function table(id, headers, rows, empty) {
    return el('table', { id },
      el('thead', null, el('tr', null, headers.map(h => el('th', { class: h.startsWith('#') ? 'n' : null }, h.replace(/^#/, ''))))),
      el('tbody', null, rows.length ? rows : el('tr', null, el('td', { colspan: headers.length }, empty))));
  }

  function renderConsumers(state) {
    const body = document.querySelector('#consumers tbody');
    body.replaceChildren(...state.consumers.map(c => el('tr', {
      'data-consumer': c.name, class: c.name === view.consumer ? 'selected' : null,
      onclick: () => { view.consumer = c.name; resetPaging(); refresh(); }
    },
      el('td', null, c.name), el('td', null, c.sourceKind), el('td', null, c.stream), el('td', null, c.state),
      el('td', { class: 'health-' + c.health.toLowerCase(), title: c.healthDescription || '' }, c.health),
      el('td', { class: 'n' }, num(c.recordsPerSecond, 1)), el('td', { class: 'n' }, num(c.retries)),
      el('td', { class: 'n' }, num(c.deadLetters)), el('td', { class: 'n' }, num(c.checkpointLag)),
      el('td', { class: 'n' }, num(c.millisBehindLatest)))));
  }

  function chart(history) {
    const w = 600, h = 120, ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('id', 'chart');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    const max = Math.max(1, ...history.map(s => Math.max(s.handledPerSecond, s.retriedPerSecond, s.deadLetteredPerSecond)));
    const line = (key, cls) => {
      if (history.length < 2) return;
      const points = history.map((s, i) => (i * w / (history.length - 1)).toFixed(1) + ',' + (h - 4 - s[key] * (h - 8) / max).toFixed(1)).join(' ');
      const p = document.createElementNS(ns, 'polyline');
      p.setAttribute('points', points);
      p.setAttribute('class', cls);
      svg.appendChild(p);
    };
    line('handledPerSecond', 'handled');
    line('retriedPerSecond', 'retried');
    line('deadLetteredPerSecond', 'dead');
    const title = document.createElementNS(ns, 'title');
    title.textContent = 'records/s handled, retried and dead-lettered; peak ' + num(max, 1) + '/s';
    svg.appendChild(title);
    return el('figure', null, svg, el('figcaption', null,
      el('span', { class: 'handled' }, 'handled/s'), ' ', el('span', { class: 'retried' }, 'retries/s'), ' ',
      el('span', { class: 'dead' }, 'dead letters/s'), ' — peak ' + num(max, 1) + '/s over the last ' + history.length + ' samples'));
  }

  function renderConsumer(c) {
    const shards = c.shards.map(s => el('tr', { 'data-shard': s.shardId },
      el('td', null, s.shardId), el('td', null, s.leaseOwner || '– (no lease)'), el('td', null, s.checkpoint || '–'),
      el('td', { class: 'n' }, num(s.buffered)), el('td', { class: 'n' }, num(s.activeLanes)), el('td', { class: 'n' }, num(s.blockedLanes)),
      el('td', { class: 'n' }, num(s.checkpointLag)), el('td', { class: 'n' }, num(s.millisBehindLatest))));
    const blocked = c.blockedKeys.map(k => el('tr', { 'data-key': k.key },
      el('td', { class: 'key' }, k.key), el('td', null, k.shardId), el('td', null, k.sequenceNumber || 'waiting for the dead-letter sink'),
      el('td', { class: 'n' }, num(k.attempts)), el('td', { class: 'n' }, num(k.queuedRecords)),
      el('td', null, k.latestExceptionType || ''), el('td', { class: 'err' }, k.latestError || ''), el('td', null, time(k.latestFailedAt))));
    const parked = c.parkedKeys.map(k => el('tr', { 'data-key': k.key },
      el('td', { class: 'key' }, k.key), el('td', null, k.parkedBySequenceNumber), el('td', { class: 'n' }, num(k.attempts)),
      el('td', null, k.latestExceptionType || ''), el('td', { class: 'err' }, k.latestError || ''),
      el('td', null,
        el('button', { type: 'button', class: 'replay-key', onclick: () => confirmAction('replay', { key: k.key }) }, 'Replay key'),
        el('button', { type: 'button', class: 'release-key', onclick: () => confirmRelease(k.key) }, 'Release'))));
    const faults = c.readerFaults.map(f => el('li', null, f.shardId + ': ' + f.exceptionType + (f.fatal ? ' (fatal)' : '') + ', ' + f.consecutiveFailures + ' failures'));
    const panel = el('section', { id: 'consumer-' + c.name },
      el('h2', null, 'Consumer ', el('span', { class: 'key' }, c.name)),
      el('p', { class: 'facts' }, c.sourceKind + ' · ' + c.stream + ' · ' + c.failureMode + ' · ' + c.state + ' · health ' + c.health +
        (c.workerId ? ' · worker ' + c.workerId : '') + ' · received ' + num(c.received) + ' · handled ' + num(c.handled) +
        ' · buffered ' + num(c.buffered) + ' · lanes ' + num(c.activeLanes) + ' (' + num(c.blockedLanes) + ' blocked)' +
        (c.sinkFailures ? ' · dead-letter sink failures ' + c.sinkFailures : '')),
      faults.length ? el('ul', { class: 'faults' }, faults) : null,
      chart(c.history),
      el('h3', null, 'Shards'),
      table('shards', ['shard', 'lease owner', 'checkpoint', '#buffered', '#lanes active', '#lanes blocked', '#checkpoint lag', '#ms behind latest'], shards, 'No shard is open.'),
      el('h3', null, 'Blocked keys (retrying)'),
      table('blocked-keys', ['key', 'shard', 'failing record', '#attempts', '#queued', 'exception', 'latest error', 'failed at'], blocked, 'No key is blocked.'),
      el('h3', null, 'Parked keys (' + num(c.parkedKeyCount) + ')'),
      table('parked-keys', ['key', 'parked by', '#attempts', 'exception', 'latest error', ''], parked, 'No key is parked.'));
    return panel;
  }

  function filterForm() {
    const f = view.filter;
    const input = (name, label, type) => el('label', null, label, el('input', { name, type: type || 'text', value: f[name] || '' }));
    const reason = el('select', { name: 'reason' }, ['', 'RetriesExhausted', 'RecordTooOld', 'NonRetryable', 'ParkedBehind']
      .map(r => el('option', { value: r, selected: f.reason === r }, r || 'any reason')));
    const form = el('form', { id: 'filter', onsubmit: (e) => { e.preventDefault(); readFilter(form); resetPaging(); loadDeadLetters(); } },
      input('key', 'key'), el('label', null, 'reason', reason), input('exception', 'exception type'),
      input('from', 'from (UTC)', 'datetime-local'), input('to', 'to (UTC)', 'datetime-local'),
      el('button', { type: 'submit' }, 'Filter'),
      el('button', { type: 'button', id: 'replay-selection', onclick: () => confirmAction('replay', view.filter) }, 'Replay selection'),
      el('button', { type: 'button', id: 'purge-selection', class: 'danger', onclick: () => confirmAction('purge', view.filter) }, 'Purge selection'));
    return form;
  }
  function readFilter(form) {
    const data = new FormData(form);
    view.filter = {};
    for (const [k, v] of data.entries()) if (v) view.filter[k] = v;
  }
  function resetPaging() { view.cursors = [null]; view.detailId = null; }

  function renderDeadLetters(page) {
    const rows = page.items.map(d => el('tr', { 'data-id': d.id, 'data-key': d.partitionKey, class: d.id === view.detailId ? 'selected' : null, onclick: () => { view.detailId = d.id; loadDetail(); } },
      el('td', null, time(d.deadLetteredAt)), el('td', { class: 'key' }, d.partitionKey), el('td', null, d.shard), el('td', null, d.sequenceNumber),
      el('td', null, d.reason), el('td', null, d.exceptionTypes.join(', ')), el('td', { class: 'n' }, num(d.attempts)),
      el('td', { class: 'err' }, d.latestError || ''), el('td', { class: 'n' }, num(d.payloadBytes))));
    const pageNo = view.cursors.length;
    return el('section', { id: 'dead-letter-section' },
      el('h2', null, 'Dead letters'),
      filterForm(),
      el('p', { id: 'dl-total' }, num(page.total) + ' matching · page ' + pageNo + ' · indexed ' + time(page.indexedAt)),
      table('dead-letters', ['dead-lettered', 'key', 'shard', 'sequence', 'reason', 'exceptions', '#attempts', 'latest error', '#bytes'], rows, 'No dead letter matches.'),
      el('div', { class: 'pager' },
        el('button', { type: 'button', id: 'prev-page', disabled: pageNo === 1, onclick: () => { view.cursors.pop(); loadDeadLetters(); } }, '← Newer'),
        el('button', { type: 'button', id: 'next-page', disabled: !page.nextCursor, onclick: () => { view.cursors.push(page.nextCursor); loadDeadLetters(); } }, 'Older →')),
      el('div', { id: 'detail' }));
  }

  function renderDetail(d) {
    const box = document.getElementById('detail');
    if (!box) return;
    const attrs = Object.entries(d.attributes).map(([k, v]) => el('tr', null, el('td', { class: 'key' }, k), el('td', null, v)));
    const attempts = d.attempts.map(a => el('li', null,
      el('div', null, 'attempt ' + a.attempt + ' · ' + time(a.failedAt) + ' · ' + a.exceptionType),
      el('pre', { class: 'err' }, a.message), a.stackTrace ? el('details', null, el('summary', null, 'stack trace'), el('pre', null, a.stackTrace)) : null));
    let payload;
    if (!d.payloadShown) {
      payload = el('p', { id: 'payload-hidden' }, d.payloadBytes + ' bytes; payloads are hidden (the host has not enabled ShowPayloads).');
    } else {
      const tabs = [['text', d.payloadText, 'not valid UTF-8'], ['json', d.payloadJson, 'not JSON'], ['hex', d.payloadHex, '']];
      const current = tabs.find(t => t[0] === view.detailTab) || tabs[0];
      payload = el('div', null,
        el('div', { class: 'tabs' }, tabs.map(t => el('button', { type: 'button', id: 'tab-' + t[0], class: t[0] === current[0] ? 'selected' : null,
          onclick: () => { view.detailTab = t[0]; renderDetail(d); } }, t[0]))),
        el('pre', { id: 'payload-' + current[0], class: 'payload' }, current[1] === null ? '(' + current[2] + ')' : current[1]),
        d.payloadTruncated ? el('p', null, 'Showing the first 64 KiB of ' + d.payloadBytes + ' bytes.') : null);
    }
    box.replaceChildren(el('h3', null, 'Dead letter ', el('span', { class: 'key' }, d.id)),
      el('p', { class: 'facts' }, 'key ', el('span', { class: 'key' }, d.partitionKey), ' · ' + d.sourceKind + ' ' + d.stream + ' · shard ' + d.shard +
        ' · sequence ' + d.sequenceNumber + (d.subSequenceNumber ? '/' + d.subSequenceNumber : '') + ' · ' + d.reason +
        (d.parkedBehindSequenceNumber ? ' behind ' + d.parkedBehindSequenceNumber : '') + ' · arrived ' + time(d.arrivalTime) + ' · dead-lettered ' + time(d.deadLetteredAt)),
      el('button', { type: 'button', id: 'replay-detail-key', onclick: () => confirmAction('replay', { key: d.partitionKey }) }, 'Replay this key'),
      el('h4', null, 'Payload'), payload,
      el('h4', null, 'Attributes'), attrs.length ? el('table', { id: 'attributes' }, el('tbody', null, attrs)) : el('p', null, 'none'),
      el('h4', null, 'Attempts'), attempts.length ? el('ol', { id: 'attempts' }, attempts) : el('p', null, 'none (dead-lettered without an attempt)'));
  }

  // Actions: a dry run first, shown in the confirmation; the real action only on Confirm; then its result.
  function describeCounts(result) {
    return Object.entries(result.counts).map(([k, v]) => k + ': ' + v).join(', ') || 'nothing';
  }
  function showModal(title, body, onOk) {
    const modal = document.getElementById('confirm');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-body').replaceChildren(...body);
    const ok = document.getElementById('confirm-ok');
    ok.hidden = !onOk;
    ok.onclick = async () => { ok.disabled = true; try { await onOk(); } finally { ok.disabled = false; } };
    document.getElementById('confirm-cancel').textContent = onOk ? 'Cancel' : 'Close';
    document.getElementById('confirm-cancel').onclick = () => { modal.hidden = true; };
    modal.hidden = false;
  }
  function showResult(title, lines) {
    showModal(title, lines.map(l => el('p', { class: 'result' }, l)), null);
    document.getElementById('confirm').setAttribute('data-result', 'true');
    refresh();
  }
  async function confirmAction(operation, selection) {
    const body = Object.assign({}, selection, { dryRun: true });
    const path = '/api/consumers/' + enc(view.consumer) + '/' + operation;
    const what = Object.entries(selection).filter(([, v]) => v).map(([k, v]) => k + ' = ' + v).join(', ') || 'every dead letter of the consumer';
    try {
      const dry = await postJson(path, body);
      document.getElementById('confirm').removeAttribute('data-result');
      showModal((operation === 'replay' ? 'Replay' : 'Purge') + ' dead letters?', [
        el('p', null, 'Selection: ', el('span', { class: 'key' }, what)),
        el('p', { id: 'dry-run' }, 'Dry run: ' + plural(dry.total, 'dead letter') + ' (' + plural(dry.keys, 'key') + ') would be ' + (operation === 'replay' ? 'replayed through the handler, each key in sequence order (successes are deleted).' : 'deleted for good.'))],
        async () => {
          const result = await postJson(path, Object.assign({}, selection, { dryRun: false, all: operation === 'purge' && what === 'every dead letter of the consumer' }));
          showResult((operation === 'replay' ? 'Replay' : 'Purge') + ' done', [describeCounts(result),
            result.releasedKeys.length ? 'Released keys: ' + result.releasedKeys.join(', ') : '',
            ...result.items.filter(i => i.error).slice(0, 5).map(i => i.partitionKey + ' ' + i.sequenceNumber + ': ' + i.error)].filter(Boolean));
        });
    } catch (e) { showResult('Refused', [e.message]); }
  }
  async function confirmRelease(key) {
    const path = '/api/consumers/' + enc(view.consumer) + '/release';
    try {
      const dry = await postJson(path, { key, dryRun: true });
      document.getElementById('confirm').removeAttribute('data-result');
      showModal('Release key?', [el('p', null, 'Key: ', el('span', { class: 'key' }, key)),
        el('p', { id: 'dry-run' }, dry.parked ? 'Parked behind ' + dry.parkedBySequenceNumber + '. Its next records will be handled again; ' + plural(dry.deadLetters, 'dead letter') + ' of this key stay in the store (replay them first to keep its order).' : 'The key is not parked.')],
        async () => {
          const result = await postJson(path, { key, dryRun: false });
          showResult('Release done', [result.released ? 'Released.' : 'The key was not parked.']);
        });
    } catch (e) { showResult('Refused', [e.message]); }
  }

  async function loadDeadLetters() {
    if (!view.consumer) return;
    const q = new URLSearchParams(view.filter);
    const cursor = view.cursors[view.cursors.length - 1];
    if (cursor) q.set('cursor', cursor);
    const page = await getJson('/api/consumers/' + enc(view.consumer) + '/dead-letters?' + q.toString());
    view.page = page;
    const old = document.getElementById('dead-letter-section');
    const fresh = renderDeadLetters(page);
    const focused = document.activeElement && document.activeElement.name;
    if (old) {
      // Keep what the operator is typing: only the list and pager are replaced while a filter input has focus.
      if (focused && old.querySelector('form').contains(document.activeElement)) fresh.replaceChild(old.querySelector('form'), fresh.querySelector('form'));
      fresh.replaceChild(old.querySelector('#detail'), fresh.querySelector('#detail'));
      old.replaceWith(fresh);
    } else {
      document.getElementById('consumer').after(fresh);
    }
  }
  async function loadDetail() {
    if (!view.detailId) return;
    try {
      renderDetail(await getJson('/api/consumers/' + enc(view.consumer) + '/dead-letter?id=' + enc(view.detailId)));
    } catch (e) {
      const box = document.getElementById('detail');
      if (box) box.replaceChildren(el('p', null, e.message));
    }
    document.querySelectorAll('#dead-letters tbody tr').forEach(r => r.classList.toggle('selected', r.getAttribute('data-id') === view.detailId));
  }

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const state = await getJson('/api/state');
      if (!view.consumer || !state.consumers.some(c => c.name === view.consumer)) view.consumer = state.consumers.length ? state.consumers[0].name : null;
      renderConsumers(state);
      document.getElementById('updated').textContent = 'updated ' + time(state.generatedAt);
      const c = state.consumers.find(x => x.name === view.consumer);
      document.getElementById('consumer').replaceChildren(c ? renderConsumer(c) : el('p', null, 'No consumer.'));
      await loadDeadLetters();
      document.getElementById('conn').textContent = '';
      document.body.setAttribute('data-refreshed', state.generatedAt);
    } catch (e) {
      document.getElementById('conn').textContent = 'refresh failed: ' + e.message;
    } finally {
      refreshing = false;
    }
  }

  refresh();
  setInterval(refresh, refreshMs);
})();
