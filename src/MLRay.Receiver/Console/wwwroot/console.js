// MLRay ops console: live updates (server-sent events) and forms answered in place. Every page works without it.
'use strict';
(function () {
  const results = document.getElementById('results');

  // A confirmed form (replay, purge, a rollout command) is sent with fetch: the answer shows on this page, no reload.
  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('inplace')) return;
    event.preventDefault();
    const details = form.closest('details');
    const slot = details ? details.querySelector('.result-slot') : null;
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: 'POST', body: new FormData(form), credentials: 'same-origin', headers: { 'X-MLRay-Console': 'fetch' },
      });
      if (response.status === 401) {
        location.href = '/ops/login?return=' + encodeURIComponent(location.pathname + location.search);
        return;
      }
      const html = (response.headers.get('content-type') || '').startsWith('text/html');
      const answer = document.createElement('div');
      if (html) answer.innerHTML = await response.text(); else answer.textContent = await response.text();
      if (response.ok) {
        // Closed again, so the next live update may redraw its cell; the result stays in the page's status line.
        if (details) details.open = false;
        if (results) {
          results.replaceChildren(...answer.childNodes);
          results.focus();
        }
      } else if (slot) {
        slot.replaceChildren(...answer.childNodes);
      }
    } catch (error) {
      if (slot) slot.textContent = 'The request failed: ' + error.message;
    } finally {
      if (button) button.disabled = false;
    }
  });

  // "12 s ago" beside each time stamp (the stamp itself is in the HTML).
  function ages() {
    const now = Date.now();
    for (const t of document.querySelectorAll('time.age')) {
      const s = Math.max(0, Math.round((now - Date.parse(t.dateTime)) / 1000));
      t.dataset.ago = s < 120 ? s + ' s ago' : s < 7200 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
    }
  }
  ages();
  setInterval(ages, 5000);

  // A cell is redrawn unless the operator is in it (a confirmation open, or focus inside).
  function busy(element) {
    return element.querySelector('details[open]') !== null || element.contains(document.activeElement);
  }

  let pendingRows = null;

  function updateRows(html) {
    const tbody = document.getElementById('matrix-rows');
    if (!tbody) return;
    const next = document.createElement('tbody');
    next.innerHTML = html;
    const keys = (body) => Array.from(body.children, (row) => row.dataset.key || '').join('\n');
    if (keys(tbody) !== keys(next)) {
      // Later events send only changed rows: rows the operator kept from being replaced wait here for the next event.
      pendingRows = busy(tbody) ? html : null;
      if (!pendingRows) {
        tbody.replaceChildren(...next.children);
        deferred.clear();
      }
      return;
    }
    pendingRows = null;
    updateCells(tbody, next);
  }

  // Cells that changed while the operator was in them, by key: redrawn at a later event, once left (the server sends a
  // row only when it changes, so a cell skipped now would otherwise stay as it was).
  const deferred = new Map();

  // Each cell of the new rows that differs replaces its old self (a busy one waits in deferred).
  function updateCells(tbody, next) {
    for (const cell of Array.from(next.querySelectorAll('[data-key^="cell:"]'))) {
      const old = tbody.querySelector('[data-key="' + CSS.escape(cell.dataset.key) + '"]');
      deferred.delete(cell.dataset.key);
      if (!old || old.outerHTML === cell.outerHTML) continue;
      if (busy(old)) deferred.set(cell.dataset.key, cell);
      else old.replaceWith(cell);
    }
  }

  function updateDeferred() {
    const tbody = document.getElementById('matrix-rows');
    if (!tbody) return;
    for (const [key, cell] of Array.from(deferred)) {
      const old = tbody.querySelector('[data-key="' + CSS.escape(key) + '"]');
      if (!old) deferred.delete(key);
      else if (!busy(old)) {
        old.replaceWith(cell);
        deferred.delete(key);
      }
    }
  }

  // Only the rows that changed, by key: the same rows as before, so only their cells are redrawn.
  function updateChangedRows(changed) {
    const tbody = document.getElementById('matrix-rows');
    if (!tbody) return;
    const next = document.createElement('tbody');
    next.innerHTML = Object.values(changed).join('');
    for (const row of Array.from(next.children)) {
      const old = tbody.querySelector('tr[data-key="' + CSS.escape(row.dataset.key || '') + '"]');
      if (!old) continue;
      if (row.querySelector('[data-key^="cell:"]')) updateCells(old, row);
      else if (!busy(old)) old.replaceWith(row);
    }
  }

  const events = document.body.dataset.events;
  const live = document.getElementById('live');
  if (events && window.EventSource) {
    const source = new EventSource(events);
    const lost = () => {
      document.body.dataset.live = 'lost';
      live.hidden = false;
      live.textContent = '⚠ Live updates lost: what is shown may be stale (reconnecting…)';
    };
    source.addEventListener('overview', (event) => {
      const data = JSON.parse(event.data);
      document.body.dataset.live = 'on';
      document.body.dataset.eventsSeen = String(Number(document.body.dataset.eventsSeen || 0) + 1);   // for tests and the curious
      live.hidden = true;
      document.getElementById('counts').innerHTML = data.counts;
      document.getElementById('stale').innerHTML = data.banner;
      const readAt = document.getElementById('read-at');
      if (readAt) {
        readAt.dateTime = data.read_at;
        readAt.textContent = new Date(data.read_at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
      }
      updateDeferred();
      if (data.rows !== undefined) updateRows(data.rows);
      else if (pendingRows) updateRows(pendingRows);
      if (data.changed_rows) updateChangedRows(data.changed_rows);
      ages();
    });
    source.addEventListener('error', lost);
  }
})();
