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

  function updateRows(html) {
    const tbody = document.getElementById('matrix-rows');
    if (!tbody) return;
    const next = document.createElement('tbody');
    next.innerHTML = html;
    const keys = (body) => Array.from(body.children, (row) => row.dataset.key || '').join('\n');
    if (keys(tbody) !== keys(next)) {
      if (!busy(tbody)) tbody.replaceChildren(...next.children);
      return;
    }
    for (const cell of Array.from(next.querySelectorAll('[data-key^="cell:"]'))) {
      const old = tbody.querySelector('[data-key="' + CSS.escape(cell.dataset.key) + '"]');
      if (old && old.outerHTML !== cell.outerHTML && !busy(old)) old.replaceWith(cell);
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
      live.hidden = true;
      document.getElementById('counts').innerHTML = data.counts;
      document.getElementById('stale').innerHTML = data.banner;
      const readAt = document.getElementById('read-at');
      if (readAt) {
        readAt.dateTime = data.read_at;
        readAt.textContent = new Date(data.read_at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
      }
      updateRows(data.rows);
      ages();
    });
    source.addEventListener('error', lost);
  }
})();
