// rtgate demo page: the user interface around rtgate's client module
// (rtgate-client.js), which does all the WebRTC and HTTP work. Plain
// JavaScript, no build step, no inline code, so the page's strict
// Content-Security-Policy holds.
import { connect, RtgateError } from "./rtgate-client.js";

const $ = (id) => document.getElementById(id);
const meta = document.querySelector('meta[name="rtgate-realtime-url"]');
const realtimeURL = meta ? meta.content : "";
const maxEvents = 200;

const usageEveryMs = 2000;

let session = null; // {conn, abort, audio, timer, usageTimer}

function show(err) {
  const el = $("message");
  let text = err instanceof RtgateError ? err.message : "The session could not be started: " + String(err && err.message ? err.message : err);
  if (err instanceof RtgateError && err.source !== "browser") {
    const details = [err.code];
    if (err.retryAfter !== null) details.push("retry in " + err.retryAfter + " s");
    if (err.requestId) details.push("request id " + err.requestId);
    text += " (" + details.join(", ") + ")";
  }
  el.textContent = text;
  el.dataset.code = err instanceof RtgateError ? err.code : "";
  el.hidden = false;
}

function clearMessage() {
  const el = $("message");
  el.textContent = "";
  el.dataset.code = "";
  el.hidden = true;
}

function setBadge(id, state) {
  const el = $(id);
  el.textContent = state;
  el.dataset.state = state;
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

function onEvent(mode, ev, conn) {
  const type = String(ev.type || "(no type)");
  let summary = "";
  if (ev.session && typeof ev.session === "object") {
    summary = [ev.session.id, ev.session.model].filter(Boolean).join(" · ");
  } else if (ev.error && typeof ev.error === "object") {
    summary = ev.error.message || "";
  }
  addEvent(type, summary);
  if (type === "session.created" && mode !== "live") {
    // Show the round trip; instructions and tools stay the server's to set.
    conn.send({ type: "session.update", session: { type: "realtime", output_modalities: ["audio"] } });
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
  clearInterval(s.timer);
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

// showUsage shows what rtgate metered for the call so far. The page cannot
// see rtgate's sideband: it asks rtgate (conn.status(), GET on the call's
// URL), whose figure is the one the user is accounted for.
function showUsage(st) {
  const u = st.usage || {};
  const el = $("usage");
  const input = (u.input_text_tokens || 0) + (u.input_audio_tokens || 0) + (u.input_image_tokens || 0);
  const cached = (u.cached_text_tokens || 0) + (u.cached_audio_tokens || 0) + (u.cached_image_tokens || 0);
  const output = (u.output_text_tokens || 0) + (u.output_audio_tokens || 0);
  const parts = [];
  if (st.kind === "live") {
    parts.push(((u.live_ms || 0) / 1000).toFixed(1) + " s of voice");
  } else {
    parts.push((u.responses || 0) + " responses", input + " tokens in (" + cached + " cached)", output + " tokens out");
  }
  el.textContent = parts.join(" · ");
  el.dataset.responses = String(u.responses || 0);
  el.dataset.outputTokens = String(output);
  el.dataset.liveMs = String(u.live_ms || 0);
}

// pollUsage refreshes the usage while the call runs; when rtgate no longer
// knows the call (it ended it: idle, policy, maximum duration, a block),
// the page says so and cleans up.
function pollUsage(s) {
  if (s.conn.mode === "token") {
    $("usage").textContent = "not metered in token mode";
    return;
  }
  const tick = async () => {
    try {
      showUsage(await s.conn.status());
    } catch (err) {
      if (session !== s) return;
      if (err instanceof RtgateError && err.code === "not_found") {
        show(new RtgateError("rtgate ended the call.", { code: "call_ended" }));
        teardown(s);
      }
    }
  };
  tick();
  s.usageTimer = setInterval(tick, usageEveryMs);
}

function watch(conn) {
  const pc = conn.pc;
  const dc = conn.dc;
  setBadge("pc-state", pc.connectionState);
  pc.addEventListener("connectionstatechange", () => setBadge("pc-state", pc.connectionState));
  setBadge("dc-state", dc.readyState);
  dc.addEventListener("open", () => setBadge("dc-state", "open"));
  dc.addEventListener("close", () => setBadge("dc-state", "closed"));
}

async function start() {
  clearMessage();
  $("start").disabled = true;
  $("stop").disabled = false;
  $("events").replaceChildren();
  showUsage({ usage: {} });
  $("usage").textContent = "–";
  const mode = document.querySelector('input[name="mode"]:checked').value;
  const AC = window.AudioContext || window.webkitAudioContext;
  // Created inside the click, so the autoplay policy lets it run.
  const s = { conn: null, abort: new AbortController(), audio: new AC(), timer: 0, usageTimer: 0 };
  session = s;
  setBadge("pc-state", "connecting");
  try {
    s.conn = await connect({
      mode,
      realtimeURL,
      audioElement: $("remote"),
      onEvent: (ev, conn) => onEvent(mode, ev, conn),
      onTrack: (stream) => meter(s, stream),
      signal: s.abort.signal,
    });
  } catch (err) {
    if (session === s) {
      show(err);
      teardown(s);
    }
    return;
  }
  $("call-id").textContent = s.conn.callId || "–";
  watch(s.conn);
  pollUsage(s);
}

function teardown(s) {
  clearInterval(s.timer);
  clearInterval(s.usageTimer);
  s.abort.abort();
  if (s.conn) s.conn.hangup().catch(show);
  s.audio.close().catch(() => {});
  if (session === s) session = null;
  setBadge("pc-state", s.conn ? "closed" : "idle");
  setBadge("dc-state", "closed");
  $("level").value = 0;
  $("start").disabled = false;
  $("stop").disabled = true;
}

function stop() {
  if (session) teardown(session);
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
