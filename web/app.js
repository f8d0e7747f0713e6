// rtgate demo client: plain JavaScript, no build step, no inline code, so
// the page's strict Content-Security-Policy holds. Secrets are kept in local
// variables only: never displayed, stored or logged.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const meta = document.querySelector('meta[name="rtgate-realtime-url"]');
  const realtimeURL = (meta ? meta.content : "").replace(/\/+$/, "");
  const maxEvents = 200;

  let session = null; // {pc, dc, mic, audio, timer, call}

  class UserError extends Error {}

  function show(msg) {
    const el = $("message");
    el.textContent = msg;
    el.hidden = false;
  }

  function clearMessage() {
    const el = $("message");
    el.textContent = "";
    el.hidden = true;
  }

  function setBadge(id, state) {
    const el = $(id);
    el.textContent = state;
    el.dataset.state = state;
  }

  function micError(err) {
    switch (err && err.name) {
      case "NotAllowedError":
      case "SecurityError":
        return new UserError("Microphone access was denied. Allow this site to use your microphone (see the icon in the address bar), then press Start again.");
      case "NotFoundError":
      case "OverconstrainedError":
        return new UserError("No microphone was found. Connect one and press Start again.");
      case "NotReadableError":
        return new UserError("The microphone is busy or unavailable (another application may be using it).");
      default:
        return new UserError("The microphone could not be opened.");
    }
  }

  // apiError turns a refused request into a message: rtgate's JSON error
  // body carries a safe message and a request id.
  async function apiError(resp, what) {
    let detail = "HTTP " + resp.status;
    try {
      const body = await resp.json();
      if (body && body.error) {
        detail = body.error.message || detail;
        if (body.error.request_id) detail += " (request id " + body.error.request_id + ")";
      }
    } catch (_) {
      // Not JSON: keep the status.
    }
    return new UserError(what + ": " + detail);
  }

  function addEvent(type, summary) {
    const list = $("events");
    const li = document.createElement("li");
    li.dataset.type = type;
    const code = document.createElement("code");
    code.textContent = type;
    li.appendChild(code);
    if (summary) {
      const span = document.createElement("span");
      span.textContent = summary;
      li.appendChild(span);
    }
    list.appendChild(li);
    while (list.children.length > maxEvents) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function onEvent(s, raw) {
    let ev;
    try {
      ev = JSON.parse(raw);
    } catch (_) {
      addEvent("(unparsable)", "");
      return;
    }
    const type = String(ev.type || "(no type)");
    let summary = "";
    if (ev.session) {
      summary = [ev.session.id, ev.session.model].filter(Boolean).join(" · ");
    } else if (ev.error) {
      summary = ev.error.message || "";
    }
    addEvent(type, summary);
    if (type === "session.created" && s.dc.readyState === "open") {
      // Show the round trip; instructions and tools stay the server's to set.
      s.dc.send(JSON.stringify({ type: "session.update", session: { type: "realtime", output_modalities: ["audio"] } }));
    }
  }

  // meter measures the remote audio with an AnalyserNode; the largest RMS
  // seen is kept in #energy's data-max.
  function meter(s, stream) {
    const src = s.audio.createMediaStreamSource(stream);
    const analyser = s.audio.createAnalyser();
    analyser.fftSize = 2048;
    src.connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    let max = 0;
    s.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const rms = Math.sqrt(sum / buf.length);
      max = Math.max(max, rms);
      $("level").value = Math.min(1, rms * 4);
      $("energy").textContent = rms.toFixed(3);
      $("energy").dataset.max = max.toFixed(4);
    }, 100);
  }

  function waitForICE(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ms);
    });
  }

  // viaToken: mint an ephemeral secret at rtgate, then post the offer to
  // the Realtime API with it.
  async function viaToken(s, offer) {
    const mint = await fetch("/api/realtime-session", { method: "POST", credentials: "same-origin" });
    if (!mint.ok) throw await apiError(mint, "rtgate refused the token");
    const secret = (await mint.json()).value;
    const resp = await fetch(realtimeURL + "/realtime/calls", {
      method: "POST",
      body: offer,
      headers: { Authorization: "Bearer " + secret, "Content-Type": "application/sdp" },
    });
    if (!resp.ok) throw await apiError(resp, "The Realtime API refused the call");
    const loc = resp.headers.get("Location") || "";
    s.call = { mode: "token", id: loc.split("/").pop() };
    return resp.text();
  }

  // viaProxy: post the offer to rtgate, which forwards it with the server
  // key and keeps the call id; hangups go through rtgate too.
  async function viaProxy(s, offer) {
    const resp = await fetch("/api/realtime-call", {
      method: "POST",
      body: offer,
      headers: { "Content-Type": "application/sdp" },
      credentials: "same-origin",
    });
    if (!resp.ok) throw await apiError(resp, "rtgate refused the call");
    const loc = resp.headers.get("Location") || "";
    s.call = { mode: "proxy", id: loc.split("/").pop(), location: loc, token: resp.headers.get("X-Call-Token") || "" };
    return resp.text();
  }

  async function start() {
    clearMessage();
    $("start").disabled = true;
    $("events").replaceChildren();
    const mode = document.querySelector('input[name="mode"]:checked').value;
    const AC = window.AudioContext || window.webkitAudioContext;
    // Created inside the click, so the autoplay policy lets it run.
    const s = { pc: null, dc: null, mic: null, audio: new AC(), timer: 0, call: null };
    session = s;
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new UserError("This page cannot use a microphone here: it needs a secure context (https, or localhost).");
      }
      try {
        s.mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err) {
        throw micError(err);
      }
      if (session !== s) return;
      const pc = new RTCPeerConnection();
      s.pc = pc;
      setBadge("pc-state", pc.connectionState);
      pc.addEventListener("connectionstatechange", () => setBadge("pc-state", pc.connectionState));
      pc.addEventListener("track", (e) => {
        const stream = e.streams[0] || new MediaStream([e.track]);
        $("remote").srcObject = stream;
        meter(s, stream);
      });
      for (const track of s.mic.getAudioTracks()) pc.addTrack(track, s.mic);
      const dc = pc.createDataChannel("oai-events");
      s.dc = dc;
      dc.addEventListener("open", () => setBadge("dc-state", "open"));
      dc.addEventListener("close", () => setBadge("dc-state", "closed"));
      dc.addEventListener("message", (e) => onEvent(s, e.data));

      await pc.setLocalDescription(await pc.createOffer());
      await waitForICE(pc, 2000);
      const offer = pc.localDescription.sdp;
      const answer = mode === "proxy" ? await viaProxy(s, offer) : await viaToken(s, offer);
      if (session !== s) return;
      $("call-id").textContent = s.call.id || "–";
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      $("stop").disabled = false;
    } catch (err) {
      show(err instanceof UserError ? err.message : "The session could not be started: " + (err && err.message ? err.message : String(err)));
      teardown(s);
      hangup(s.call);
    }
  }

  function teardown(s) {
    if (!s) return;
    clearInterval(s.timer);
    if (s.dc) s.dc.close();
    if (s.pc) s.pc.close();
    if (s.mic) for (const t of s.mic.getTracks()) t.stop();
    if (s.audio) s.audio.close().catch(() => {});
    $("remote").srcObject = null;
    if (session === s) session = null;
    setBadge("pc-state", s.pc ? "closed" : "idle");
    setBadge("dc-state", "closed");
    $("level").value = 0;
    $("start").disabled = false;
    $("stop").disabled = true;
  }

  // hangup ends a proxied call at rtgate. An anonymous call is proven ours
  // by the token rtgate returned with it.
  function hangup(call) {
    if (!call || call.mode !== "proxy" || !call.location) return;
    fetch(call.location + "/hangup", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(call.token ? { call_token: call.token } : {}),
      credentials: "same-origin",
      keepalive: true, // survives the page being closed
    }).catch(() => {});
  }

  function stop() {
    const s = session;
    if (!s) return;
    teardown(s);
    hangup(s.call);
  }

  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  window.addEventListener("pagehide", stop);
})();
