// The video call of a visit page (C6, C9): one RTCPeerConnection to tsunagu's SFU, signalled
// over the page's room socket (app.js owns it; this file listens to its messages and sends
// through window.tsunaguRoom).
//
// The connection has a fixed layout so nobody joining or leaving needs a renegotiation: our
// microphone and camera (three simulcast layers q/h/f), then five receive-only audio+video
// pairs. The server's `rtc.tiles` says which pair shows whom.
//
// Recovery: when ICE drops with the socket still up, an ICE restart on the same connection
// (media resumes as soon as the path is back); when the socket itself was lost (the server
// dropped this connection), or the restart does not bring it back, a new connection.
(() => {
  const root = document.querySelector('[data-call]');
  if (!root || !window.RTCPeerConnection || !navigator.mediaDevices) return;
  const L = JSON.parse(root.dataset.callLabels || '{}');
  const tilesEl = root.querySelector('[data-call-tiles]');
  const selfVideo = root.querySelector('[data-call-self]');
  const statusEl = root.querySelector('[data-call-status]');
  const micBtn = root.querySelector('[data-call-mic]');
  const camBtn = root.querySelector('[data-call-cam]');
  const camSel = root.querySelector('[data-call-camera]');
  const tapBtn = root.querySelector('[data-call-tap]');
  const SLOTS = 5;
  const LAYERS = [
    { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: 'f', maxBitrate: 1500000 },
  ];
  let stream = null;
  let pc = null;
  let audioOn = true;
  let videoOn = true;
  let tiles = [];
  let speaker = null;
  // The last speaker who has a tile here: featured (larger) until someone else with a tile
  // speaks, so our own voice does not shuffle the layout.
  let featured = null;
  let restartTimer = null;
  let rebuildDelay = 500; // before a new connection after the server dropped one
  let closed = false;
  let ready = false;
  let iceServers = null; // from the server's `rtc.ice`, sent when the socket opens
  const byMid = new Map(); // mid -> MediaStream of that receiver
  const say = (key) => { statusEl.textContent = L[key] || ''; statusEl.dataset.state = key; };

  async function openDevices(deviceId) {
    const video = deviceId ? { deviceId: { exact: deviceId } } : { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' };
    return navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video });
  }

  function send(obj) {
    if (window.tsunaguRoom) window.tsunaguRoom.send(obj);
  }

  function newConnection() {
    // A fresh connection replaces any the server still holds for this page (its keys
    // differ, so it cannot be renegotiated): leave first, then offer.
    if (pc) { pc.onconnectionstatechange = null; pc.close(); send({ t: 'rtc.hangup' }); }
    byMid.clear();
    pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    window.tsunaguCall = { pc: () => pc, tiles: () => tiles };
    const a = stream && stream.getAudioTracks()[0];
    const v = stream && stream.getVideoTracks()[0];
    pc.addTransceiver(a || 'audio', { direction: 'sendonly', streams: stream ? [stream] : [] });
    pc.addTransceiver(v || 'video', { direction: 'sendonly', streams: stream ? [stream] : [], sendEncodings: LAYERS });
    for (let i = 0; i < SLOTS; i++) {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    pc.ontrack = (e) => {
      const mid = e.transceiver.mid;
      byMid.set(mid, new MediaStream([e.track]));
      render();
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'connected') { say('connected'); clearTimeout(restartTimer); restartTimer = null; rebuildDelay = 500; }
      if (s === 'disconnected' || s === 'failed') {
        say('reconnecting');
        // A brief dip heals itself; otherwise restart ICE on this connection at once.
        if (!restartTimer) restartTimer = setTimeout(() => { restartTimer = null; restart(); }, s === 'failed' ? 0 : 600);
      }
    };
    return offer(false);
  }

  async function offer(iceRestart) {
    const o = await pc.createOffer({ iceRestart });
    await pc.setLocalDescription(o);
    send({ t: 'rtc.offer', sdp: pc.localDescription.sdp });
  }

  let restarts = 0;
  function restart() {
    if (closed || !pc) return;
    restarts += 1;
    // Two ICE restarts without success: a new connection.
    if (restarts > 2) { restarts = 0; newConnection(); return; }
    offer(true).catch(() => newConnection());
    restartTimer = setTimeout(() => { restartTimer = null; if (pc && pc.connectionState !== 'connected') restart(); }, 3000);
  }

  function roleLabel(t) { return t.name ? `${t.name}（${L['role_' + t.role] || t.role}）` : (L['role_' + t.role] || t.role); }

  function render() {
    const keep = new Set();
    for (const t of tiles) {
      keep.add(t.key);
      let fig = tilesEl.querySelector(`[data-key="${CSS.escape(t.key)}"]`);
      if (!fig) {
        fig = document.createElement('figure');
        fig.className = 'call-tile';
        fig.dataset.key = t.key;
        fig.innerHTML = '<video autoplay playsinline muted></video><audio autoplay></audio><figcaption></figcaption><p class="call-off"></p>';
        tilesEl.appendChild(fig);
      }
      const video = fig.querySelector('video');
      const audio = fig.querySelector('audio');
      const vs = byMid.get(t.video_mid);
      const as = byMid.get(t.audio_mid);
      if (vs && video.srcObject !== vs) video.srcObject = vs;
      if (as && audio.srcObject !== as) {
        audio.srcObject = as;
        audio.play().catch(() => { if (tapBtn) tapBtn.hidden = false; });
      }
      fig.querySelector('figcaption').textContent = roleLabel(t) + (t.audio ? '' : ` ${L.muted}`);
      const off = !t.video ? L.camera_off : (t.paused ? L.audio_only : '');
      const offEl = fig.querySelector('.call-off');
      offEl.textContent = off;
      offEl.hidden = !off;
      fig.dataset.video = t.video ? (t.paused ? 'paused' : 'on') : 'off';
      fig.dataset.audio = t.audio ? 'on' : 'off';
      fig.dataset.layer = t.layer || '';
      fig.classList.toggle('speaking', speaker === t.key);
      fig.classList.toggle('featured', featured === t.key);
    }
    for (const fig of [...tilesEl.children]) if (!keep.has(fig.dataset.key)) fig.remove();
    tilesEl.dataset.count = String(tiles.length);
    root.querySelector('[data-call-empty]').hidden = tiles.length > 0;
  }

  function onMessage(m) {
    if (!m || !m.kind || !m.kind.startsWith('rtc.')) return;
    if (m.kind === 'rtc.ice') {
      // The socket (re)opened and we may have media: the server has no connection for this
      // page now, so start one (a new one after a lost socket).
      iceServers = m.data.iceServers || [];
      start();
    } else if (m.kind === 'rtc.answer' && pc) {
      pc.setRemoteDescription({ type: 'answer', sdp: m.data.sdp }).catch(() => say('failed'));
    } else if (m.kind === 'rtc.tiles') {
      tiles = m.data.tiles || [];
      render();
    } else if (m.kind === 'rtc.speaker') {
      speaker = m.data.key;
      if (tiles.some((t) => t.key === speaker)) featured = speaker;
      render();
    } else if (m.kind === 'rtc.error') {
      statusEl.textContent = m.data.message;
      statusEl.dataset.state = 'error';
    } else if (m.kind === 'rtc.closed') {
      if (pc) { pc.onconnectionstatechange = null; pc.close(); }
      pc = null;
      tiles = [];
      render();
      if (m.data && m.data.why === 'failed') {
        // The connection broke on the server's side: a new one, after a pause that grows
        // while it keeps failing.
        say('reconnecting');
        clearTimeout(restartTimer);
        restartTimer = setTimeout(() => { restartTimer = null; start(); }, rebuildDelay);
        rebuildDelay = Math.min(rebuildDelay * 2, 10000);
        return;
      }
      // Removed from the call, or this participant joined from another page.
      closed = true;
      say('closed');
    }
  }

  function announce() { send({ t: 'rtc.media', audio: audioOn, video: videoOn }); }

  micBtn.addEventListener('click', () => {
    audioOn = !audioOn;
    stream && stream.getAudioTracks().forEach((t) => { t.enabled = audioOn; });
    micBtn.setAttribute('aria-pressed', String(!audioOn));
    micBtn.textContent = audioOn ? L.mute : L.unmute;
    announce();
  });
  camBtn.addEventListener('click', () => {
    videoOn = !videoOn;
    stream && stream.getVideoTracks().forEach((t) => { t.enabled = videoOn; });
    camBtn.setAttribute('aria-pressed', String(!videoOn));
    camBtn.textContent = videoOn ? L.camera_stop : L.camera_start;
    announce();
  });
  if (tapBtn) tapBtn.addEventListener('click', () => {
    tilesEl.querySelectorAll('audio, video').forEach((el) => el.play().catch(() => {}));
    tapBtn.hidden = true;
  });
  if (camSel) camSel.addEventListener('change', async () => {
    // Switching camera mid-call: the sender's track is replaced, no renegotiation.
    try {
      const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: camSel.value } } });
      const track = s.getVideoTracks()[0];
      track.enabled = videoOn;
      const sender = pc && pc.getSenders().find((x) => x.track && x.track.kind === 'video');
      if (sender) await sender.replaceTrack(track);
      stream.getVideoTracks().forEach((t) => { stream.removeTrack(t); t.stop(); });
      stream.addTrack(track);
      selfVideo.srcObject = stream;
    } catch { say('device_failed'); }
  });

  async function listCameras() {
    if (!camSel) return;
    const devs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    camSel.innerHTML = '';
    devs.forEach((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${L.camera} ${i + 1}`;
      camSel.appendChild(o);
    });
    camSel.hidden = devs.length < 2;
  }

  function start() {
    if (closed || !ready || iceServers === null) return;
    say('connecting');
    newConnection().then(announce).catch(() => say('failed'));
  }

  window.addEventListener('tsunagu:room', (e) => onMessage(e.detail));

  (async () => {
    say('starting');
    try {
      stream = await openDevices();
      selfVideo.srcObject = stream;
      listCameras().catch(() => {});
    } catch {
      // No camera or microphone: still receive the others.
      stream = null;
      say('no_devices');
    }
    ready = true;
    start();
  })();
})();
