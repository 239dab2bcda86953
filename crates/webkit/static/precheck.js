// A patient's visit pages: the pre-call check (C7) and the waiting room's self view. The
// room's socket is app.js's. Every sentence comes from the page (the catalogues); this file
// only decides which to show. Plain ES2017 (no ?. or ??) so that an older browser still gets
// far enough to show its advice; the server's page already turned away what cannot work.
(() => {
  'use strict';

  const KEY = 'tsunagu.precheck';
  const remember = (v) => { try { sessionStorage.setItem(KEY, JSON.stringify(v)); } catch (e) { /* private mode */ } };
  const recalled = () => { try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { return null; } };
  const stop = (s) => { if (s) s.getTracks().forEach((t) => t.stop()); };

  // What went wrong with getUserMedia, in the four cases the page explains.
  const failure = (e) => {
    const n = e && e.name;
    if (n === 'NotAllowedError' || n === 'PermissionDeniedError') return 'denied';
    if (n === 'NotFoundError' || n === 'DevicesNotFoundError' || n === 'OverconstrainedError') return 'missing';
    if (n === 'NotReadableError' || n === 'TrackStartError' || n === 'AbortError') return 'busy';
    return 'other';
  };

  // Which help to show first: iPhone/iPad (iPadOS says "Macintosh" but has touch), Android,
  // Safari on a Mac, else a PC's Chrome or Edge.
  const platform = () => {
    const ua = navigator.userAgent;
    if (/iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return 'ios';
    if (/Android/.test(ua)) return 'android';
    if (/Macintosh/.test(ua) && !/Chrome\/|Chromium\/|Edg\/|Firefox\//.test(ua)) return 'mac';
    return 'pc';
  };

  const check = (root) => {
    const $ = (sel) => document.querySelector(sel);
    const say = (k) => { const el = document.querySelector(`#pc-words [data-say="${k}"]`); return el ? el.textContent.trim() : ''; };
    const md = navigator.mediaDevices;
    const capable = !!(md && md.getUserMedia) && 'RTCPeerConnection' in window && 'WebSocket' in window;
    const AC = window.AudioContext || window.webkitAudioContext;
    const video = $('#pc-video');
    const level = $('#pc-level');
    const camSelect = $('#pc-cam');
    const micSelect = $('#pc-mic-select');
    let stream = null;
    let audio = null;
    let meter = null;
    let quietTimer = null;
    let run = 0;
    let lastDenied = false;
    const results = {};

    root.hidden = false;

    // Help for "not allowed": the patient's own device first and open, the others folded.
    const howto = $('#pc-howto');
    const mine = howto.querySelector(`[data-platform="${platform()}"]`);
    if (mine) {
      mine.open = true;
      howto.insertBefore(mine, howto.firstChild);
      const others = $('#pc-others');
      others.hidden = false;
      howto.insertBefore(others, mine.nextSibling);
    }

    const item = (name) => $(`#pc-${name}`);
    const setState = (name, state, help) => {
      const el = item(name);
      results[name] = state;
      el.dataset.state = state;
      const word = el.querySelector('.pc-word');
      if (word) word.textContent = say(state === 'wait' ? 'checking' : state);
      if (help !== undefined) {
        el.querySelectorAll('[data-help]').forEach((h) => { h.hidden = h.dataset.help !== help; });
      }
      summarise();
    };

    const summarise = () => {
      const states = ['camera', 'mic', 'net'].map((n) => results[n]);
      const done = states.every((s) => s && s !== 'wait');
      const worst = states.indexOf('ng') >= 0 ? 'ng' : states.indexOf('warn') >= 0 ? 'warn' : 'ok';
      const summary = $('#pc-summary');
      summary.dataset.state = done ? worst : 'wait';
      summary.textContent = say(done ? `summary-${worst}` : 'summary-wait');
      $('#pc-go-warn').hidden = !(done && worst === 'ng');
      $('#pc-retry').hidden = !(done && worst !== 'ok');
      $('#pc-go-top').hidden = !(done && worst !== 'ng'); // no scrolling past the checks
      if (done) {
        root.dataset.done = String(run);
        const cam = stream && stream.getVideoTracks()[0];
        const mic = stream && stream.getAudioTracks()[0];
        remember({
          ok: worst !== 'ng',
          camOk: results.camera === 'ok',
          cam: cam && cam.getSettings ? cam.getSettings().deviceId : null,
          mic: mic && mic.getSettings ? mic.getSettings().deviceId : null,
        });
      }
    };

    // ---- camera and microphone ----
    const constraints = (camId, micId) => ({
      video: camId ? { deviceId: { exact: camId } } : { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
      audio: micId ? { deviceId: { exact: micId } } : true,
    });

    // Both at once (one permission prompt); after any failure but a refusal, each alone, so
    // that a missing or busy camera does not hide a working microphone.
    const open = async (camId, micId) => {
      const c = constraints(camId, micId);
      try {
        return { stream: await md.getUserMedia(c), cam: null, mic: null };
      } catch (e) {
        const why = failure(e);
        if (why === 'denied') return { stream: null, cam: 'denied', mic: 'denied' };
        let cam = null;
        let mic = null;
        const tracks = [];
        try { tracks.push(...(await md.getUserMedia({ video: c.video })).getTracks()); } catch (ev) { cam = failure(ev); }
        try { tracks.push(...(await md.getUserMedia({ audio: c.audio })).getTracks()); } catch (ea) { mic = failure(ea); }
        return { stream: tracks.length ? new MediaStream(tracks) : null, cam, mic };
      }
    };

    const fill = (select, kind, current) => md.enumerateDevices().then((all) => {
      const list = all.filter((d) => d.kind === kind && d.deviceId);
      select.textContent = '';
      list.forEach((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `${i + 1}`;
        o.selected = d.deviceId === current;
        select.appendChild(o);
      });
      select.parentElement.hidden = list.length < 2;
    }).catch(() => { select.parentElement.hidden = true; });

    const context = () => {
      if (!audio && AC) audio = new AC();
      return audio;
    };
    const wake = () => { if (audio && audio.state === 'suspended') audio.resume().catch(() => {}); };

    // The level meter: the loudness of the last moment, and the loudest yet (data-peak).
    const listen = (s) => {
      const ac = context();
      if (!ac || !s.getAudioTracks().length) return;
      const src = ac.createMediaStreamSource(s);
      const an = ac.createAnalyser();
      an.fftSize = 1024;
      src.connect(an);
      const buf = new Uint8Array(an.fftSize);
      let peak = 0;
      const mine = {};
      meter = mine;
      const tapHelp = item('mic').querySelector('[data-help="mic-tap"]');
      const frame = () => {
        if (meter !== mine) { src.disconnect(); return; }
        tapHelp.hidden = ac.state !== 'suspended';
        an.getByteTimeDomainData(buf);
        let sum = 0;
        for (let i = 0; i < buf.length; i++) { const x = (buf[i] - 128) / 128; sum += x * x; }
        const rms = Math.sqrt(sum / buf.length);
        const v = Math.min(1, rms * 4);
        level.style.width = `${Math.round(v * 100)}%`;
        if (v > peak) { peak = v; level.dataset.peak = peak.toFixed(3); }
        if (peak > 0.04 && results.mic === 'warn') setState('mic', 'ok', '');
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      wake();
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => {
        if (meter === mine && peak <= 0.04 && ac.state === 'running' && results.mic === 'ok') setState('mic', 'warn', 'mic-quiet');
      }, 8000);
    };

    const startMedia = async (camId, micId) => {
      if (!capable) {
        $('#pc-unsupported').hidden = false;
        if (window.isSecureContext === false) $('#pc-insecure').hidden = false;
        setState('camera', 'ng', '');
        setState('mic', 'ng', '');
        return;
      }
      const asking = setTimeout(() => { $('#pc-prompt').hidden = false; }, 600);
      let got;
      try {
        got = await open(camId, micId);
        // A chosen device that has gone (unplugged): the default one instead.
        if ((camId || micId) && (got.cam === 'missing' || got.mic === 'missing')) {
          stop(got.stream);
          got = await open(null, null);
        }
      } finally {
        clearTimeout(asking);
        $('#pc-prompt').hidden = true;
      }
      stream = got.stream;
      lastDenied = got.cam === 'denied' || got.mic === 'denied';
      $('#pc-allow').hidden = !lastDenied;
      const helpFor = (why, missing) => (why === 'missing' ? missing : why === 'denied' ? '' : why);
      const cam = stream && stream.getVideoTracks()[0];
      const mic = stream && stream.getAudioTracks()[0];
      if (cam) {
        video.srcObject = new MediaStream([cam]);
        const p = video.play();
        if (p && p.catch) p.catch(() => {});
        setState('camera', 'ok', '');
        fill(camSelect, 'videoinput', cam.getSettings ? cam.getSettings().deviceId : '');
      } else {
        setState('camera', 'ng', helpFor(got.cam || 'other', 'no-camera'));
      }
      if (mic) {
        setState('mic', 'ok', '');
        listen(new MediaStream([mic]));
        fill(micSelect, 'audioinput', mic.getSettings ? mic.getSettings().deviceId : '');
      } else {
        setState('mic', 'ng', helpFor(got.mic || 'other', 'no-mic'));
      }
    };

    // ---- the connection: round trips, then a download ----
    const probe = root.dataset.probe;
    const timed = async (kb, limitMs) => {
      const ctl = window.AbortController ? new AbortController() : null;
      const timer = setTimeout(() => { if (ctl) ctl.abort(); }, limitMs);
      const t0 = performance.now();
      try {
        const r = await fetch(`${probe}?kb=${kb}&n=${Date.now()}`, { cache: 'no-store', credentials: 'same-origin', signal: ctl ? ctl.signal : undefined });
        if (!r.ok) throw new Error(String(r.status));
        const body = await r.arrayBuffer();
        return { ms: Math.max(1, performance.now() - t0), bytes: body.byteLength };
      } finally {
        clearTimeout(timer);
      }
    };
    const sent = async (kb, limitMs) => {
      const ctl = window.AbortController ? new AbortController() : null;
      const timer = setTimeout(() => { if (ctl) ctl.abort(); }, limitMs);
      const body = new Uint8Array(kb * 1024);
      // Incompressible, like the download (getRandomValues fills 64 KB at a time).
      for (let i = 0; i < body.length; i += 65536) crypto.getRandomValues(body.subarray(i, i + 65536));
      const t0 = performance.now();
      try {
        const r = await fetch(`${probe}?n=${Date.now()}`, { method: 'POST', body, headers: { 'X-CSRF-Token': root.dataset.csrf || '' }, cache: 'no-store', credentials: 'same-origin', signal: ctl ? ctl.signal : undefined });
        if (!r.ok) throw new Error(String(r.status));
        const got = await r.json();
        return { ms: Math.max(1, performance.now() - t0), bytes: got.bytes };
      } finally {
        clearTimeout(timer);
      }
    };
    const fmt = (m) => (m >= 10 ? String(Math.round(m)) : m.toFixed(1));
    const startNet = async () => {
      const verdict = $('#pc-verdict');
      const detail = $('#pc-net-detail');
      verdict.textContent = '';
      detail.textContent = '';
      try {
        const trips = [];
        for (let i = 0; i < 5; i++) trips.push((await timed(0, 5000)).ms);
        trips.shift(); // the first one also opens the connection
        trips.sort((a, b) => a - b);
        const rtt = trips[Math.floor(trips.length / 2)];
        let d = await timed(256, 20000);
        if (d.ms < 500) d = await timed(1024, 20000); // fast: a larger sample is truer
        // The upload: the patient's camera travels this way, so it decides as much.
        let u = await sent(256, 20000);
        if (u.ms < 500) u = await sent(1024, 20000);
        const down = (d.bytes * 8) / (d.ms / 1000) / 1e6;
        const up = (u.bytes * 8) / (u.ms / 1000) / 1e6;
        const mbps = Math.min(down, up);
        item('net').dataset.down = down.toFixed(2);
        item('net').dataset.up = up.toFixed(2);
        const v = mbps >= 2 && rtt < 300 ? 'good' : mbps >= 1 && rtt < 800 ? 'unstable' : 'slow';
        verdict.textContent = say(`net-${v}`);
        detail.textContent = say('net-detail')
          .replace('%{mbps}', fmt(mbps))
          .replace('%{down}', fmt(down))
          .replace('%{up}', fmt(up))
          .replace('%{ms}', String(Math.round(rtt)));
        item('net').dataset.mbps = mbps.toFixed(2);
        setState('net', v === 'good' ? 'ok' : v === 'unstable' ? 'warn' : 'ng', v === 'good' ? '' : 'net-tips');
      } catch (e) {
        verdict.textContent = say('net-failed');
        setState('net', 'ng', 'net-tips');
      }
    };

    const begin = (camId, micId) => {
      run += 1;
      meter = null;
      stop(stream);
      stream = null;
      delete root.dataset.done;
      ['camera', 'mic', 'net'].forEach((n) => setState(n, 'wait', ''));
      return Promise.all([startMedia(camId, micId), startNet()]);
    };

    // Another camera or microphone chosen: only the media again.
    const rechoose = () => {
      meter = null;
      stop(stream);
      stream = null;
      setState('camera', 'wait', '');
      setState('mic', 'wait', '');
      startMedia(camSelect.value || null, micSelect.value || null);
    };
    camSelect.addEventListener('change', rechoose);
    micSelect.addEventListener('change', rechoose);

    // After a refusal some browsers (Safari) ask again only on a fresh page.
    document.querySelectorAll('[data-retry]').forEach((b) => b.addEventListener('click', () => {
      if (lastDenied) location.reload();
      else begin(null, null);
    }));

    // The speaker: a one-second 440 Hz tone, faded in and out (no click).
    $('#pc-tone').addEventListener('click', () => {
      const ac = context();
      if (!ac) return;
      wake();
      const t = ac.currentTime + 0.05;
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      osc.type = 'sine';
      osc.frequency.value = 440;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.3, t + 0.05);
      gain.gain.setValueAtTime(0.3, t + 0.9);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 1);
      osc.connect(gain);
      gain.connect(ac.destination);
      osc.start(t);
      osc.stop(t + 1.05);
      item('speaker').dataset.state = 'played';
      $('#pc-tone-help').hidden = false;
    });
    // Browsers start sound only after a touch: any touch wakes the meter too.
    ['pointerdown', 'keydown'].forEach((ev) => document.addEventListener(ev, wake));
    $('#pc-mic-tap').addEventListener('click', wake);

    // Leaving for the room lets the camera go (the room opens it again for the self view).
    window.addEventListener('pagehide', () => { meter = null; stop(stream); });

    begin(null, null);
  };

  // The waiting room: a small self view, when the check (or the browser) says the camera is
  // already allowed — never a new permission prompt here.
  const selfView = (box) => {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) return;
    const saved = recalled();
    const show = async () => {
      try {
        const s = await md.getUserMedia({
          video: saved && saved.cam ? { deviceId: { ideal: saved.cam } } : { facingMode: 'user', width: { ideal: 640 } },
          audio: false,
        });
        const v = box.querySelector('video');
        v.srcObject = s;
        box.hidden = false;
        const p = v.play();
        if (p && p.catch) p.catch(() => {});
        window.addEventListener('pagehide', () => stop(s));
      } catch (e) { /* no self view: the room works without it */ }
    };
    if (saved && saved.camOk) {
      show();
    } else if (navigator.permissions && navigator.permissions.query) {
      navigator.permissions.query({ name: 'camera' })
        .then((p) => { if (p.state === 'granted') show(); })
        .catch(() => {});
    }
  };

  const root = document.querySelector('[data-precheck]');
  if (root) check(root);
  const box = document.querySelector('[data-self-view]');
  if (box) selfView(box);
})();
