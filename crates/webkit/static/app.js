// Progressive enhancement only: every page works without this script.

// Forms marked data-confirm ask before submitting (removing a family member, cancelling).
document.addEventListener('submit', (ev) => {
  const form = ev.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm) {
    if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
  }
});

// The booking form lists times for the visit kind chosen: choosing another lists again.
document.addEventListener('change', (ev) => {
  const input = ev.target;
  if (input instanceof HTMLInputElement && input.dataset.relist !== undefined) {
    const button = document.getElementById('relist');
    if (button) button.click();
  }
});

// Live events: signed-in pages carry data-ws with their socket's path. Counters marked
// data-live update in place; everything is also re-dispatched as a 'tsunagu:event' DOM event
// for page-specific scripts. The socket reconnects by itself with a growing delay.
(function live() {
  const path = document.body && document.body.dataset.ws;
  if (!path || !('WebSocket' in window)) return;
  let delay = 1000;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}${path}`);
    ws.addEventListener('open', () => { delay = 1000; });
    ws.addEventListener('message', (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.kind === 'job.failed') {
        const badge = document.querySelector('[data-live="failed-jobs"]');
        if (badge) {
          badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1);
          badge.hidden = false;
        }
      }
      if (typeof ev.kind === 'string' && (ev.kind.startsWith('booking.') || ev.kind.startsWith('visit.'))) refreshLiveRegion();
      document.dispatchEvent(new CustomEvent('tsunagu:event', { detail: ev }));
    });
    ws.addEventListener('close', () => {
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
})();

// Pages with a [data-live-region] (the schedule, the reception list) fetch themselves again
// and swap that region in place, so staff see arrivals and new bookings without reloading.
async function refreshLiveRegion() {
  const region = document.querySelector('[data-live-region]');
  if (!region) return;
  try {
    const r = await fetch(location.href, { credentials: 'same-origin' });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = doc.querySelector('[data-live-region]');
    if (fresh) region.replaceWith(fresh);
  } catch { /* offline for a moment: the next event tries again */ }
}

// A birth date is entered either in 和暦 or as a Western date: typing in one clears the
// other, so an edited date never disagrees with the one it replaces (the server refuses a
// disagreement and says so when script is off).
(() => {
  const western = document.getElementById('birth_date');
  const parts = ['birth_year', 'birth_month', 'birth_day'].map((id) => document.getElementById(id));
  if (!western || parts.some((p) => !p)) return;
  western.addEventListener('change', () => {
    if (western.value) parts.forEach((p) => { p.value = ''; });
  });
  [...parts, document.getElementById('birth_era')].forEach((p) => p && p.addEventListener('change', () => {
    if (parts.some((q) => q.value)) western.value = '';
  }));
})();

// The questionnaire editor: ↑/↓ move a question (its position numbers follow), and
// 「質問を追加」 opens one more empty row. Without script the position numbers and the three
// empty rows do the same.
(() => {
  const editor = document.querySelector('[data-q-editor]');
  if (!editor) return;
  const list = editor.querySelector('.q-rows');
  const rows = () => [...list.querySelectorAll('[data-q-row]')];
  const renumber = () => {
    rows().forEach((r, i) => {
      const label = r.querySelector('input[name$="_label"]');
      const order = r.querySelector('input[name$="_order"]');
      if (label.value.trim() || !r.hasAttribute('data-q-blank')) order.value = String(i + 1);
      const head = r.querySelector('.q-head strong');
      if (head) head.textContent = head.textContent.replace(/\d+/, String(i + 1));
    });
  };
  // Choices only for a multiple-choice question.
  const showChoices = (r) => {
    const choice = r.querySelector('input[value="choice"]');
    const area = r.querySelector('textarea[name$="_choices"]');
    const label = area && r.querySelector(`label[for="${area.id}"]`);
    [area, label].forEach((el) => { if (el) el.hidden = !(choice && choice.checked); });
  };
  rows().forEach(showChoices);
  list.addEventListener('change', (e) => {
    const r = e.target.closest('[data-q-row]');
    if (r && e.target.name && e.target.name.endsWith('_kind')) showChoices(r);
  });
  editor.querySelectorAll('.q-move').forEach((m) => { m.hidden = false; });
  const blanks = rows().filter((r) => r.hasAttribute('data-q-blank'));
  const hasQuestions = rows().length > blanks.length;
  blanks.slice(hasQuestions ? 0 : 1).forEach((r) => { r.hidden = true; });
  const add = editor.querySelector('[data-q-add]');
  add.hidden = false;
  add.addEventListener('click', () => {
    let next = rows().find((r) => r.hidden);
    if (!next) {
      const last = rows()[rows().length - 1];
      const n = rows().length;
      next = last.cloneNode(true);
      next.querySelectorAll('[name]').forEach((el) => {
        el.name = el.name.replace(/^q\d+_/, `q${n}_`);
        if (el.id) el.id = el.id.replace(/^q\d+_/, `q${n}_`);
        if (el.type === 'checkbox') el.checked = false;
        else if (el.type === 'radio') el.checked = el.value === 'text';
        else el.value = '';
      });
      next.querySelectorAll('label[for]').forEach((l) => { l.htmlFor = l.htmlFor.replace(/^q\d+_/, `q${n}_`); });
      next.querySelectorAll('.field-error').forEach((e) => e.remove());
      list.appendChild(next);
    }
    next.hidden = false;
    showChoices(next);
    next.querySelector('input[name$="_label"]').focus();
  });
  list.addEventListener('click', (e) => {
    const b = e.target.closest('[data-q-up], [data-q-down]');
    if (!b) return;
    const row = b.closest('[data-q-row]');
    if (b.hasAttribute('data-q-up') && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (b.hasAttribute('data-q-down') && row.nextElementSibling && !row.nextElementSibling.hidden) {
      list.insertBefore(row.nextElementSibling, row);
    }
    row.removeAttribute('data-q-blank');
    renumber();
    b.focus();
  });
})();

// Sending a patient URL (C4): the send button stays disabled until the number or address
// is valid for the chosen channel; 「送信しない」 needs neither. The server checks again.
(() => {
  const mobile = /^(\+81|0)[789]0-?\d{4}-?\d{4}$/;
  const email = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const toHalf = (s) => s.replace(/[０-９－＋]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/\s/g, '');
  document.querySelectorAll('[data-send]').forEach((scope) => {
    const form = scope.closest('form') || scope;
    const dest = form.querySelector('input[name=destination]');
    const submit = form.querySelector('[data-send-submit]');
    if (!dest || !submit) return;
    const check = () => {
      const chosen = form.querySelector('input[name=send]:checked');
      const channel = chosen ? chosen.value : 'none';
      const v = toHalf(dest.value.trim());
      const ok = channel === 'none' || (channel === 'sms' ? mobile.test(v) : email.test(v));
      submit.disabled = !ok;
      dest.disabled = channel === 'none';
    };
    form.addEventListener('input', check);
    form.addEventListener('change', check);
    check();
  });
})();

// 「このURLをコピー」: copies the field the button names.
document.querySelectorAll('[data-copy]').forEach((b) => {
  const field = document.querySelector(b.getAttribute('data-copy'));
  if (!field || !navigator.clipboard) return;
  b.hidden = false;
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      b.textContent = '✓ ' + b.textContent.replace(/^✓ /, '');
    } catch { field.select(); }
  });
});

// A visit page's room socket: being on the page is being in the room (the clinic sees the
// patient arrive and leave). Heartbeats every 20 s; after a drop it reconnects by itself
// with backoff, and the same visit continues. When the doctor starts or ends the visit the
// page follows at once.
(() => {
  const el = document.querySelector('[data-room-ws]');
  if (!el || !('WebSocket' in window)) return;
  let delay = 300;
  let current = null;
  // The call (call.js) rides on this socket: it sends through this handle and hears every
  // message as a `tsunagu:room` event, and `tsunagu:room-open` when the socket (re)opens.
  window.tsunaguRoom = {
    send(obj) { if (current && current.readyState === 1) current.send(JSON.stringify(obj)); },
    open() { return !!current && current.readyState === 1; },
  };
  const connect = () => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}${el.dataset.roomWs}`);
    current = ws;
    let beat;
    ws.addEventListener('open', () => {
      delay = 300;
      el.dataset.roomConnected = '1';
      beat = setInterval(() => { if (ws.readyState === 1) ws.send('beat'); }, 20000);
      window.dispatchEvent(new CustomEvent('tsunagu:room-open'));
    });
    ws.addEventListener('message', (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      window.dispatchEvent(new CustomEvent('tsunagu:room', { detail: m }));
      // A page may name states it need not reload for (the patient's waiting room: their
      // own arrival and leaving, which would otherwise reload it in a loop).
      const quiet = (el.dataset.roomQuiet || '').split(' ');
      if (m.kind === 'resync' || (m.kind === 'visit.state' && !(m.data && quiet.includes(m.data.state)))) location.reload();
      // A guest's page follows their own admission and revocation.
      if (m.kind && m.kind.startsWith('visit.guest_') && m.data && String(m.data.guest) === el.dataset.roomGuest) location.reload();
    });
    ws.addEventListener('close', () => {
      clearInterval(beat);
      delete el.dataset.roomConnected;
      // Reconnect quickly first: the call waits on this socket.
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  connect();
})();
