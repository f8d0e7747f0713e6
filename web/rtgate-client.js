// rtgate-client.js: a small browser client for rtgate. One ES module, no
// dependencies, no build step: import it from rtgate (/rtgate-client.js) or
// copy this file into your app. Types: rtgate-client.d.ts. Guide:
// docs/browser.md and docs/migrate-from-nextjs.md in the rtgate repository.
//
//   import { connect } from "/rtgate-client.js";
//   const rt = await connect({ mode: "call", onEvent: (ev) => console.log(ev.type) });
//   ...
//   await rt.hangup();
//
// Modes:
//   "call"  POST the SDP offer to rtgate's /api/realtime-call; rtgate forwards
//           it with the server key. No secret reaches the page; rtgate holds
//           the call to the server's session, meters it and can end it.
//           Hang-up: POST <call>/hangup; status and usage: GET <call>.
//   "live"  The same for GPT-Live: POST /api/live-session.
//   "token" POST /api/realtime-session for a short-lived ek_ secret, then post
//           the offer to the Realtime API ({realtimeURL}/realtime/calls) with
//           it. rtgate cannot control the call once the secret is out.
//
// Secrets never leave local variables: the module does not log, store or
// expose the ek_ secret or the hang-up token.

const EVENTS_LABEL = "oai-events";
const DEFAULT_REALTIME_URL = "https://api.openai.com/v1";
const DEFAULT_ICE_TIMEOUT_MS = 2000;
const MINT_PATH = "/api/realtime-session";
const OFFER_PATHS = { call: "/api/realtime-call", live: "/api/live-session" };
const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * RtgateError is the one error type connect(), send() and hangup() reject
 * with. code is rtgate's error code when rtgate refused the request
 * (source "rtgate"), OpenAI's in token mode (source "openai"), or one of the
 * client's own codes (source "browser"); retryAfter is Retry-After in
 * seconds, or null.
 */
export class RtgateError extends Error {
  constructor(message, init = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "RtgateError";
    this.code = init.code || "error";
    this.status = init.status || 0;
    this.retryAfter = init.retryAfter === undefined ? null : init.retryAfter;
    this.requestId = init.requestId || "";
    this.source = init.source || "browser";
  }
}

/**
 * connect opens the microphone, creates the peer connection and the
 * "oai-events" data channel, exchanges SDP in the chosen mode and resolves
 * with the connection once the answer is applied. On failure everything it
 * opened is closed (a server-side call it created is hung up) and it rejects
 * with an RtgateError.
 */
export async function connect(options) {
  const o = normalize(options);
  const s = {
    o,
    pc: null,
    dc: null,
    mic: null,
    ownMic: false,
    audio: o.audioElement,
    call: null, // {id, url, token, auth} once a call exists
    closed: false, // hangup() ran
    ended: null, // the request to rtgate to end the call, once sent
    onPageHide: null,
  };
  const conn = {
    get mode() { return o.mode; },
    get pc() { return s.pc; },
    get dc() { return s.dc; },
    get microphone() { return s.mic; },
    get audioElement() { return s.audio; },
    get callId() { return s.call ? s.call.id : null; },
    get callURL() { return s.call ? s.call.url : null; },
    send(event) { send(s, event); },
    hangup() { return hangup(s); },
    status() { return status(s); },
  };
  if (o.hangupOnPageHide) {
    // From the start: a page closed while connect() waits for the answer
    // must not leave a call behind either.
    s.onPageHide = () => hangup(s, true).catch(() => {});
    window.addEventListener("pagehide", s.onPageHide);
  }
  try {
    checkpoint(s);
    s.mic = await openMicrophone(o);
    s.ownMic = !(o.microphone instanceof MediaStream);
    checkpoint(s);

    const pc = new RTCPeerConnection(o.rtcConfiguration);
    s.pc = pc;
    pc.addEventListener("track", (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      if (s.audio) s.audio.srcObject = stream;
      if (o.onTrack) o.onTrack(stream, conn);
    });
    for (const track of s.mic.getAudioTracks()) pc.addTrack(track, s.mic);
    const dc = pc.createDataChannel(EVENTS_LABEL);
    s.dc = dc;
    dc.addEventListener("message", (e) => {
      if (o.onEvent) o.onEvent(parseEvent(e.data), conn);
    });

    await pc.setLocalDescription(await pc.createOffer());
    await waitForICE(pc, o.iceGatheringTimeoutMs);
    const offer = pc.localDescription.sdp;
    const answer = o.mode === "token" ? await offerWithToken(s, offer) : await offerToRtgate(s, offer);
    checkpoint(s);
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (err) {
      throw new RtgateError("The browser could not apply the SDP answer: " + errorText(err), { code: "webrtc_failed", cause: err });
    }
    checkpoint(s);
  } catch (err) {
    hangup(s).catch(() => {});
    if (err instanceof RtgateError) throw err;
    throw new RtgateError("The session could not be started: " + errorText(err), { code: "webrtc_failed", cause: err });
  }
  return conn;
}

function normalize(options) {
  const o = Object.assign({}, options);
  if (o.mode !== "token" && o.mode !== "call" && o.mode !== "live") {
    throw new RtgateError('mode must be "token", "call" or "live", not ' + JSON.stringify(o.mode), { code: "invalid_options" });
  }
  o.base = String(o.base || "").replace(/\/+$/, "");
  o.realtimeURL = String(o.realtimeURL || DEFAULT_REALTIME_URL).replace(/\/+$/, "");
  o.credentials = o.credentials || "same-origin";
  o.headers = Object.assign({}, o.headers);
  if (o.audioElement === undefined) {
    o.audioElement = document.createElement("audio");
    o.audioElement.autoplay = true;
  }
  if (o.iceGatheringTimeoutMs === undefined) o.iceGatheringTimeoutMs = DEFAULT_ICE_TIMEOUT_MS;
  o.hangupOnPageHide = o.hangupOnPageHide !== false;
  return o;
}

function throwIfAborted(signal) {
  if (signal && signal.aborted) {
    throw new RtgateError("The session was cancelled.", { code: "aborted", cause: signal.reason });
  }
}

// checkpoint stops connect() between steps when it was cancelled or the
// connection was hung up meanwhile (the page was hidden).
function checkpoint(s) {
  throwIfAborted(s.o.signal);
  if (s.closed) throw new RtgateError("The session was hung up while it was connecting.", { code: "aborted" });
}

function errorText(err) {
  return err && err.message ? err.message : String(err);
}

// parseEvent turns one data channel message into an event object; a message
// that is not a JSON object arrives as {type: "rtgate.unparsable", data}.
function parseEvent(data) {
  try {
    const ev = JSON.parse(data);
    if (ev && typeof ev === "object" && !Array.isArray(ev)) return ev;
  } catch (_) {
    // Fall through.
  }
  return { type: "rtgate.unparsable", data: String(data) };
}

async function openMicrophone(o) {
  if (o.microphone instanceof MediaStream) return o.microphone;
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new RtgateError("This page cannot use a microphone here: it needs a secure context (https, or localhost).", { code: "insecure_context" });
  }
  try {
    return await navigator.mediaDevices.getUserMedia(o.microphone || { audio: true });
  } catch (err) {
    throw microphoneError(err);
  }
}

function microphoneError(err) {
  const init = { cause: err };
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new RtgateError("Microphone access was denied. Allow this site to use your microphone (see the icon in the address bar), then try again.", Object.assign(init, { code: "microphone_denied" }));
    case "NotFoundError":
    case "OverconstrainedError":
      return new RtgateError("No microphone was found. Connect one and try again.", Object.assign(init, { code: "microphone_not_found" }));
    case "NotReadableError":
      return new RtgateError("The microphone is busy or unavailable (another application may be using it).", Object.assign(init, { code: "microphone_busy" }));
    default:
      return new RtgateError("The microphone could not be opened.", Object.assign(init, { code: "microphone_failed" }));
  }
}

function waitForICE(pc, ms) {
  if (pc.iceGatheringState === "complete" || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

// authorization returns the Authorization header value for rtgate requests,
// or "" for none.
async function authorization(o) {
  if (!o.getAuthHeader) return "";
  let v;
  try {
    v = await o.getAuthHeader();
  } catch (err) {
    throw new RtgateError("getAuthHeader failed: " + errorText(err), { code: "auth_header_failed", cause: err });
  }
  return v ? String(v) : "";
}

function rtgateHeaders(o, auth, contentType) {
  const h = Object.assign({}, o.headers);
  if (auth) h.Authorization = auth;
  if (contentType) h["Content-Type"] = contentType;
  return h;
}

// request is fetch with network failures turned into RtgateErrors.
async function request(url, init, what) {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (init.signal && init.signal.aborted) {
      throw new RtgateError("The session was cancelled.", { code: "aborted", cause: init.signal.reason });
    }
    throw new RtgateError(what + ": the request did not get through (network error, or blocked by CORS or the page's Content-Security-Policy).", { code: "network_error", cause: err });
  }
}

// refusal turns a non-2xx response into an RtgateError: rtgate's JSON error
// body {"error":{"code","message","request_id"}} (or OpenAI's
// {"error":{"message","type","code"}}) when there is one, else the status.
async function refusal(resp, what, source) {
  let code = "http_" + resp.status;
  let message = "HTTP " + resp.status;
  let requestId = resp.headers.get("X-Request-ID") || "";
  let shaped = false;
  try {
    const body = await resp.json();
    const e = body && body.error;
    if (e && typeof e === "object") {
      shaped = true;
      code = String(e.code || e.type || code);
      if (e.message) message = String(e.message);
      if (e.request_id) requestId = String(e.request_id);
    }
  } catch (_) {
    // Not JSON: keep the status.
  }
  return new RtgateError(what + ": " + message, {
    code,
    status: resp.status,
    retryAfter: retryAfter(resp.headers.get("Retry-After")),
    requestId,
    source: shaped ? source : "browser",
  });
}

// retryAfter reads Retry-After (seconds or an HTTP date) as whole seconds.
function retryAfter(v) {
  if (!v) return null;
  if (/^\d+$/.test(v.trim())) return parseInt(v, 10);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

// idFrom returns the last path segment of a Location header if it is a
// plain id, else "".
function idFrom(location) {
  const seg = (location || "").split(/[?#]/)[0].split("/").pop();
  return ID_PATTERN.test(seg) ? seg : "";
}

// offerToRtgate posts the offer to rtgate (call and live modes) and returns
// the answer. The call's id comes from Location; anonymous callers also get
// the X-Call-Token that proves they may hang up.
async function offerToRtgate(s, offer) {
  const o = s.o;
  const path = OFFER_PATHS[o.mode];
  const auth = await authorization(o);
  const resp = await request(o.base + path, {
    method: "POST",
    body: offer,
    headers: rtgateHeaders(o, auth, "application/sdp"),
    credentials: o.credentials,
    signal: o.signal,
  }, "rtgate refused the call");
  if (!resp.ok) throw await refusal(resp, "rtgate refused the call", "rtgate");
  const id = idFrom(resp.headers.get("Location"));
  const token = resp.headers.get("X-Call-Token") || "";
  if (id) {
    // From here on the call exists at rtgate: a failure hangs it up.
    s.call = { id, url: o.base + path + "/" + id, token, auth };
  }
  const answer = await resp.text();
  if (!id) {
    throw new RtgateError("rtgate's answer has no readable Location header, so the call could not be hung up (a cross-origin page needs it in Access-Control-Expose-Headers).", { code: "invalid_response", status: resp.status, requestId: resp.headers.get("X-Request-ID") || "" });
  }
  return answer;
}

// offerWithToken mints an ephemeral secret at rtgate and posts the offer to
// the Realtime API with it. The secret stays in this function.
async function offerWithToken(s, offer) {
  const o = s.o;
  const auth = await authorization(o);
  const body = o.session ? JSON.stringify(o.session) : undefined;
  const mint = await request(o.base + MINT_PATH, {
    method: "POST",
    body,
    headers: rtgateHeaders(o, auth, body === undefined ? "" : "application/json"),
    credentials: o.credentials,
    signal: o.signal,
  }, "rtgate refused the token");
  if (!mint.ok) throw await refusal(mint, "rtgate refused the token", "rtgate");
  let secret = "";
  try {
    const m = await mint.json();
    secret = m && typeof m.value === "string" ? m.value : "";
  } catch (_) {
    // Checked below.
  }
  if (!secret) {
    throw new RtgateError("rtgate's token response has no client secret.", { code: "invalid_response", status: mint.status, requestId: mint.headers.get("X-Request-ID") || "" });
  }
  checkpoint(s);
  const resp = await request(o.realtimeURL + "/realtime/calls", {
    method: "POST",
    body: offer,
    headers: { Authorization: "Bearer " + secret, "Content-Type": "application/sdp" },
    credentials: "omit",
    signal: o.signal,
  }, "The Realtime API refused the call");
  if (!resp.ok) throw await refusal(resp, "The Realtime API refused the call", "openai");
  const id = idFrom(resp.headers.get("Location"));
  s.call = { id: id || null, url: null, token: "", auth: "" };
  return resp.text();
}

// status asks rtgate for the call's state (call and live modes): its id,
// kind, model, times and the usage rtgate metered on its sideband. Only the
// call's owner gets it; an ended call is a 404 (RtgateError "not_found").
async function status(s) {
  const c = s.call;
  if (!c || !c.url) {
    throw new RtgateError("rtgate knows no call for this connection (token mode, or not connected).", { code: "no_call" });
  }
  const auth = (await authorization(s.o)) || c.auth;
  const h = rtgateHeaders(s.o, auth, "");
  if (c.token) h["X-Call-Token"] = c.token;
  const resp = await request(c.url, { method: "GET", headers: h, credentials: s.o.credentials, cache: "no-store" }, "rtgate did not show the call");
  if (!resp.ok) throw await refusal(resp, "rtgate did not show the call", "rtgate");
  try {
    return await resp.json();
  } catch (err) {
    throw new RtgateError("rtgate's call status is not JSON.", { code: "invalid_response", status: resp.status, cause: err });
  }
}

function send(s, event) {
  if (!s.dc || s.dc.readyState !== "open") {
    throw new RtgateError("The data channel is not open.", { code: "not_open" });
  }
  s.dc.send(typeof event === "string" ? event : JSON.stringify(event));
}

// hangup closes everything the connection opened and, in call and live
// modes, asks rtgate to end the call with a keepalive request, which
// survives the page being closed. It is idempotent: closing again is
// harmless, and the request to rtgate is sent once, resolving when rtgate
// confirms (204) or no longer knows the call (404). Until a call exists
// nothing is remembered, so a call created after an early hang-up (the page
// hidden while connect() waits) is hung up by connect()'s own clean-up.
// onPageHide reuses the Authorization value the call was created with,
// since there is no time to wait for getAuthHeader while the page goes away.
function hangup(s, onPageHide) {
  s.closed = true;
  if (s.onPageHide) window.removeEventListener("pagehide", s.onPageHide);
  if (s.dc) s.dc.close();
  if (s.pc) s.pc.close();
  if (s.mic && s.ownMic) for (const t of s.mic.getTracks()) t.stop();
  if (s.audio) s.audio.srcObject = null;
  if (s.ended) return s.ended;
  const c = s.call;
  if (!c || !c.url) return Promise.resolve();
  const post = (auth) => request(c.url + "/hangup", {
    method: "POST",
    headers: rtgateHeaders(s.o, auth, "application/json"),
    body: JSON.stringify(c.token ? { call_token: c.token } : {}),
    credentials: s.o.credentials,
    keepalive: true,
  }, "rtgate did not end the call");
  const sent = onPageHide ? post(c.auth) : authorization(s.o).then((auth) => post(auth || c.auth));
  s.ended = sent.then(async (resp) => {
    // 404: rtgate no longer knows the call (it already ended it, for
    // example at its maximum duration); the call is over either way.
    if (!resp.ok && resp.status !== 404) throw await refusal(resp, "rtgate did not end the call", "rtgate");
  });
  return s.ended;
}
